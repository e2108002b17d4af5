/**
 * `--out` folders of commands: one that exists and is not empty is refused (naming the flag),
 * and the result appears whole or not at all (main/base's atomic folder, which also removes what
 * a killed run left).
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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

/**
 * Refuses an output file (`embed`, `eval`) the rename at the end would replace or fail on: an existing
 * directory, or a file that is not empty (as every command's --out). `path` is --out itself or,
 * for SAM 2.1, one of the files written beside it.
 */
export function checkOutFile(out: string, path = out): void {
  const what = path === out ? `--out ${out}` : `--out ${out}: ${path}`;
  if (!existsSync(path)) return;
  const stat = statSync(path);
  if (stat.isDirectory()) throw new CliError(`${what} is a directory`);
  if (stat.size > 0) throw new CliError(`${what} exists and is not empty`);
}

/** The folder an output file goes into must exist: checked before the work, not after it. */
export function checkOutFolder(out: string): void {
  const folder = dirname(resolve(out));
  if (!existsSync(folder)) throw new CliError(`--out ${out}: folder ${folder} does not exist`);
  if (!statSync(folder).isDirectory()) throw new CliError(`--out ${out}: ${folder} is not a folder`);
}
