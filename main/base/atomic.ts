/**
 * Results that appear whole or not at all: work happens in a hidden temporary sibling, which is
 * renamed into place only when it is complete, so a failure or Ctrl-C leaves nothing behind and
 * a reader never sees half a model folder or half a JSON file; what a killed run left is removed
 * by the next run into the same place.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { removeStaleTemporaries, temporaryPrefix } from './stale-temporaries.ts';

/** An output path that is a file, or a folder that is not empty: refused, never overwritten. */
export class OutputExistsError extends Error {}

/**
 * Refuses a path whose nearest existing ancestor is a file: creating it would fail with a bare
 * EEXIST or ENOTDIR naming only that ancestor.
 */
export function checkFolderAbove(path: string, shown: string = path): void {
  for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
    if (existsSync(dir)) {
      if (!statSync(dir).isDirectory()) throw new OutputExistsError(`${shown}: ${dir} is a file, not a folder`);
      return;
    }
    if (dirname(dir) === dir) return;
  }
}

/** `out` resolved, after checking it is absent or an empty folder (and can be made). */
export function checkEmptyOutputDir(out: string): string {
  const abs = resolve(out);
  checkFolderAbove(abs, out);
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new OutputExistsError(`${out} exists and is not a directory`);
    if (readdirSync(abs).length > 0) throw new OutputExistsError(`${out} exists and is not empty`);
  }
  return abs;
}

/**
 * The hidden sibling a result is built in (leading dot: folder listings and model lists skip it),
 * named `.<name>.tmp-<pid>-<time>` so a later run can tell a killed run's leftovers
 * (stale-temporaries.ts).
 */
function temporarySibling(abs: string): string {
  return join(dirname(abs), `${temporaryPrefix(`.${basename(abs)}.tmp-`)}${Date.now()}`);
}

/**
 * Runs `work` on a temporary folder that becomes `out` only if it succeeds. `out` must be absent
 * or an empty folder unless `replace` is set (then a finished result replaces it). On Ctrl-C
 * or SIGTERM the temporary folder is removed and the process exits 130 / 143 (a listener
 * replaces Node's default exit, so it must exit itself).
 */
export async function withAtomicDir<T>(out: string, work: (tmpDir: string) => Promise<T>, options: { replace?: boolean } = {}): Promise<T> {
  const abs = options.replace ? resolve(out) : checkEmptyOutputDir(out);
  mkdirSync(dirname(abs), { recursive: true });
  removeStaleTemporaries(dirname(abs), `.${basename(abs)}.tmp-`);
  const tmp = temporarySibling(abs);
  mkdirSync(tmp, { recursive: true });
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  const interrupted = (signal: NodeJS.Signals) => {
    cleanup();
    process.exit(signal === 'SIGTERM' ? 143 : 130);
  };
  // SIGTERM too: `npm run` passes a Ctrl-C on to its child as SIGTERM, and so do `timeout` and kill
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const result = await work(tmp);
    moveDir(tmp, abs, { replace: options.replace ?? false });
    return result;
  } catch (err) {
    cleanup();
    throw err;
  } finally {
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  }
}

/**
 * Moves a folder into place: a rename, or a copy then a rename when it crosses file systems
 * (EXDEV). `to` must be absent or an empty folder, unless `replace` removes it first.
 */
export function moveDir(from: string, to: string, options: { replace?: boolean } = {}): void {
  mkdirSync(dirname(to), { recursive: true });
  if (existsSync(to)) {
    if (options.replace) rmSync(to, { recursive: true, force: true });
    else rmdirSync(to); // fails unless empty: never merges into an existing result
  }
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    const tmp = temporarySibling(to);
    try {
      cpSync(from, tmp, { recursive: true });
      renameSync(tmp, to);
    } catch (copyErr) {
      rmSync(tmp, { recursive: true, force: true });
      throw copyErr;
    }
    rmSync(from, { recursive: true, force: true });
  }
}

/** Writes a file through a temporary sibling and a rename, so readers see the old or the new content. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
