import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * sha256 of a file's bytes, hex: how the store names an image's content (found again after a
 * move, known again after a broken read) and how calibration images are recognised.
 */
export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
