/**
 * The Import dialog's back end through the real handlers: a COCO file or a YOLO folder chosen in
 * a dialog goes into the open project as one undo step, with progress by phase; a path that did
 * not come from a dialog, the wrong kind of path, a malformed file or a cancel change nothing.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandlers, type Handlers } from '../../main/api/handlers.ts';
import { createEngine, type Engine } from '../../main/sam/engine.ts';
import type { ApiEvent } from '../../preload/contract/index.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/sam-tiny');
const LANDSCAPE = join(FIXTURES, 'landscape.png');

let dir: string;
let engine: Engine;
let handlers: Handlers;
const events: ApiEvent[] = [];
/** what the dialogs answer next, in order, as a user picking files would */
const chosen: string[][] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'import-api-'));
  mkdirSync(join(dir, 'resources', 'samples'), { recursive: true });
  engine = await createEngine({ threads: 1 });
  ({ handlers } = createHandlers({
    appDataDir: join(dir, 'appdata'), resourcesDir: join(dir, 'resources'), engine, executionProvider: 'cpu',
    emit: (e) => events.push(e), imageUrlBase: () => 'test://',
    dialogs: { openFiles: async () => chosen.shift() ?? [], openFolder: async () => chosen.shift()?.[0] ?? null, saveFile: async () => chosen.shift()?.[0] ?? null },
  }));
});

afterAll(async () => {
  await engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function newProject(name: string): Promise<string> {
  const folder = join(dir, name);
  mkdirSync(folder);
  chosen.push([join(folder, 'p.ptq4sam')]);
  await handlers.projectCreate({ path: (await handlers.dialogSaveFile({ title: 'project', filters: [], defaultName: 'p.ptq4sam' }))! });
  return folder;
}

/** A COCO file beside `count` copies of the 320x240 landscape fixture: per image a cat polygon, the first image also a dog box without a mask. */
function cocoDataset(folder: string, count: number): string {
  const images = Array.from({ length: count }, (_, i) => {
    copyFileSync(LANDSCAPE, join(folder, `img${i}.png`));
    return { id: i + 1, file_name: `img${i}.png`, width: 320, height: 240 };
  });
  const annotations = [
    ...images.map((im, i) => ({ id: i + 1, image_id: im.id, category_id: 1, segmentation: [[10, 10, 60, 10, 60, 40, 10, 40]], bbox: [10, 10, 50, 30], area: 1500, iscrowd: 0 })),
    { id: 1000, image_id: 1, category_id: 2, bbox: [100, 50, 80, 60], area: 4800, iscrowd: 0 },
  ];
  const file = join(folder, 'instances.json');
  writeFileSync(file, JSON.stringify({ images, annotations, categories: [{ id: 1, name: 'cat' }, { id: 2, name: 'dog' }] }));
  return file;
}

const pickFile = async (path: string) => {
  chosen.push([path]);
  return (await handlers.dialogOpenFiles({ title: 'import', filters: [], multiple: false }))[0]!;
};

describe('importing through the app', () => {
  it('adds a COCO file\'s images, labels, masks and boxes as one undo step, reporting each phase', async () => {
    const folder = await newProject('coco');
    const file = cocoDataset(folder, 3);
    events.length = 0;
    const report = await handlers.importRun({ format: 'coco', path: await pickFile(file) });
    expect(report).toEqual({ format: 'coco', from: file, addedImages: 3, addedLabels: ['cat', 'dog'], annotations: 4, boxes: 1, warnings: [] });
    const phases = events.flatMap((e) => (e.type === 'import-progress' ? [`${e.phase} ${e.done}/${e.total}${e.read === undefined ? '' : ` read ${e.read}`}`] : []));
    // COCO asks each image's size while it reads (its header is read then, once): nothing is left
    // for the images phase; its first pass over the file (categories, images) counts as a tenth
    expect(phases).toEqual(['reading 0/0 read 0', 'reading 0/0 read 0.1', 'reading 1/0 read 0.1', 'reading 2/0 read 0.1', 'reading 3/0 read 0.1', 'reading 3/0 read 1', 'images 0/0', 'storing 0/4']);

    const { items } = await handlers.imagesList({ offset: 0, limit: 10 });
    expect(items.map((i) => [i.path, i.annotationCount])).toEqual([['img0.png', 2], ['img1.png', 1], ['img2.png', 1]]);
    const first = await handlers.annotationsList({ imageId: items[0]!.id });
    // the polygon's pixel-centre reading: columns 10..59, rows 10..39
    expect(first.map((a) => [a.bbox, a.area, a.boxOnly])).toEqual([[[10, 10, 50, 30], 1500, false], [[100, 50, 80, 60], 0, true]]);
    expect((await handlers.labelsList(undefined)).map((l) => l.name)).toEqual(['cat', 'dog']);

    const step = await handlers.undo(undefined);
    expect(step).toMatchObject({ kind: 'import', annotationIds: expect.any(Array) });
    expect(step!.annotationIds).toHaveLength(4);
    expect((await handlers.imagesList({ offset: 0, limit: 10 })).items.map((i) => i.annotationCount)).toEqual([0, 0, 0]);
    expect(await handlers.labelsList(undefined)).toEqual([]);
  });

  it('refuses a path no dialog gave, the wrong kind of path, and a malformed file, changing nothing', async () => {
    const folder = await newProject('refused');
    const file = cocoDataset(folder, 1);
    // the project's own folder is open to it; a file elsewhere must come through a dialog
    const elsewhere = join(dir, 'elsewhere.json');
    copyFileSync(file, elsewhere);
    await expect(handlers.importRun({ format: 'coco', path: elsewhere })).rejects.toThrow(`path: ${elsewhere} was not chosen by the user`);
    await expect(handlers.importRun({ format: 'yolo', path: await pickFile(file) })).rejects.toThrow(`import: ${file} is a file; YOLO (dataset folder) reads a folder`);
    chosen.push([folder]);
    await expect(handlers.importRun({ format: 'coco', path: (await handlers.dialogOpenFolder({ title: 'x' }))! })).rejects.toThrow(`import: ${folder} is a folder; COCO instances (JSON file) reads a file`);
    const bad = join(folder, 'bad.json');
    writeFileSync(bad, '{"images": [], "annotations": [');
    await expect(handlers.importRun({ format: 'coco', path: await pickFile(bad) })).rejects.toThrow(bad);
    expect((await handlers.imagesList({ offset: 0, limit: 10 })).total).toBe(0);
    expect(await handlers.historyState(undefined)).toMatchObject({ undo: null });
  });

  it('a cancel stops it before anything is stored; a second import waits for the first', async () => {
    const folder = await newProject('cancel');
    const file = cocoDataset(folder, 12);
    const path = await pickFile(file);
    const running = handlers.importRun({ format: 'coco', path });
    await expect(handlers.importRun({ format: 'coco', path })).rejects.toThrow('import: another import is running; wait for it or cancel it');
    await handlers.importCancel(undefined);
    await expect(running).rejects.toThrow(`import of ${file} cancelled; nothing was changed`);
    expect((await handlers.imagesList({ offset: 0, limit: 20 })).total).toBe(0);
    expect(await handlers.labelsList(undefined)).toEqual([]);
    // and the same import then runs whole
    expect(await handlers.importRun({ format: 'coco', path })).toMatchObject({ addedImages: 12, annotations: 13, boxes: 1 });
  });

  it('reads back a LabelMe export of another project: the same masks within the export\'s polygon tolerance', async () => {
    const source = await newProject('labelme-source');
    const file = cocoDataset(source, 2);
    await handlers.importRun({ format: 'coco', path: await pickFile(file) });
    const masks = async () => {
      const { items } = await handlers.imagesList({ offset: 0, limit: 10 });
      return (await Promise.all(items.map((i) => handlers.annotationsList({ imageId: i.id })))).flat().filter((a) => !a.boxOnly).map((a) => [a.bbox, a.area]);
    };
    const exported = await masks();
    const out = join(source, 'labelme');
    chosen.push([out]);
    await handlers.exportRun({ format: 'labelme', outDir: (await handlers.dialogOpenFolder({ title: 'export' }))! });

    // the target project holds the same image files: the export names them by path
    await newProject('labelme-target');
    chosen.push([join(source, 'img0.png'), join(source, 'img1.png')]);
    await handlers.imagesAdd({ paths: await handlers.dialogOpenFiles({ title: 'images', filters: [], multiple: true }) });
    chosen.push([out]);
    const report = await handlers.importRun({ format: 'labelme', path: (await handlers.dialogOpenFolder({ title: 'labelme' }))! });
    expect(report).toEqual({ format: 'labelme', from: out, addedImages: 0, addedLabels: ['cat'], annotations: 2, boxes: 0, warnings: [] });
    // a rectangle's polygon at the default tolerance keeps its corners: the same pixels
    expect(await masks()).toEqual(exported);
    expect(exported).toEqual([[[10, 10, 50, 30], 1500], [[10, 10, 50, 30], 1500]]);
  });

  it('reads a YOLO folder against the project\'s images', async () => {
    const folder = await newProject('yolo');
    copyFileSync(LANDSCAPE, join(folder, 'shot.png'));
    chosen.push([join(folder, 'shot.png')]);
    await handlers.imagesAdd({ paths: await handlers.dialogOpenFiles({ title: 'images', filters: [], multiple: true }) });
    const yolo = join(folder, 'yolo');
    mkdirSync(join(yolo, 'labels'), { recursive: true });
    writeFileSync(join(yolo, 'classes.txt'), 'car\n');
    // a detection line: a box of 64 x 48 pixels centred at (160, 120)
    writeFileSync(join(yolo, 'labels', 'shot.txt'), '0 0.5 0.5 0.2 0.2\n');
    chosen.push([yolo]);
    const report = await handlers.importRun({ format: 'yolo', path: (await handlers.dialogOpenFolder({ title: 'yolo' }))! });
    expect(report).toMatchObject({ addedImages: 0, addedLabels: ['car'], annotations: 1, boxes: 1, warnings: [] });
    const [image] = (await handlers.imagesList({ offset: 0, limit: 1 })).items;
    expect((await handlers.annotationsList({ imageId: image!.id })).map((a) => a.bbox)).toEqual([[128, 96, 64, 48]]);
  });
});

describe('masks for imported boxes', () => {
  beforeAll(async () => {
    chosen.push([join(FIXTURES, 'sam_tiny.pth')], [join(FIXTURES, 'config.json')]);
    const pick = async () => (await handlers.dialogOpenFiles({ title: 'file', filters: [], multiple: false }))[0]!;
    const { id } = await handlers.modelImportCheckpoint({ checkpointPath: await pick(), configPath: await pick() });
    await handlers.modelSetActive({ modelId: id });
  }, 120_000);

  it('gives every box the mask a box prompt gives, one undo step per image, with progress; a cancel keeps what is done', async () => {
    const folder = await newProject('boxes');
    const file = cocoDataset(folder, 2);
    // every image's annotation a box: the polygons dropped
    const coco = JSON.parse(readFileSync(file, 'utf8'));
    for (const a of coco.annotations) delete a.segmentation;
    writeFileSync(file, JSON.stringify(coco));
    expect(await handlers.importRun({ format: 'coco', path: await pickFile(file) })).toMatchObject({ annotations: 3, boxes: 3 });

    // a cancel ends the run after the image in progress: that image is done, the other keeps its box
    const early = handlers.boxesToMasks({});
    await handlers.boxesToMasksCancel(undefined);
    const first = await early;
    expect(first).toMatchObject({ images: 1, cancelled: true });

    events.length = 0;
    const { items } = await handlers.imagesList({ offset: 0, limit: 10 });
    // the rerun finds only the boxes left
    const r = await handlers.boxesToMasks({});
    expect(r).toMatchObject({ images: 1, cancelled: false, notes: [] });
    expect(first.created + first.skipped + r.created + r.skipped).toBe(3);
    expect(first.created + r.created).toBeGreaterThan(0);
    const progress = events.flatMap((e) => (e.type === 'autolabel-progress' ? [`${e.done}/${e.total}`] : []));
    expect(progress).toEqual(['0/1', '1/1']);
    const stored = (await Promise.all(items.map((i) => handlers.annotationsList({ imageId: i.id })))).flat();
    expect(stored.filter((a) => a.boxOnly)).toHaveLength(first.skipped + r.skipped);
    // each mask is the best mask samPredict gives for its box (its predicted IoU), the box kept as its prompt
    for (const a of stored.filter((x) => !x.boxOnly)) {
      const box = a.prompts!.box!;
      expect([[10, 10, 60, 40], [100, 50, 180, 110]]).toContainEqual(box);
      const p = await handlers.samPredict({ imageId: a.imageId, prompt: { points: [], box } });
      expect(a.score).toBeCloseTo(p.iouPredictions[p.best]!, 5);
    }
    // the last image's masks go back to boxes with one undo
    expect(await handlers.undo(undefined)).toMatchObject({ kind: 'autolabel.boxes', imageId: items[1]!.id });
    expect((await handlers.annotationsList({ imageId: items[1]!.id })).every((a) => a.boxOnly)).toBe(true);
  }, 120_000);
});
