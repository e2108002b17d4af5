import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Bytes of the files directly inside `dir` (model folders are flat), or of the named `files`
 * only, where those that do not exist (an absent external-data file) count 0.
 */
export function dirBytes(dir: string, files?: readonly string[]): number {
  let total = 0;
  for (const f of files ?? readdirSync(dir)) {
    try {
      total += statSync(join(dir, f)).size;
    } catch {
      // a named file that is absent counts nothing
    }
  }
  return total;
}
