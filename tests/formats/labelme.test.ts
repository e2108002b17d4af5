import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exporters } from '../../main/formats/index.ts';
import { maskFromPixelIndexPolygons } from '../../main/masks/index.ts';
import { sameMask } from '../masks/helpers.ts';
import { annotation, labels, lShapeMask, ringMask, tempDir, twoPartsMask } from './dataset.ts';

async function exportSample() {
  const root = tempDir();
  const out = join(root, 'export');
  mkdirSync(out);
  const images = [{
    id: 1, path: 'photos/a.jpg', absPath: join(root, 'photos/a.jpg'), width: 12, height: 10,
    annotations: [annotation(11, 10, lShapeMask), annotation(12, 30, twoPartsMask), annotation(13, 20, ringMask)],
  }];
  const report = await exporters.labelme(labels, images, 1, { outDir: out, polygonTolerancePx: 0 });
  return { out, report, doc: JSON.parse(readFileSync(join(out, 'a.json'), 'utf8')) };
}

describe('LabelMe export', () => {
  it('writes <stem>.json with the LabelMe 5 top-level keys', async () => {
    const { out, doc } = await exportSample();
    expect(readdirSync(out)).toEqual(['a.json']);
    expect(Object.keys(doc)).toEqual(['version', 'flags', 'shapes', 'imagePath', 'imageData', 'imageHeight', 'imageWidth']);
    expect([doc.version, doc.flags, doc.imageData, doc.imageHeight, doc.imageWidth]).toEqual(['5.5.0', {}, null, 10, 12]);
  });

  it('gives imagePath relative to the JSON file', async () => {
    const { doc } = await exportSample();
    expect(doc.imagePath).toBe('../photos/a.jpg');
  });

  it('writes polygon shapes with [x, y] points, one per part, the parts sharing the annotation id as group_id', async () => {
    const { doc } = await exportSample();
    expect(doc.shapes.map((s: any) => [s.label, s.shape_type, s.group_id])).toEqual([
      ['cat', 'polygon', 11], ['traffic light', 'polygon', 12], ['traffic light', 'polygon', 12], ['dog', 'polygon', 13],
    ]);
    expect(doc.shapes[0].points[0]).toEqual([3, 1]);
    expect(Object.keys(doc.shapes[0])).toEqual(['label', 'points', 'group_id', 'description', 'shape_type', 'flags', 'mask']);
  });

  it('draws back the exact mask of a part at tolerance 0, read as LabelMe reads points (inside and on the outline)', async () => {
    const { doc } = await exportSample();
    const outer = doc.shapes[0].points.flat();
    expect(sameMask(maskFromPixelIndexPolygons([{ outer, holes: [] }], 12, 10), lShapeMask)).toBe(true);
  });

  it('puts a block\'s points on its boundary pixels, which PIL\'s polygon fills exactly (not one pixel more right and below)', async () => {
    const root = tempDir();
    const block = new Uint8Array(30 * 20);
    for (let y = 10; y < 15; y++) block.fill(1, y * 30 + 10, y * 30 + 20);
    const mask = { width: 30, height: 20, data: block };
    const images = [{ id: 1, path: 'b.png', absPath: join(root, 'b.png'), width: 30, height: 20, annotations: [annotation(1, 10, mask)] }];
    await exporters.labelme(labels, images, 1, { outDir: root, polygonTolerancePx: 0 });
    const [shape] = JSON.parse(readFileSync(join(root, 'b.json'), 'utf8')).shapes;
    expect(shape.points).toEqual([[19, 10], [19, 14], [10, 14], [10, 10]]);
    expect(sameMask(maskFromPixelIndexPolygons([{ outer: shape.points.flat(), holes: [] }], 30, 20), mask)).toBe(true);
  });

  it('names the annotations whose holes it filled', async () => {
    const { report } = await exportSample();
    expect(report.notes).toContain('1 annotation(s) had holes, which LabelMe polygons cannot carry: the holes were filled: ids 13');
  });
});

describe('LabelMe export of an image whose name is as long as a file name may be', () => {
  it('writes a shorter file name (whole characters, the image id) and says so', async () => {
    const root = tempDir();
    const out = join(root, 'export');
    mkdirSync(out);
    // 250 bytes of stem: 83 three-byte characters and one byte; the file itself is 254 bytes, legal
    const stem = `${'数'.repeat(83)}x`;
    const images = [{ id: 7, path: `${stem}.png`, absPath: join(root, `${stem}.png`), width: 12, height: 10, annotations: [annotation(11, 10, lShapeMask)] }];
    const report = await exporters.labelme(labels, images, 1, { outDir: out, polygonTolerancePx: 0 });
    const written = readdirSync(out);
    expect(written).toEqual([`${'数'.repeat(72)}_7.json`]);
    expect(Buffer.byteLength(written[0]!)).toBeLessThanOrEqual(255);
    expect(report.notes).toContain(`1 image(s) have a file stem too long for a file name and were written under a shorter one: ${stem}.png -> ${'数'.repeat(72)}_7`);
    expect(JSON.parse(readFileSync(join(out, written[0]!), 'utf8')).imagePath).toBe(`../${stem}.png`);
  });
});
