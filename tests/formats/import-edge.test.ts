/** Imports into a real project at the edges: empty polygons, repeated ids, odd numbers, nothing to import. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exporters, importers } from '../../main/formats/index.ts';
import { exportDataset, importDataset, type Project } from '../../main/project/index.ts';
import { rleFromMask } from '../../main/masks/index.ts';
import { openTempProject, writeImage } from '../project/helpers.ts';

let dir: string;
let close: () => void;
let project: Project;
beforeEach(async () => {
  ({ dir, project, close } = openTempProject());
  await project.addImages([await writeImage(join(dir, 'proj', 'a.png'), 12, 10)]);
});
afterEach(() => close());

/** A YOLO folder with one class and the given label files; returns the folder. */
function writeYolo(files: Record<string, string>): string {
  const from = join(dir, 'yolo');
  mkdirSync(join(from, 'labels'), { recursive: true });
  writeFileSync(join(from, 'classes.txt'), 'cat\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(from, 'labels', name), text);
  return from;
}

function writeCoco(path: string, doc: unknown): string {
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

/** The error an import is refused with, after checking that the refusal changed nothing. */
async function refusal(run: () => Promise<unknown>): Promise<string> {
  const before = project.stats();
  const error = await run().then(() => null, (err: unknown) => err as Error);
  expect(error).toBeInstanceOf(Error);
  expect(project.stats()).toEqual(before);
  return error!.message;
}

const square = [1, 1, 5, 1, 5, 5, 1, 5];

describe('YOLO import of a polygon without area', () => {
  it('reads it as the pixels along it (as Ultralytics fills it), skips one that covers no pixel with a warning naming file and line', async () => {
    // a point, a triangle, a sliver, and a line on the image's far right edge (x = 1: pixel 12 of 0..11)
    const from = writeYolo({ 'a.txt': '0 0.1 0.1 0.1 0.1 0.1 0.1\n0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.01 0.01 0.05 0.01 0.05 0.02\n0 1 0.1 1 0.5 1 0.9\n' });
    const report = await importDataset(project, 'yolo', importers.yolo, from);
    const file = join(from, 'labels', 'a.txt');
    expect(report.warnings).toEqual([`${file}:4: the mask is empty; skipped`]);
    expect(report.annotations).toBe(3);
    const [imageId] = project.listImages().items.map((i) => i.id);
    // the point: pixel (1, 1) alone (0.1 x 12 = 1.2, 0.1 x 10 = 1); the sliver: pixels (0, 0) and (1, 0)
    expect(project.listAnnotations(imageId!).map((a) => a.area)).toEqual([1, 18, 2]);
    const exported = await exportDataset(project, exporters.yolo, { outDir: join(dir, 'out') });
    expect([exported.annotations, exported.skipped]).toEqual([3, []]);
  });
});

describe('COCO import of repeated annotation ids', () => {
  it('refuses an annotation id that appears twice, naming the element, and imports nothing', async () => {
    await writeImage(join(dir, 'proj', 'b.png'), 12, 10);
    const annotations = [1, 2, 3, 2, 4].map((id) => ({ id, image_id: 1, category_id: 1, segmentation: [square] }));
    const from = writeCoco(join(dir, 'proj', 'dup.json'), {
      images: [{ id: 1, file_name: 'b.png', width: 12, height: 10 }], categories: [{ id: 1, name: 'cat' }], annotations,
    });
    expect(await refusal(() => importDataset(project, 'coco', importers.coco, from))).toBe(`${from}: annotations[3]: annotation id 2 appears twice`);
    expect(project.listImages().items.map((i) => i.path)).toEqual(['a.png']);
  });

  it('refuses an annotation id that is not an integer', async () => {
    const from = writeCoco(join(dir, 'proj', 'bad-id.json'), {
      images: [{ id: 1, file_name: 'a.png', width: 12, height: 10 }], categories: [{ id: 1, name: 'cat' }],
      annotations: [{ id: 'first', image_id: 1, category_id: 1, segmentation: [square] }],
    });
    expect(await refusal(() => importDataset(project, 'coco', importers.coco, from))).toBe(`${from}: annotations[0]: "id" is "first", not an integer`);
  });

  it('still imports annotations that have no id at all', async () => {
    const from = writeCoco(join(dir, 'proj', 'no-ids.json'), {
      images: [{ id: 1, file_name: 'a.png', width: 12, height: 10 }], categories: [{ id: 1, name: 'cat' }],
      annotations: [{ image_id: 1, category_id: 1, segmentation: [square] }, { image_id: 1, category_id: 1, segmentation: [square] }],
    });
    expect(await importDataset(project, 'coco', importers.coco, from)).toMatchObject({ annotations: 2, warnings: [] });
  });
});

describe('an import that changes nothing', () => {
  // The history step is written by Project.importAnnotations (main/project/project.ts), which
  // records one even when it has no row changes: turn this into `it` once it records none.
  it('adds no history entry', async () => {
    const from = writeCoco(join(dir, 'proj', 'empty.json'), { images: [], annotations: [], categories: [] });
    const before = project.stats();
    expect(await importDataset(project, 'coco', importers.coco, from)).toMatchObject({ addedImages: 0, addedLabels: [], annotations: 0 });
    expect(project.stats()).toEqual(before);
    expect(project.historyState()).toEqual({ undo: null, redo: null });
  });
});

describe('a COCO image that cannot be found', () => {
  // The message is made in main/project/dataset.ts (cocoResolver), which lists both candidate
  // locations even when they are one path: turn this into `it` once it names each path once.
  it('names each distinct place it looked once', async () => {
    const from = writeCoco(join(dir, 'proj', 'ann.json'), {
      images: [{ id: 1, file_name: 'images/cmyk.jpg', width: 12, height: 10 }], categories: [{ id: 1, name: 'cat' }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, segmentation: [square] }],
    });
    expect(await refusal(() => importDataset(project, 'coco', importers.coco, from)))
      .toBe(`image "images/cmyk.jpg" named in ${from} is not in the project and was not found at ${join(dir, 'proj', 'images', 'cmyk.jpg')}`);
  });
});

describe('YOLO values', () => {
  for (const [value, line] of [
    ['0x1', '0 0x1 0.5 0.2 0.2'],
    ['0b1', '0 0.5 0.5 0.2 0b1'],
    ['0o1', '0 0.1 0.1 0.5 0.1 0o1 0.5'],
    ['Infinity', '0 0.1 0.1 0.5 0.1 Infinity 0.5'],
  ] as const) {
    it(`refuses ${value} as not a number, naming file and line, and imports nothing`, async () => {
      const from = writeYolo({ 'a.txt': `0 0.5 0.5 0.2 0.2\n${line}\n` });
      const column = line.split(' ').indexOf(value) + 1;
      expect(await refusal(() => importDataset(project, 'yolo', importers.yolo, from)))
        .toBe(`${join(from, 'labels', 'a.txt')}:2: value "${value}" in column ${column} is not a number in [0, 1]`);
    });
  }

  it('reads decimals with an exponent, a sign or no leading digit', async () => {
    const from = writeYolo({ 'a.txt': '0 5e-1 +0.5 .25 2E-1\n' });
    const report = await importDataset(project, 'yolo', importers.yolo, from);
    expect(report).toMatchObject({ annotations: 1, boxes: 1, warnings: [] });
    expect(project.listBoxAnnotations(1).map((a) => a.bbox)).toEqual([[4.5, 4, 3, 2]]);
  });
});

describe('YOLO label files of an image whose size is unknown', () => {
  it('say why: the image is there, its header could not be read', async () => {
    mkdirSync(join(dir, 'proj'), { recursive: true });
    writeFileSync(join(dir, 'proj', 'cut.png'), 'not a png');
    await project.addImages([join(dir, 'proj', 'cut.png')]);
    const from = writeYolo({ 'cut.txt': '0 0.5 0.5 0.2 0.2\n' });
    const report = await importDataset(project, 'yolo', importers.yolo, from);
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]).toMatch(new RegExp(`^${join(from, 'labels', 'cut.txt').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: project image .*cut\\.png has no known size \\(.+\\); its 1 box\\(es\\) were not imported$`));
  });
});

describe('YOLO label files whose stem matches no image', () => {
  it('counts boxes as boxes and polygons as polygons in the warning', async () => {
    const from = writeYolo({
      'boxes.txt': '0 0.5 0.5 0.2 0.2\n',
      'both.txt': '0 0.5 0.5 0.2 0.2\n0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.2 0.2 0.6 0.2 0.6 0.6\n',
    });
    const report = await importDataset(project, 'yolo', importers.yolo, from);
    expect(report.warnings).toEqual([
      `${join(from, 'labels', 'both.txt')}: no project image has the stem "both"; its 2 polygon(s) and 1 box(es) were not imported`,
      `${join(from, 'labels', 'boxes.txt')}: no project image has the stem "boxes"; its 1 box(es) were not imported`,
    ]);
    expect(project.stats().annotations).toBe(0);
  });
});

describe('YOLO import of the project\'s own export', () => {
  it('reads back every image when stems repeat across folders or differ only in case', async () => {
    // beside proj/a.png (from beforeEach): another a.png, and B.png / b.jpg (one name on a case-insensitive disk)
    await project.addImages([
      await writeImage(join(dir, 'proj', 'y', 'a.png'), 12, 10),
      await writeImage(join(dir, 'proj', 'c', 'B.png'), 12, 10),
      await writeImage(join(dir, 'proj', 'c', 'b.jpg'), 12, 10),
    ]);
    const label = project.addLabel({ name: 'cat' });
    const images = project.listImages().items;
    // image i gets a block of i + 1 rows: each image's own mask can be told apart
    for (const [i, image] of images.entries()) {
      const mask = new Uint8Array(12 * 10);
      for (let y = 2; y < 3 + i; y++) for (let x = 2; x < 8; x++) mask[y * 12 + x] = 1;
      project.addAnnotation({ imageId: image.id, labelId: label.id, rle: rleFromMask({ width: 12, height: 10, data: mask }) });
    }
    const out = join(dir, 'export');
    const exported = await exportDataset(project, exporters.yolo, { outDir: out });
    expect(exported.notes.join(' ')).toContain('written under another name');
    const report = await importDataset(project, 'yolo', importers.yolo, out);
    expect(report.warnings).toEqual([]);
    expect(report.annotations).toBe(4);
    for (const image of images) {
      const [first, again] = project.listAnnotations(image.id);
      expect(again, image.path).toBeDefined();
      expect(again!.area, image.path).toBe(first!.area);
    }
  });
});

describe('COCO category names the store cannot hold', () => {
  it('are refused naming the file and the element, and nothing changes', async () => {
    const from = writeCoco(join(dir, 'tab.json'), { categories: [{ id: 1, name: 'cat' }, { id: 2, name: 'a\tb' }], images: [], annotations: [] });
    expect(await refusal(() => importDataset(project, 'coco', importers.coco, from))).toBe(`${from}: categories[1]: label name "a\\tb" contains the control character U+0009; names may not contain control characters`);
  });
});

describe('COCO crowd regions, a byte order mark, warnings', () => {
  it('leaves crowd regions out with a warning naming the file, reads a file that starts with a BOM', async () => {
    const doc = {
      categories: [{ id: 1, name: 'person' }, { id: 2, name: 'person' }],
      images: [{ id: 1, file_name: 'a.png', width: 12, height: 10 }],
      annotations: [
        { id: 1, image_id: 1, category_id: 1, iscrowd: 0, segmentation: [square] },
        { id: 2, image_id: 1, category_id: 1, iscrowd: 1, segmentation: { size: [10, 12], counts: [20, 30, 70] } },
        { id: 3, image_id: 1, category_id: 2, segmentation: [[1, 1, 1, 1, 1, 1]] },
      ],
    };
    const from = join(dir, 'proj', 'bom.json');
    writeFileSync(from, `\uFEFF${JSON.stringify(doc)}`);
    const report = await importDataset(project, 'coco', importers.coco, from);
    expect(report.annotations).toBe(1);
    expect(report.warnings).toEqual([
      `${from}: categories[1]: a second category named "person"; its annotations join the first`,
      `${from}: annotations[1]: iscrowd 1 (a crowd region) is not imported: a project holds instances only`,
      `${from}: annotations[2]: the mask is empty; skipped`,
    ]);
  });
});
