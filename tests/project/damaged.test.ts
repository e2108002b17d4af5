/**
 * A project file with a damaged page (a failing disk, a sync tool writing half a file): some
 * damage opens and reads fine, and writing into a damaged b-tree spreads it. The quick check at
 * open finds it: the project opens read-only, lists and exports what it holds, refuses edits
 * naming the damage, and the file is not written.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../main/base/sqlite.ts';
import { exporters } from '../../main/formats/index.ts';
import { createProject, exportDataset, openProject } from '../../main/project/index.ts';
import { tempDir, writeImage } from './helpers.ts';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

/** Overwrites the first page of an index with garbage, as a bad sector would. */
function damageIndex(dbPath: string, index: string): void {
  const db = openDatabase(dbPath, { readonly: true });
  const page = db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').pluck().get(index) as number;
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.close();
  const bytes = readFileSync(dbPath);
  for (let i = 0; i < pageSize; i++) bytes[(page - 1) * pageSize + i] = (i * 131 + 7) & 0xff;
  writeFileSync(dbPath, bytes);
}

describe('a damaged project file', () => {
  it('opens read-only naming the damage: it lists and exports, refuses edits, and is not written', async () => {
    const path = join(dir, 'p.db');
    const project = createProject(path);
    await project.addImages([await writeImage(join(dir, 'a.png'), 12, 10), await writeImage(join(dir, 'b.png'), 12, 10)]);
    project.addLabel({ name: 'cat' });
    project.close();
    damageIndex(path, 'sqlite_autoindex_images_1');
    const before = readFileSync(path);

    const opened = openProject(path);
    try {
      expect(opened.readOnly).toBe(true);
      expect(opened.damage).toMatch(/sqlite_autoindex_images_1/);
      expect(opened.listLabels().map((l) => l.name)).toEqual(['cat']);
      const report = await exportDataset(opened, exporters.coco, { outDir: join(dir, 'out') });
      expect(report.images).toBe(2);
      expect(() => opened.addLabel({ name: 'dog' })).toThrow(new RegExp(`^project file is damaged: ${path} \\(.*sqlite_autoindex_images_1.*\\); it was opened read-only so that nothing makes it worse`));
    } finally {
      opened.close();
    }
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('opens an undamaged project writable with no damage named', () => {
    const path = join(dir, 'fine.db');
    createProject(path).close();
    const opened = openProject(path);
    expect([opened.readOnly, opened.damage]).toEqual([false, null]);
    opened.close();
  });
});
