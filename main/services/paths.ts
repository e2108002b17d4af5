/**
 * "File access only to paths the user chose": paths enter through dialogs (or the app's own
 * folders and recent projects); every handler taking a path checks it here first. Paths are
 * compared as real paths, so a symlink inside a chosen folder cannot lead outside it.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';

/** The real path of `path`: its longest existing prefix resolved through symlinks, then the rest (a file about to be created). */
function realPath(path: string): string {
  const rest: string[] = [];
  let existing = resolve(path);
  for (;;) {
    try {
      return join(realpathSync(existing), ...rest);
    } catch {
      const parent = dirname(existing);
      if (parent === existing) return resolve(path);
      rest.unshift(basename(existing));
      existing = parent;
    }
  }
}

export class AllowedPaths {
  #files = new Set<string>();
  #folders = new Set<string>();

  allowFile(path: string): void { this.#files.add(realPath(path)); }
  allowFolder(path: string): void { this.#folders.add(realPath(path)); }

  isAllowed(path: string): boolean {
    const real = realPath(path);
    if (this.#files.has(real)) return true;
    for (const f of this.#folders) if (real === f || real.startsWith(f.endsWith(sep) ? f : f + sep)) return true;
    return false;
  }

  check(where: string, path: string): string {
    if (!this.isAllowed(path)) throw new Error(`${where}: ${path} was not chosen by the user`);
    return resolve(path);
  }
}
