/**
 * main/base/sqlite.ts: the one way the app opens a SQLite file, in either runtime.
 * better-sqlite3 is a V8 addon (not N-API): the binary `npm install` compiles for Node cannot
 * load in Electron's main process or in a job process Electron forks (both report
 * process.versions.electron), and the reverse. So node_modules keeps the Node build (tests, the
 * command line) and `scripts/electron-native.mjs` builds a second copy for the installed Electron
 * into `native/electron-<version>/`, which is passed as better-sqlite3's `nativeBinding` when we
 * run under Electron. The folder is named by version: after an Electron upgrade a stale binary is
 * never loaded; the error says how to build the right one.
 */
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import Database from 'better-sqlite3';

/** The folder holding package.json above `from` (the repository, or app.asar when packaged). */
function appRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/**
 * The binary to load when `versions` says Electron, or undefined under Node (better-sqlite3's
 * own build). Native files cannot be loaded from inside an asar archive: a packaged app ships
 * them unpacked beside it (electron-builder.yml, asarUnpack).
 */
export function sqliteBinding(versions: Record<string, string | undefined> = process.versions, from: string = import.meta.dirname): string | undefined {
  const electron = versions.electron;
  if (!electron) return undefined;
  const root = appRoot(from).replace(`${sep}app.asar`, `${sep}app.asar.unpacked`);
  const file = join(root, 'native', `electron-${electron}`, 'better_sqlite3.node');
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: better-sqlite3 has not been built for Electron ${electron}. Run "npm run native:electron" (it needs the Electron binary and the internet).`);
  }
  return file;
}

/**
 * `new Database(path, options)` with the binary of the runtime we are in. Every file the app
 * opens is a project, and projects come from other people: a schema's triggers and views must
 * not call functions with side effects (SQLite's trusted_schema), whatever the file says.
 */
export function openDatabase(path: string, options: Database.Options = {}): Database.Database {
  const nativeBinding = sqliteBinding();
  const db = new Database(path, nativeBinding ? { ...options, nativeBinding } : options);
  db.pragma('trusted_schema = OFF');
  return db;
}
