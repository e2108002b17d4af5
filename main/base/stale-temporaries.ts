/**
 * Temporary folders whose owner was killed. Work happens in hidden folders named
 * `<prefix><pid>-...` that are renamed into place at the end; a process killed mid-way (SIGKILL,
 * power loss) leaves them behind, gigabytes each with real models. The next run removes those
 * whose process is gone, never one a live process (another instance) is still writing.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The name of a new temporary in this process: `<prefix><pid>-`, to be completed by the caller. */
export function temporaryPrefix(prefix: string): string {
  return `${prefix}${process.pid}-`;
}

/** Removes the entries of `dir` named `<prefix><pid>-...` whose process no longer runs; returns their names. */
export function removeStaleTemporaries(dir: string, prefix: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || isAlive(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
