/**
 * Reads of a project file by code that does not open it as a Project (the first-run setup's
 * image list, the quantizer's calibration boxes): read-only connections, so they work beside an
 * app that has the project open and never migrate or lock it.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type Database from 'better-sqlite3';
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

export interface CalibrationBox {
  /** [x0, y0, x1, y1] in original-image pixels */
  box: [number, number, number, number];
}

/**
 * Every annotation's box, by image file (absolute path), in annotation order. Image paths in the
 * project are relative to the project file's folder or absolute.
 */
export function calibrationPrompts(dbPath: string): Map<string, CalibrationBox[]> {
  if (!existsSync(dbPath)) throw new Error(`${dbPath}: project file not found`);
  let db: Database.Database;
  try {
    db = openDatabase(dbPath, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`${dbPath}: not a readable project (${(err as Error).message})`);
  }
  try {
    const rows = db.prepare('SELECT i.path AS path, a.bbox_x AS x, a.bbox_y AS y, a.bbox_w AS w, a.bbox_h AS h FROM annotations a JOIN images i ON i.id = a.image_id ORDER BY a.id').all() as { path: string; x: number; y: number; w: number; h: number }[];
    const out = new Map<string, CalibrationBox[]>();
    for (const r of rows) {
      const file = isAbsolute(r.path) ? r.path : resolve(dirname(dbPath), r.path);
      const list = out.get(file) ?? [];
      list.push({ box: [r.x, r.y, r.x + r.w, r.y + r.h] });
      out.set(file, list);
    }
    return out;
  } catch (err) {
    throw new Error(`${dbPath}: not a project with annotations (${(err as Error).message})`);
  } finally {
    db.close();
  }
}
