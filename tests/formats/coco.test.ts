import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exporters, importers } from '../../main/formats/index.ts';
import { maskFromRle, rleArea, rleBbox, rleCountsFromString, rleFromMask } from '../../main/masks/index.ts';
import { iou, maskOf, sameMask } from '../masks/helpers.ts';
import { annotation, disc, image, labels, lShapeMask, ringMask, tempDir, twoPartsMask } from './dataset.ts';

const noProjectImages = { imageSize: () => undefined };

function sampleImages() {
  return [
    image(1, 'shots/a.jpg', 12, 10, [annotation(101, 10, ringMask), annotation(102, 30, twoPartsMask)]),
    image(2, 'b.png', 12, 10, [annotation(103, 20, lShapeMask)]),
    image(3, 'c.png', 40, 30, []),
  ];
}

function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

describe('COCO export', () => {
  it('writes categories with 1-based ids in label order, images by project path, and RLE annotations with iscrowd 0', async () => {
    const out = tempDir();
    const report = await exporters.coco(labels, sampleImages(), 3, { outDir: out });
    const doc = readJson(join(out, 'annotations.json'));
    expect(doc.categories.map((c: any) => [c.id, c.name])).toEqual([[1, 'cat'], [2, 'dog'], [3, 'traffic light']]);
    expect(doc.images).toEqual([
      { id: 1, file_name: 'shots/a.jpg', width: 12, height: 10 },
      { id: 2, file_name: 'b.png', width: 12, height: 10 },
      { id: 3, file_name: 'c.png', width: 40, height: 30 },
    ]);
    const ring = rleFromMask(ringMask);
    expect(doc.annotations[0]).toEqual({
      id: 101, image_id: 1, category_id: 1, segmentation: { size: [10, 12], counts: ring.counts },
      area: rleArea(ring), bbox: rleBbox(ring), iscrowd: 0,
    });
    expect(doc.annotations.map((a: any) => a.category_id)).toEqual([1, 3, 2]);
    expect(report).toMatchObject({ format: 'coco', images: 3, annotations: 3, files: ['annotations.json'], skipped: [] });
  });

  it('skips box-only annotations and reports them; asked to, writes them as bbox-only annotations', async () => {
    const images = [image(1, 'a.jpg', 12, 10, [annotation(101, 10, ringMask), { id: 102, labelId: 20, rle: null, box: [1, 2, 3.5, 4] }])];
    const skipping = await exporters.coco(labels, images, 1, { outDir: tempDir() });
    expect(skipping.skipped).toEqual([{ imageId: 1, annotationId: 102, reason: 'a box without a mask (box-only annotation)' }]);
    expect(skipping.annotations).toBe(1);
    const out = tempDir();
    const writing = await exporters.coco(labels, images, 1, { outDir: out, boxesAsBboxes: true });
    expect(writing.skipped).toEqual([]);
    expect(writing.notes).toContain('1 box-only annotation(s) written as bboxes with an empty segmentation');
    expect(readJson(join(out, 'annotations.json')).annotations[1]).toEqual({
      id: 102, image_id: 1, category_id: 2, segmentation: [], area: 14, bbox: [1, 2, 3.5, 4], iscrowd: 0,
    });
    const yolo = await exporters.yolo(labels, images, 1, { outDir: tempDir(), boxesAsBboxes: true });
    expect(yolo.skipped.map((s) => s.annotationId)).toEqual([102]);
  });

  it('leaves only annotations.json in the folder', async () => {
    const out = tempDir();
    await exporters.coco(labels, sampleImages(), 3, { outDir: out });
    expect(readdirSync(out)).toEqual(['annotations.json']);
  });

  it('skips and reports annotations with an unknown label, a wrong mask size or an empty mask', async () => {
    const out = tempDir();
    const images = [image(1, 'a.jpg', 12, 10, [
      annotation(1, 99, ringMask),
      annotation(2, 10, maskOf(5, 5, () => true)),
      annotation(3, 10, maskOf(12, 10, () => false)),
      annotation(4, 10, ringMask),
    ])];
    const report = await exporters.coco(labels, images, 1, { outDir: out });
    expect(report.skipped).toEqual([
      { imageId: 1, annotationId: 1, reason: 'label id 99 is not in the label list' },
      { imageId: 1, annotationId: 2, reason: 'mask is 5x5 but image a.jpg is 12x10' },
      { imageId: 1, annotationId: 3, reason: 'empty mask' },
    ]);
    expect(readJson(join(out, 'annotations.json')).annotations.map((a: any) => a.id)).toEqual([4]);
  });

  it('streams 20,000 annotations from an async source into one valid JSON file', async () => {
    const out = tempDir();
    const small = rleFromMask(disc(64, 48, 20, 20, 8));
    async function* images() {
      for (let i = 1; i <= 2000; i++) {
        yield image(i, `img${i}.jpg`, 64, 48, Array.from({ length: 10 }, (_, k) => ({ id: i * 10 + k, labelId: 20, rle: small })));
      }
    }
    const report = await exporters.coco(labels, images(), 2000, { outDir: out });
    const doc = readJson(join(out, 'annotations.json'));
    expect([report.annotations, doc.annotations.length, doc.images.length]).toEqual([20000, 20000, 2000]);
  });

  it('writes a valid file with empty lists for a project without images', async () => {
    const out = tempDir();
    await exporters.coco([], [], 0, { outDir: out });
    const doc = readJson(join(out, 'annotations.json'));
    expect([doc.categories, doc.images, doc.annotations]).toEqual([[], [], []]);
  });

  it('reports progress after every image', async () => {
    const seen: string[] = [];
    await exporters.coco(labels, sampleImages(), 3, { outDir: tempDir(), onProgress: (d, t) => seen.push(`${d}/${t}`) });
    expect(seen).toEqual(['1/3', '2/3', '3/3']);
  });

  it('stops with an error when the signal is aborted', async () => {
    const controller = new AbortController();
    const onProgress = (done: number) => done === 1 && controller.abort();
    await expect(exporters.coco(labels, sampleImages(), 3, { outDir: tempDir(), onProgress, signal: controller.signal }))
      .rejects.toThrow(/cancelled after 1 of 3 images/);
  });
});

describe('COCO file_name', () => {
  it('writes an image outside the project relative to the export folder, not as an absolute path, and says so', async () => {
    const out = join(tempDir(), 'exports', 'dataset');
    mkdirSync(out, { recursive: true });
    const outside = { ...image(9, '', 12, 10, []), path: join(out, '..', '..', 'photos', 'x.png'), absPath: join(out, '..', '..', 'photos', 'x.png') };
    const report = await exporters.coco(labels, [image(1, 'shots/a.jpg', 12, 10, []), outside], 2, { outDir: out });
    const doc = readJson(join(out, 'annotations.json')) as { images: { file_name: string }[] };
    expect(doc.images.map((i) => i.file_name)).toEqual(['shots/a.jpg', '../../photos/x.png']);
    expect(report.notes).toContain("image file_names: 1 relative to the project folder, 1 relative to this export's folder");
  });
});

describe('COCO round trip', () => {
  it('gives back every mask exactly, holes and several parts included', async () => {
    const out = tempDir();
    const images = sampleImages();
    await exporters.coco(labels, images, 3, { outDir: out });
    const result = await importers.coco(join(out, 'annotations.json'), noProjectImages);
    expect(result.labels).toEqual(['cat', 'dog', 'traffic light']);
    expect(result.annotations.map((a) => [a.imageKey, a.labelName, a.rle])).toEqual([
      ['shots/a.jpg', 'cat', rleFromMask(ringMask)],
      ['shots/a.jpg', 'traffic light', rleFromMask(twoPartsMask)],
      ['b.png', 'dog', rleFromMask(lShapeMask)],
    ]);
    expect(sameMask(result.annotations[0]!.mask, ringMask)).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  it('keeps the pycocotools strings of the fixture vectors identical', async () => {
    const vectors = readJson(new URL('../fixtures/coco-rle/vectors.json', import.meta.url).pathname) as { size: [number, number]; counts: string; decoded_area: number }[];
    const nonEmpty = vectors.filter((v) => v.decoded_area > 0);
    const images = nonEmpty.map((v, i) => image(i + 1, `v${i}.jpg`, v.size[1], v.size[0], [{ id: i + 1, labelId: 10, rle: { size: v.size, counts: v.counts } }]));
    const out = tempDir();
    await exporters.coco(labels, images, images.length, { outDir: out });
    const result = await importers.coco(join(out, 'annotations.json'), noProjectImages);
    expect(result.annotations.map((a) => a.rle.counts)).toEqual(nonEmpty.map((v) => v.counts));
  });
});

describe('COCO polygons export', () => {
  it('writes the outer ring of every part, with area and bbox of the exact mask', async () => {
    const out = tempDir();
    await exporters['coco-polygons'](labels, sampleImages(), 3, { outDir: out, polygonTolerancePx: 0 });
    const [ring, parts] = readJson(join(out, 'annotations.json')).annotations;
    expect(ring.segmentation).toEqual([[10, 1, 10, 8, 1, 8, 1, 1]]);
    expect(ring.area).toBe(rleArea(rleFromMask(ringMask)));
    expect(parts.segmentation).toHaveLength(2);
    expect(parts.bbox).toEqual([1, 1, 10, 7]);
  });

  it('names every annotation whose holes it filled', async () => {
    const report = await exporters['coco-polygons'](labels, sampleImages(), 3, { outDir: tempDir() });
    expect(report.notes).toContain("1 annotation(s) had holes, which COCO polygons cannot carry: the holes were filled: ids 101");
  });

  it('round-trips masks without holes exactly at tolerance 0', async () => {
    const out = tempDir();
    const images = [image(1, 'a.jpg', 12, 10, [annotation(1, 10, twoPartsMask), annotation(2, 20, lShapeMask)])];
    await exporters['coco-polygons'](labels, images, 1, { outDir: out, polygonTolerancePx: 0 });
    const result = await importers.coco(join(out, 'annotations.json'), noProjectImages);
    expect(result.annotations.map((a) => a.rle)).toEqual([rleFromMask(twoPartsMask), rleFromMask(lShapeMask)]);
  });

  it('round-trips masks without holes within IoU 0.98 at the default 1 px tolerance', async () => {
    const out = tempDir();
    const masks = [disc(320, 240, 100, 90, 60), disc(320, 240, 250, 160, 35)];
    const images = [image(1, 'a.jpg', 320, 240, masks.map((m, i) => annotation(i + 1, 10, m)))];
    await exporters['coco-polygons'](labels, images, 1, { outDir: out });
    const result = await importers.coco(join(out, 'annotations.json'), noProjectImages);
    result.annotations.forEach((a, i) => expect(iou(a.mask, masks[i]!)).toBeGreaterThanOrEqual(0.98));
  });
});

describe('COCO import', () => {
  function writeCoco(doc: unknown): string {
    const path = join(tempDir(), 'instances.json');
    writeFileSync(path, typeof doc === 'string' ? doc : JSON.stringify(doc));
    return path;
  }
  const base = () => ({
    images: [{ id: 7, file_name: 'x.jpg', width: 4, height: 3 }],
    categories: [{ id: 5, name: 'cat' }],
    annotations: [] as unknown[],
  });

  it('reads uncompressed RLE counts into the canonical compressed string', async () => {
    const crowd = readJson(new URL('../fixtures/coco-rle/vectors.json', import.meta.url).pathname)[4] as { size: [number, number]; counts: string };
    const doc = {
      images: [{ id: 1, file_name: 'crowd.jpg', width: crowd.size[1], height: crowd.size[0] }],
      categories: [{ id: 1, name: 'person' }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, segmentation: { size: crowd.size, counts: rleCountsFromString(crowd.counts) } }],
    };
    const result = await importers.coco(writeCoco(doc), noProjectImages);
    expect(result.annotations[0]!.rle.counts).toBe(crowd.counts);
  });

  it('rasterises polygon lists at pixel centres and unions them', async () => {
    const doc = base();
    doc.annotations.push({ id: 1, image_id: 7, category_id: 5, segmentation: [[0, 0, 2, 0, 2, 1, 0, 1], [3, 2, 4, 2, 4, 3, 3, 3]] });
    const result = await importers.coco(writeCoco(doc), noProjectImages);
    expect(Array.from(maskFromRle(result.annotations[0]!.rle).data)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('returns bbox-only annotations (no segmentation, or an empty one) as boxes', async () => {
    const doc = base();
    doc.annotations.push({ id: 1, image_id: 7, category_id: 5, bbox: [0, 0, 1.5, 1] }, { id: 2, image_id: 7, category_id: 5, segmentation: [], bbox: [1, 1, 3, 2] });
    const result = await importers.coco(writeCoco(doc), noProjectImages);
    expect(result.annotations).toEqual([]);
    expect(result.boxes).toEqual([
      { imageKey: 'x.jpg', labelName: 'cat', bbox: [0, 0, 1.5, 1] },
      { imageKey: 'x.jpg', labelName: 'cat', bbox: [1, 1, 3, 2] },
    ]);
    expect(result.warnings).toEqual([]);
  });

  for (const [what, bbox, problem] of [
    ['missing', undefined, 'missing: an annotation needs a segmentation or a bbox'],
    ['three numbers', [0, 0, 1], '[0,0,1] is not [x, y, width, height] (four numbers)'],
    ['text', [0, 0, 'a', 1], '[0,0,"a",1] is not [x, y, width, height] (four numbers)'],
    ['no width', [0, 0, 0, 1], '[0,0,0,1] has no area (width and height must be positive)'],
    ['outside', [2, 1, 3, 2], '[2,1,3,2] lies outside the 4x3 image "x.jpg"'],
  ] as const) {
    it(`rejects a bbox-only annotation whose bbox is ${what}, naming the element`, async () => {
      const doc = base();
      doc.annotations.push({ id: 1, image_id: 7, category_id: 5, ...(bbox === undefined ? {} : { bbox }) });
      const path = writeCoco(doc);
      await expect(importers.coco(path, noProjectImages)).rejects.toThrow(`${path}: annotations[0].bbox: ${problem}`);
    });
  }

  it('rejects a file that is not JSON, naming the file', async () => {
    const path = writeCoco('{"images": [');
    await expect(importers.coco(path, noProjectImages)).rejects.toThrow(`${path}: not valid JSON`);
  });

  it('rejects a file without an annotations list', async () => {
    const path = writeCoco({ images: [], categories: [] });
    await expect(importers.coco(path, noProjectImages)).rejects.toThrow(`${path}: not a COCO instances file ("annotations" is missing)`);
  });

  it('rejects an annotation whose category id does not exist, naming the element', async () => {
    const doc = base();
    doc.annotations.push({ id: 1, image_id: 7, category_id: 5, segmentation: [[0, 0, 1, 0, 1, 1]] }, { id: 2, image_id: 7, category_id: 9, segmentation: [[0, 0, 1, 0, 1, 1]] });
    const path = writeCoco(doc);
    await expect(importers.coco(path, noProjectImages)).rejects.toThrow(`${path}: annotations[1]: category_id 9 is not the id of any category`);
  });

  it('rejects an annotation whose image id does not exist', async () => {
    const doc = base();
    doc.annotations.push({ id: 1, image_id: 8, category_id: 5, segmentation: [[0, 0, 1, 0, 1, 1]] });
    await expect(importers.coco(writeCoco(doc), noProjectImages)).rejects.toThrow(/annotations\[0\]: image_id 8 is not the id of any image/);
  });

  it('rejects RLE whose runs do not cover the image', async () => {
    const doc = base();
    doc.annotations.push({ id: 1, image_id: 7, category_id: 5, segmentation: { size: [3, 4], counts: [2, 3] } });
    await expect(importers.coco(writeCoco(doc), noProjectImages)).rejects.toThrow(/annotations\[0\].segmentation: RLE: runs cover 5 pixels but the size 3x4 has 12/);
  });

  it('rejects RLE whose size is not the image size', async () => {
    const doc = base();
    doc.annotations.push({ id: 1, image_id: 7, category_id: 5, segmentation: { size: [4, 3], counts: [12] } });
    await expect(importers.coco(writeCoco(doc), noProjectImages)).rejects.toThrow(/size \[4,3\] is not the image's \[height, width\] \[3, 4\]/);
  });

  it('rejects a polygon with an odd number of coordinates', async () => {
    const doc = base();
    doc.annotations.push({ id: 1, image_id: 7, category_id: 5, segmentation: [[0, 0, 1, 0, 1, 1, 0]] });
    await expect(importers.coco(writeCoco(doc), noProjectImages)).rejects.toThrow(/annotations\[0\].segmentation\[0\]: a polygon must be a list of an even number/);
  });

  it('rejects an image without a width', async () => {
    const doc = base();
    doc.images.push({ id: 8, file_name: 'y.jpg', height: 3 } as any);
    await expect(importers.coco(writeCoco(doc), noProjectImages)).rejects.toThrow(/images\[1\]: "width" is missing/);
  });

  it('does not import the annotations of an image whose size differs from the project image', async () => {
    const doc = base();
    doc.annotations.push({ id: 1, image_id: 7, category_id: 5, segmentation: [[0, 0, 1, 0, 1, 1, 0, 1]] });
    const result = await importers.coco(writeCoco(doc), { imageSize: () => ({ width: 8, height: 6 }) });
    expect(result.annotations).toEqual([]);
    expect(result.warnings[0]).toMatch(/"x.jpg" is 4x3 in .* but 8x6 in the project/);
  });
});
