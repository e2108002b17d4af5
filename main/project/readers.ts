/**
 * Reads of a project file by code that does not open it as a Project (the first-run setup):
 * read-only connections, so they work beside an app that has the project open and never
 * migrate or lock it.
 */
import { dirname, resolve } from 'node:path';
import { openDatabase } from '../base/sqlite.ts';

/** The absolute paths of a project's images, in the order they were added. */
export function projectImagePaths(dbPath: string): string[] {
  const db = openDatabase(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT path FROM images ORDER BY id').all() as { path: string }[]).map((r) => resolve(dirname(dbPath), r.path));
  } catch (err) {
    throw new Error(`${dbPath}: cannot list the project's images (${(err as Error).message})`);
  } finally {
    db.close();
  }
}
