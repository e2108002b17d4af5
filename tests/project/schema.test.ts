import { statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProject, openProject, SCHEMA_VERSION } from '../../main/project/index.ts';
import { rectRle, tempDir, writeImage } from './helpers.ts';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

describe('project schema', () => {
  it('creating a project applies every migration and marks the file as ours', () => {
    const db = join(dir, 'p.db');
    createProject(db).close();
    const raw = new Database(db, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(raw.pragma('application_id', { simple: true })).toBe(0x50513453);
    const tables = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all().map((r: any) => r.name);
    expect(tables).toEqual(['annotations', 'edit_log', 'edit_states', 'embedding_cache', 'images', 'labels', 'settings']);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('reopening a project keeps its data and its schema version', async () => {
    const db = join(dir, 'p.db');
    const p = createProject(db);
    await writeImage(join(dir, 'a.png'), 8, 6);
    await p.addImages([join(dir, 'a.png')]);
    const label = p.addLabel({ name: 'cat' });
    p.addAnnotation({ imageId: 1, labelId: label.id, rle: rectRle(8, 6, [1, 1, 2, 2]) });
    p.close();
    for (let i = 0; i < 2; i++) {
      const again = openProject(db);
      expect(again.stats()).toMatchObject({ images: 1, labels: 1, annotations: 1, schemaVersion: SCHEMA_VERSION });
      again.close();
    }
  });

  it('creating a project over an existing file is refused', () => {
    const db = join(dir, 'p.db');
    createProject(db).close();
    expect(() => createProject(db)).toThrow(/cannot create project .*p\.db: the file already exists/);
  });

  it('opening a file that is not a database names the file and the problem', () => {
    const file = join(dir, 'random.db');
    writeFileSync(file, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
    expect(() => openProject(file)).toThrow(`not a PTQ4SAM Studio project: ${file} (the file is not a SQLite database)`);
  });

  it('opening another program\'s SQLite database is refused and leaves it untouched', () => {
    const file = join(dir, 'other.db');
    const other = new Database(file);
    other.exec('CREATE TABLE t (x)');
    other.close();
    expect(() => openProject(file)).toThrow(/not a PTQ4SAM Studio project: .*other\.db \(a SQLite database of another program/);
    const raw = new Database(file, { readonly: true });
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([{ name: 't' }]);
    raw.close();
  });

  it('opening a project written by a newer schema is refused', () => {
    const db = join(dir, 'p.db');
    createProject(db).close();
    const raw = new Database(db);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => openProject(db)).toThrow(/written by a newer version of the app/);
  });

  it('a truncated project file is reported as damaged, naming it', () => {
    const db = join(dir, 'p.db');
    const p = createProject(db);
    p.setSetting('notes', 'x'.repeat(200_000));
    p.close();
    truncateSync(db, Math.floor(statSync(db).size / 2));
    const read = () => {
      const damaged = openProject(db);
      try {
        damaged.getSetting('notes');
      } finally {
        damaged.close();
      }
    };
    expect(read).toThrow(`project file is damaged: ${db} (SQLITE_CORRUPT)`);
  });

  it('opening a missing project file says it was not found', () => {
    expect(() => openProject(join(dir, 'nope.db'))).toThrow(`project file not found: ${join(dir, 'nope.db')}`);
  });

  it('foreign keys reject an annotation of a missing image and cascade image deletion', async () => {
    const db = join(dir, 'p.db');
    const p = createProject(db);
    await writeImage(join(dir, 'a.png'), 8, 6);
    await p.addImages([join(dir, 'a.png')]);
    const label = p.addLabel({ name: 'cat' });
    p.addAnnotation({ imageId: 1, labelId: label.id, rle: rectRle(8, 6, [1, 1, 2, 2]) });
    p.close();
    const raw = new Database(db);
    raw.pragma('foreign_keys = ON');
    const insert = () => raw.prepare(`INSERT INTO annotations (image_id, label_id, rle_counts, rle_h, rle_w, bbox_x, bbox_y, bbox_w, bbox_h,
      area, created_at, updated_at) VALUES (99, 1, '0', 1, 1, 0, 0, 0, 0, 0, 0, 0)`).run();
    expect(insert).toThrow(/FOREIGN KEY constraint failed/);
    expect(() => raw.prepare('DELETE FROM labels').run()).toThrow(/FOREIGN KEY constraint failed/);
    raw.prepare('DELETE FROM images WHERE id = 1').run();
    expect(raw.prepare('SELECT count(*) AS n FROM annotations').get()).toEqual({ n: 0 });
    expect(raw.prepare('SELECT count(*) AS n FROM edit_log WHERE image_id IS NOT NULL').get()).toEqual({ n: 0 });
    raw.close();
  });

  it('an annotation for an unknown label is refused with a clear message', async () => {
    const p = createProject(join(dir, 'p.db'));
    await writeImage(join(dir, 'a.png'), 8, 6);
    await p.addImages([join(dir, 'a.png')]);
    expect(() => p.addAnnotation({ imageId: 1, labelId: 42, rle: rectRle(8, 6, [0, 0, 1, 1]) })).toThrow('new annotation: no label with id 42');
    expect(p.stats().annotations).toBe(0);
    p.close();
  });

  it('settings store JSON values and delete with undefined', () => {
    const p = createProject(join(dir, 'p.db'));
    p.setSetting('ui.zoom', { level: 2, fit: true });
    expect(p.getSetting('ui.zoom')).toEqual({ level: 2, fit: true });
    p.setSetting('ui.zoom', undefined);
    expect(p.getSetting('ui.zoom')).toBeUndefined();
    p.close();
  });
});
