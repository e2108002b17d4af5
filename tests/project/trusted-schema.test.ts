/** Project files come from other people: their schema may not call what a trigger should not. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProject, openProject } from '../../main/project/index.ts';
import { tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

describe('a project file with a hostile trigger', () => {
  it('is opened with trusted_schema off: the trigger cannot use a table-valued pragma, and the edit is refused', () => {
    const db = join(dir, 'p.db');
    createProject(db).close();
    const raw = new Database(db);
    raw.exec(`CREATE TABLE spy(x);
      CREATE TRIGGER spy_on_labels AFTER INSERT ON labels BEGIN INSERT INTO spy SELECT name FROM pragma_table_info('images'); END;`);
    raw.close();
    const project = openProject(db);
    try {
      expect(() => project.addLabel({ name: 'cat' })).toThrow(/unsafe use of virtual table "pragma_table_info"/);
      expect(project.listLabels()).toEqual([]);
    } finally {
      project.close();
    }
    const check = new Database(db, { readonly: true });
    expect(check.prepare('SELECT count(*) AS n FROM spy').get()).toEqual({ n: 0 });
    check.close();
  });
});
