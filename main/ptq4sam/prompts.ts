/**
 * Prompts for calibration and evaluation, in original-image pixels, shaped like the prompts file
 * of `eval --prompts` and the fixture manifest: `{ points, labels }` or `{ box }` (or both).
 * Without a project the set is automatic and deterministic: three single clicks and one box
 * per image, placed by fractions of the image size.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { openDatabase } from '../base/sqlite.ts';
import type { SegmentPrompt } from '../sam/engine-api.ts';

export interface Prompt {
  points?: [number, number][];
  labels?: number[];
  box?: [number, number, number, number];
}

const AUTO_CLICKS: [number, number][] = [[0.5, 0.5], [0.3, 0.35], [0.7, 0.65]];
const AUTO_BOX: [number, number, number, number] = [0.2, 0.2, 0.8, 0.75];

export function automaticPrompts(width: number, height: number): Prompt[] {
  const clicks: Prompt[] = AUTO_CLICKS.map(([fx, fy]) => ({ points: [[fx * width, fy * height]], labels: [1] }));
  const box: Prompt = { box: [AUTO_BOX[0] * width, AUTO_BOX[1] * height, AUTO_BOX[2] * width, AUTO_BOX[3] * height] };
  return [...clicks, box];
}

/** The engine's prompt type from the file format (labels default to positive). */
export function toSegmentPrompt(p: Prompt): SegmentPrompt {
  const points = (p.points ?? []).map(([x, y], i) => ({ x, y, label: (p.labels?.[i] ?? 1) === 0 ? 0 as const : 1 as const }));
  return p.box ? { points, box: p.box } : { points };
}

/**
 * Boxes already drawn in a project, per image file (absolute path), from its `annotations`
 * table. Image paths in the project are relative to the project file's folder or absolute.
 */
export function projectBoxes(dbPath: string): Map<string, Prompt[]> {
  if (!existsSync(dbPath)) throw new Error(`${dbPath}: project file not found`);
  let db: Database.Database;
  try {
    db = openDatabase(dbPath, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`${dbPath}: not a readable project (${(err as Error).message})`);
  }
  try {
    const rows = db.prepare('SELECT i.path AS path, a.bbox_x AS x, a.bbox_y AS y, a.bbox_w AS w, a.bbox_h AS h FROM annotations a JOIN images i ON i.id = a.image_id ORDER BY a.id').all() as { path: string; x: number; y: number; w: number; h: number }[];
    const out = new Map<string, Prompt[]>();
    for (const r of rows) {
      const file = isAbsolute(r.path) ? r.path : resolve(dirname(dbPath), r.path);
      const list = out.get(file) ?? [];
      list.push({ box: [r.x, r.y, r.x + r.w, r.y + r.h] });
      out.set(file, list);
    }
    return out;
  } catch (err) {
    throw new Error(`${dbPath}: not a project with annotations (${(err as Error).message})`);
  } finally {
    db.close();
  }
}

/** A project's boxes for one calibration image: same absolute path, else same file name. */
export function boxesFor(boxes: Map<string, Prompt[]>, imagePath: string): Prompt[] {
  const exact = boxes.get(resolve(imagePath));
  if (exact) return exact;
  for (const [file, list] of boxes) if (basename(file) === basename(imagePath)) return list;
  return [];
}
