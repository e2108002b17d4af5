/**
 * Output directories for commands: an `--out` that exists and is not empty is refused, work
 * happens in a hidden sibling temporary directory, and only a finished result is renamed into
 * place, so a failure leaves nothing behind, and what a killed run left is removed by the next.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { removeStaleTemporaries, temporaryPrefix } from '../base/stale-temporaries.ts';
import { CliError } from './args.ts';

export function checkOutDir(out: string): string {
  const abs = resolve(out);
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new CliError(`--out ${out} exists and is not a directory`);
    if (readdirSync(abs).length > 0) throw new CliError(`--out ${out} exists and is not empty`);
  }
  return abs;
}

/** Runs `work` on a temporary directory that becomes `out` only if it succeeds. */
export async function withAtomicOutDir<T>(out: string, work: (tmpDir: string) => Promise<T>): Promise<T> {
  const abs = checkOutDir(out);
  mkdirSync(dirname(abs), { recursive: true });
  const prefix = `.${basename(abs)}.tmp-`;
  removeStaleTemporaries(dirname(abs), prefix);
  const tmp = join(dirname(abs), `${temporaryPrefix(prefix)}${Date.now()}`);
  mkdirSync(tmp, { recursive: true });
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  // A listener replaces Node's default exit on Ctrl-C, so it must exit itself (130 = 128 + SIGINT).
  const interrupted = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    const result = await work(tmp);
    if (existsSync(abs)) rmdirSync(abs); // empty, checked above
    renameSync(tmp, abs);
    return result;
  } catch (err) {
    cleanup();
    throw err;
  } finally {
    process.removeListener('SIGINT', interrupted);
  }
}
