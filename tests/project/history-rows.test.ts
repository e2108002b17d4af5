/**
 * The edit log keeps a step's row states as rows of their own: a step of many masks never
 * becomes one string, undo and redo read it a page at a time, and projects whose steps were
 * written as JSON arrays (schema 2) upgrade with their history intact.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rleStringFromCounts } from '../../main/masks/index.ts';
import { createProject, openProject, SCHEMA_VERSION } from '../../main/project/index.ts';
import { migrations } from '../../main/project/schema.ts';
import { rectRle, tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

/** A schema-2 project as the app wrote it: two JSON arrays per step, the last step undone. */
function schema2Project(file: string): { counts: string[] } {
  const raw = new Database(file);
  raw.pragma('journal_mode = WAL');
  for (const [i, m] of migrations.slice(0, 2).entries()) raw.transaction(() => { m(raw); raw.pragma(`user_version = ${i + 1}`); })();
  raw.exec(`INSERT INTO images (path, added_at, position, width, height) VALUES ('a.png', 1, 1, 8, 6);
    INSERT INTO labels (name, color, sort_order) VALUES ('cat', '#112233', 1)`);
  const counts = [rectRle(8, 6, [1, 1, 2, 2]).counts, rectRle(8, 6, [3, 2, 4, 3]).counts];
  const row = (c: string, area: number) => ({
    image_id: 1, label_id: 1, rle_counts: c, rle_h: 6, rle_w: 8, bbox_x: 1, bbox_y: 1, bbox_w: 2, bbox_h: 2, area,
    prompts: null, model_id: null, score: null, hidden: 0, created_at: 5, updated_at: 5,
  });
  const labelRow = { name: 'cat', color: '#112233', hotkey: null, sort_order: 1 };
  const log = raw.prepare('INSERT INTO edit_log (image_id, kind, forward, backward, undone, created_at) VALUES (?, ?, ?, ?, ?, 5)');
  log.run(null, 'label.add', JSON.stringify([{ table: 'labels', id: 1, row: labelRow }]), JSON.stringify([{ table: 'labels', id: 1, row: null }]), 0);
  raw.prepare(`INSERT INTO annotations (image_id, label_id, rle_counts, rle_h, rle_w, bbox_x, bbox_y, bbox_w, bbox_h, area, created_at, updated_at)
    VALUES (1, 1, ?, 6, 8, 1, 1, 2, 2, 4, 5, 5)`).run(counts[0]);
  log.run(1, 'annotation.add', JSON.stringify([{ table: 'annotations', id: 1, row: row(counts[0]!, 4) }]), JSON.stringify([{ table: 'annotations', id: 1, row: null }]), 0);
  // made and undone: redo must bring it back
  raw.prepare("INSERT INTO sqlite_sequence (name, seq) SELECT 'annotations', 2 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'annotations')").run();
  raw.prepare("UPDATE sqlite_sequence SET seq = 2 WHERE name = 'annotations'").run();
  log.run(1, 'annotation.add', JSON.stringify([{ table: 'annotations', id: 2, row: row(counts[1]!, 12) }]), JSON.stringify([{ table: 'annotations', id: 2, row: null }]), 1);
  raw.close();
  return { counts };
}

describe('the edit log in rows', () => {
  it('a schema-2 project keeps its history: redo and undo go on where they were', () => {
    const file = join(dir, 'old.db');
    const { counts } = schema2Project(file);
    const p = openProject(file);
    expect(p.stats()).toMatchObject({ schemaVersion: SCHEMA_VERSION, annotations: 1, historyEntries: 3 });
    expect(p.historyState()).toMatchObject({ undo: { kind: 'annotation.add', imageId: 1 }, redo: { kind: 'annotation.add', imageId: 1 } });
    expect(p.redo()).toMatchObject({ kind: 'annotation.add', annotationIds: [2] });
    expect(p.getAnnotation(2)).toMatchObject({ area: 12, rle: { size: [6, 8], counts: counts[1] } });
    expect(p.undo()).toMatchObject({ annotationIds: [2] });
    expect(p.undo()).toMatchObject({ annotationIds: [1] });
    expect(p.undo()).toMatchObject({ kind: 'label.add', labelIds: [1] });
    expect(p.stats()).toMatchObject({ annotations: 0, labels: 0 });
    expect(p.undo()).toBeNull();
    for (let i = 0; i < 3; i++) p.redo();
    expect(p.getAnnotation(1).rle).toEqual({ size: [6, 8], counts: counts[0] });
    expect(p.getAnnotation(2).rle).toEqual({ size: [6, 8], counts: counts[1] });
    p.close();
    const raw = new Database(file, { readonly: true });
    const columns = raw.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('edit_log');
    expect(columns).toEqual(['id', 'image_id', 'kind', 'undone', 'created_at']);
    raw.close();
  });

  it.skipIf(spawnSync('unshare', ['--map-root-user', '--mount', 'true']).status !== 0)('a schema-2 project on a read-only medium opens, upgraded in its private copy, and stays as it was', () => {
    const file = join(dir, 'old.db');
    schema2Project(file);
    const medium = join(dir, 'medium');
    mkdirSync(medium);
    const repo = join(import.meta.dirname, '../..');
    const script = `
      set -e
      mount -t tmpfs none "${medium}"
      cp "${file}" "${medium}/p.db"
      sha256sum "${medium}/p.db" | cut -d' ' -f1
      mount -o remount,ro "${medium}"
      "${process.execPath}" --import tsx "${join(repo, 'main/cli/index.ts')}" project stats "${medium}/p.db"
      sha256sum "${medium}/p.db" | cut -d' ' -f1
      ls -a "${medium}" | tr '\\n' ' '
    `;
    const r = spawnSync('unshare', ['--map-root-user', '--mount', 'bash', '-c', script], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const [before, ...rest] = r.stdout.split('\n');
    const files = rest.pop();
    const after = rest.pop();
    expect(JSON.parse(rest.join('\n'))).toMatchObject({ annotations: 1, labels: 1, historyEntries: 3, schemaVersion: SCHEMA_VERSION });
    expect(after).toBe(before);
    expect(files!.trim()).toBe('. .. p.db');
  });

  it('an import of 12,000 masks is one step of 24,002 state rows; undo and redo bring every mask back exactly', () => {
    const file = join(dir, 'big.db');
    const p = createProject(file);
    const n = 12_000;
    const images = Array.from({ length: 30 }, (_, i) => ({ file: join(dir, `img${i}.png`), sha256: null, width: 640, height: 480, exifOrientation: 1, error: null }));
    // distinct masks: a run pattern that differs per annotation
    const counts = Array.from({ length: n }, (_, i) => rleStringFromCounts([1000 + (i % 5000), 30 + (i % 97), 200, 40, 640 * 480 - 1270 - (i % 5000) - (i % 97)]));
    const result = p.importAnnotations({
      images,
      labels: [{ name: 'thing' }],
      annotations: counts.map((c, i) => ({ imagePath: images[i % 30]!.file, labelName: 'thing', rle: { size: [480, 640], counts: c } })),
    });
    expect(result.annotationIds).toHaveLength(n);
    const before = p.listAnnotations(result.addedImages[7]!).map((a) => a.id);
    const rowOf = (db: Database.Database, id: number) => db.prepare('SELECT * FROM annotations WHERE id = ?').get(id);
    expect(before).toHaveLength(n / 30);
    p.close();
    let raw = new Database(file, { readonly: true });
    expect(raw.prepare("SELECT count(*) FROM edit_states s JOIN edit_log e ON e.id = s.entry_id WHERE e.kind = 'import'").pluck().get()).toBe(2 * (n + 1));
    const sample = [0, 4_999, n - 1].map((i) => rowOf(raw, result.annotationIds[i]!));
    raw.close();

    let again = openProject(file);
    const undone = again.undo()!;
    expect(undone.kind).toBe('import');
    expect(undone.annotationIds).toHaveLength(n);
    expect(undone.labelIds).toHaveLength(1);
    expect(again.stats()).toMatchObject({ annotations: 0, labels: 0 });
    const redone = again.redo()!;
    expect(redone.annotationIds).toEqual(result.annotationIds);
    expect(again.stats()).toMatchObject({ annotations: n, labels: 1 });
    for (const i of [0, 1, 4_999, 9_321, n - 1]) expect(again.getAnnotation(result.annotationIds[i]!).rle).toEqual({ size: [480, 640], counts: counts[i] });
    expect(again.listAnnotations(result.addedImages[7]!).map((a) => a.id)).toEqual(before);
    again.close();
    // redo writes back each row exactly as the import stored it, column for column
    raw = new Database(file, { readonly: true });
    expect([0, 4_999, n - 1].map((i) => rowOf(raw, result.annotationIds[i]!))).toEqual(sample);
    raw.close();
    again = openProject(file);
    // a new edit after an undo drops the undone step's rows with it
    again.undo();
    again.addLabel({ name: 'other' });
    again.close();
    raw = new Database(file, { readonly: true });
    expect(raw.prepare('SELECT count(*) FROM edit_states').pluck().get()).toBe(2);
    raw.close();
  });
});
