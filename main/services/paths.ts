/**
 * "File access only to paths the user chose": paths enter through dialogs (or the app's own
 * folders and recent projects); every handler taking a path checks it here first.
 */
import { resolve, sep } from 'node:path';

export class AllowedPaths {
  #files = new Set<string>();
  #folders = new Set<string>();

  allowFile(path: string): void { this.#files.add(resolve(path)); }
  allowFolder(path: string): void { this.#folders.add(resolve(path)); }

  isAllowed(path: string): boolean {
    const abs = resolve(path);
    if (this.#files.has(abs)) return true;
    for (const f of this.#folders) if (abs === f || abs.startsWith(f + sep)) return true;
    return false;
  }

  check(where: string, path: string): string {
    if (!this.isAllowed(path)) throw new Error(`${where}: ${path} was not chosen by the user`);
    return resolve(path);
  }
}
