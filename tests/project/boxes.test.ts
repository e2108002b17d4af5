import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exporters, importers } from '../../main/formats/index.ts';
import { createProject, exportDataset, importDataset, openProject, SCHEMA_VERSION, type Project } from '../../main/project/index.ts';
import { migrations } from '../../main/project/schema.ts';
import { runCli } from '../helpers/cli.ts';
import { rectRle, tempDir, writeImage } from './helpers.ts';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

async function projectWithImages(): Promise<Project> {
  const p = createProject(join(dir, 'p.db'));
  await writeImage(join(dir, 'a.png'), 20, 10);
  await writeImage(join(dir, 'b.png'), 20, 10, 40);
  await p.addImages([join(dir, 'a.png'), join(dir, 'b.png')]);
  return p;
}

function writeCoco(annotations: unknown[]): string {
  const file = join(dir, 'det.json');
  writeFileSync(file, JSON.stringify({
    images: [{ id: 1, file_name: 'a.png', width: 20, height: 10 }, { id: 2, file_name: 'b.png', width: 20, height: 10 }],
    categories: [{ id: 3, name: 'car' }],
    annotations,
  }));
  return file;
}

describe('box-only annotations', () => {
  it('a version-1 project is upgraded in place: rows, ids and the id counter survive', () => {
    const file = join(dir, 'old.db');
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    raw.transaction(() => {
      migrations[0]!(raw);
      raw.pragma('user_version = 1');
    })();
    raw.exec(`INSERT INTO images (path, added_at, position, width, height) VALUES ('a.png', 1, 1, 4, 4);
      INSERT INTO labels (name, color, sort_order) VALUES ('cat', '#112233', 1)`);
    const insert = raw.prepare(`INSERT INTO annotations (image_id, label_id, rle_counts, rle_h, rle_w, bbox_x, bbox_y, bbox_w, bbox_h, area, created_at, updated_at)
      VALUES (1, 1, ?, 4, 4, 1, 1, 2, 2, 4, 1, 1)`);
    const counts = rectRle(4, 4, [1, 1, 2, 2]).counts;
    for (let i = 0; i < 5; i++) insert.run(counts);
    raw.exec('DELETE FROM annotations WHERE id >= 4');
    raw.close();

    const p = openProject(file);
    expect(p.stats()).toMatchObject({ schemaVersion: SCHEMA_VERSION, annotations: 3, boxOnlyAnnotations: 0 });
    expect(p.getAnnotation(3).rle).toEqual({ size: [4, 4], counts });
    // ids 4 and 5 were handed out before: a new annotation must not reuse them
    expect(p.addAnnotation({ imageId: 1, labelId: 1, rle: null, bbox: [0, 0, 2, 2] })).toBe(6);
    p.close();
  });

  it('are stored, listed and counted; undo and redo bring them back exactly', async () => {
    const p = await projectWithImages();
    const label = p.addLabel({ name: 'car' });
    const id = p.addAnnotation({ imageId: 1, labelId: label.id, rle: null, bbox: [1.5, 2, 4, 3] });
    expect(p.getAnnotation(id)).toMatchObject({ rle: null, bbox: [1.5, 2, 4, 3], area: 0, prompts: null });
    expect(p.listBoxAnnotations(1).map((a) => a.id)).toEqual([id]);
    expect(p.imagesWithBoxes()).toEqual([1]);
    expect(p.stats()).toMatchObject({ annotations: 1, boxOnlyAnnotations: 1 });
    p.undo();
    expect(p.stats().annotations).toBe(0);
    p.redo();
    expect(p.getAnnotation(id)).toMatchObject({ rle: null, bbox: [1.5, 2, 4, 3] });
    expect(() => p.addAnnotation({ imageId: 1, labelId: label.id, rle: null, bbox: [18, 0, 4, 3] }))
      .toThrow(/new annotation: box \[18, 0, 4, 3\] lies outside image a\.png \(20x10\)/);
    expect(() => p.addAnnotation({ imageId: 1, labelId: label.id, rle: null })).toThrow(/needs a box \[x, y, w, h\]/);
    p.close();
  });

  it('replacing boxes by masks keeps id and label, records the box as the prompt, one undo step per image, never twice', async () => {
    const p = await projectWithImages();
    const label = p.addLabel({ name: 'car' });
    const [a, b] = p.addAnnotations(1, [
      { labelId: label.id, rle: null, bbox: [1, 1, 4, 3] },
      { labelId: label.id, rle: null, bbox: [8, 2, 5, 5] },
    ]);
    const rle = rectRle(20, 10, [1, 1, 4, 3]);
    p.replaceBoxesWithMasks(1, [
      { annotationId: a!, rle, modelId: 'm', score: 0.9 },
      { annotationId: b!, rle: rectRle(20, 10, [8, 2, 5, 5]), modelId: 'm', score: 0.8 },
    ]);
    expect(p.getAnnotation(a!)).toMatchObject({ labelId: label.id, rle, area: 12, bbox: [1, 1, 4, 3], prompts: { points: [], box: [1, 1, 5, 4] }, modelId: 'm', score: 0.9 });
    expect(p.imagesWithBoxes()).toEqual([]);
    expect(p.historyState().undo).toEqual({ kind: 'autolabel.boxes', imageId: 1 });
    expect(() => p.replaceBoxesWithMasks(1, [{ annotationId: a!, rle, modelId: 'm', score: 0.9 }])).toThrow(`annotation ${a} already has a mask; nothing was changed on image 1`);
    p.undo();
    expect(p.listBoxAnnotations(1).map((x) => x.id)).toEqual([a, b]);
    p.close();
  });

  it('COCO bbox-only and YOLO detection imports make box annotations; exports skip and report them', async () => {
    const p = await projectWithImages();
    const coco = await importDataset(p, 'coco', importers.coco, writeCoco([
      { id: 1, image_id: 1, category_id: 3, bbox: [1, 1, 4, 3] },
      { id: 2, image_id: 2, category_id: 3, segmentation: [], bbox: [0, 0, 20, 10] },
    ]));
    expect(coco).toMatchObject({ annotations: 2, boxes: 2, addedLabels: ['car'] });
    const yolo = join(dir, 'yolo');
    mkdirSync(join(yolo, 'labels'), { recursive: true });
    writeFileSync(join(yolo, 'classes.txt'), 'car\nbike\n');
    writeFileSync(join(yolo, 'labels', 'a.txt'), '1 0.5 0.5 0.5 0.4\n');
    expect(await importDataset(p, 'yolo', importers.yolo, yolo)).toMatchObject({ annotations: 1, boxes: 1, addedLabels: ['bike'] });
    expect(p.listBoxAnnotations(1).map((a) => a.bbox)).toEqual([[1, 1, 4, 3], [5, 3, 10, 4]]);
    const report = await exportDataset(p, exporters.yolo, { outDir: join(dir, 'out') });
    expect(report.annotations).toBe(0);
    expect(report.skipped.map((s) => s.reason)).toEqual(Array(3).fill('a box without a mask (box-only annotation)'));
    p.close();
  });

  it('project export --boxes-as-bboxes writes box-only annotations into COCO as bboxes; without it they are skipped', async () => {
    const p = await projectWithImages();
    const label = p.addLabel({ name: 'car' });
    const id = p.addAnnotation({ imageId: 2, labelId: label.id, rle: null, bbox: [2, 3, 4, 5] });
    p.close();
    const db = join(dir, 'p.db');
    const plain = runCli(['project', 'export', db, '--format', 'coco', '--out', join(dir, 'plain')]);
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout).skipped).toEqual([{ imageId: 2, annotationId: id, reason: 'a box without a mask (box-only annotation)' }]);
    const boxes = runCli(['project', 'export', db, '--format', 'coco', '--out', join(dir, 'boxes'), '--boxes-as-bboxes']);
    expect(boxes.code).toBe(0);
    const doc = JSON.parse(readFileSync(join(dir, 'boxes', 'annotations.json'), 'utf8'));
    expect(doc.annotations).toEqual([{ id, image_id: 2, category_id: 1, segmentation: [], area: 20, bbox: [2, 3, 4, 5], iscrowd: 0 }]);
  }, 120_000);

  for (const [what, file, problem] of [
    ['a COCO bbox outside its image', 'coco', /det\.json: annotations\[1\]\.bbox: \[15,0,8,2\] lies outside the 20x10 image "a\.png"/],
    ['a YOLO line of 6 values', 'yolo', /a\.txt:2: 6 values/],
  ] as const) {
    it(`an import with ${what} fails with a clear error and changes nothing`, async () => {
      const p = await projectWithImages();
      let from: string;
      if (file === 'coco') {
        from = writeCoco([{ id: 1, image_id: 1, category_id: 3, bbox: [1, 1, 4, 3] }, { id: 2, image_id: 1, category_id: 3, bbox: [15, 0, 8, 2] }]);
      } else {
        from = join(dir, 'yolo');
        mkdirSync(join(from, 'labels'), { recursive: true });
        writeFileSync(join(from, 'classes.txt'), 'car\n');
        writeFileSync(join(from, 'labels', 'a.txt'), '0 0.5 0.5 0.5 0.4\n0 0.5 0.5 0.5 0.4 0.9\n');
      }
      const before = p.stats();
      await expect(importDataset(p, file, importers[file], from)).rejects.toThrow(problem);
      expect(p.stats()).toEqual(before);
      p.close();
    });
  }
});
