/**
 * What the quantizer takes from a project: the boxes already drawn, per image file, as
 * calibration prompts. Read-only; the project file is not migrated or changed.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { openDatabase } from '../base/sqlite.ts';

export interface CalibrationBox {
  /** [x0, y0, x1, y1] in original-image pixels */
  box: [number, number, number, number];
}

/**
 * Every annotation's box, by image file (absolute path), in annotation order. Image paths in the
 * project are relative to the project file's folder or absolute.
 */
export function calibrationPrompts(dbPath: string): Map<string, CalibrationBox[]> {
  if (!existsSync(dbPath)) throw new Error(`${dbPath}: project file not found`);
  let db: Database.Database;
  try {
    db = openDatabase(dbPath, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`${dbPath}: not a readable project (${(err as Error).message})`);
  }
  try {
    const rows = db.prepare('SELECT i.path AS path, a.bbox_x AS x, a.bbox_y AS y, a.bbox_w AS w, a.bbox_h AS h FROM annotations a JOIN images i ON i.id = a.image_id ORDER BY a.id').all() as { path: string; x: number; y: number; w: number; h: number }[];
    const out = new Map<string, CalibrationBox[]>();
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
