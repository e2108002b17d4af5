// Small in-memory datasets for the format tests, and temporary output folders.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { type BinaryMask, rleFromMask } from '../../main/masks/index.ts';
import type { DatasetAnnotation, DatasetImage, DatasetLabel } from '../../main/formats/index.ts';
import { maskFromArt, maskOf } from '../masks/helpers.ts';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A new empty folder, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'formats-'));
  made.push(dir);
  return dir;
}

export const labels: DatasetLabel[] = [
  { id: 10, name: 'cat', color: '#ff0000' },
  { id: 20, name: 'dog', color: '#00ff00' },
  { id: 30, name: 'traffic light', color: '#0000ff' },
];

export function annotation(id: number, labelId: number, mask: BinaryMask): DatasetAnnotation {
  return { id, labelId, rle: rleFromMask(mask), score: null };
}

export function image(id: number, path: string, width: number, height: number, annotations: DatasetAnnotation[]): DatasetImage {
  return { id, path, absPath: join('/data/project', path), width, height, annotations };
}

/** A disc: one part, no holes. */
export function disc(width: number, height: number, cx: number, cy: number, r: number): BinaryMask {
  return maskOf(width, height, (x, y) => (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r);
}

/** A square ring (one hole), 12x10. */
export const ringMask = maskFromArt(`
  ............
  .#########..
  .#########..
  .##.....##..
  .##.....##..
  .##.....##..
  .#########..
  .#########..
  ............
  ............`);

/** Two separate parts, 12x10. */
export const twoPartsMask = maskFromArt(`
  ............
  .###........
  .###........
  .###........
  ........###.
  ........###.
  ........###.
  ........###.
  ............
  ............`);

/** A solid L shape, 12x10. */
export const lShapeMask = maskFromArt(`
  ............
  ..##........
  ..##........
  ..##........
  ..#######...
  ..#######...
  ............
  ............
  ............
  ............`);
