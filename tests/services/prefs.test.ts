/** prefs.json of the wrong shape falls back field by field instead of stopping the app. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PrefsFile } from '../../main/services/prefs.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PrefsFile', () => {
  it('keeps the valid fields of a file whose other fields have the wrong shape', () => {
    writeFileSync(join(dir, 'prefs.json'), JSON.stringify({ recentProjects: null, activeModelId: 'sam-b', setup: { done: 'all', skipped: true }, ui: { zoom: 2, bad: { x: 1 } }, catalog: 7 }));
    const prefs = new PrefsFile(dir);
    expect(prefs.get()).toEqual({ recentProjects: [], activeModelId: 'sam-b', setup: { done: [], choice: null, modelId: null, skipped: true }, catalog: null, ui: { zoom: 2 } });
    // the app's first change (opening a project) works and writes a well-formed file
    prefs.update((p) => { p.recentProjects = ['/p.db', ...p.recentProjects]; });
    expect(JSON.parse(readFileSync(join(dir, 'prefs.json'), 'utf8')).recentProjects).toEqual(['/p.db']);
  });

  it.each(['null', '[1, 2]', '"text"', '{"setup": null, "ui": []}'])('starts from the defaults on %s', (text) => {
    writeFileSync(join(dir, 'prefs.json'), text);
    expect(new PrefsFile(dir).get().recentProjects).toEqual([]);
    expect(new PrefsFile(dir).get().setup.done).toEqual([]);
  });
});
