/**
 * Prompts for calibration and evaluation, in original-image pixels, shaped like the prompts file
 * of `eval --prompts` and the fixture manifest: `{ points, labels }` or `{ box }` (or both).
 * Without a project the set is automatic and deterministic: three single clicks and one box
 * per image, placed by fractions of the image size; with one, the boxes already drawn there
 * (main/project's calibrationPrompts).
 */
import { basename, resolve } from 'node:path';
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

/** A project's boxes for one calibration image: same absolute path, else same file name. */
export function boxesFor(boxes: Map<string, Prompt[]>, imagePath: string): Prompt[] {
  const exact = boxes.get(resolve(imagePath));
  if (exact) return exact;
  for (const [file, list] of boxes) if (basename(file) === basename(imagePath)) return list;
  return [];
}
