/**
 * `--out` folders of commands: one that exists and is not empty is refused (naming the flag),
 * and the result appears whole or not at all (main/base's atomic folder, which also removes what
 * a killed run left).
 */
import { checkEmptyOutputDir, OutputExistsError, withAtomicDir } from '../base/index.ts';
import { CliError } from './args.ts';

export function checkOutDir(out: string): string {
  try {
    return checkEmptyOutputDir(out);
  } catch (err) {
    if (err instanceof OutputExistsError) throw new CliError(`--out ${err.message}`);
    throw err;
  }
}

/** Runs `work` on a temporary folder that becomes `out` only if it succeeds. */
export async function withAtomicOutDir<T>(out: string, work: (tmpDir: string) => Promise<T>): Promise<T> {
  checkOutDir(out);
  return withAtomicDir(out, work);
}
