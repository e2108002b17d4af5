/** Imports and scans of files from other people: names that lead out, sizes that lie, one pixel limit. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importers } from '../../main/formats/index.ts';
import { importDataset, scanImage, type Project } from '../../main/project/index.ts';
import { openTempProject, writeImage } from './helpers.ts';

let dir: string;
let close: () => void;
let project: Project;
beforeEach(() => ({ dir, project, close } = openTempProject()));
afterEach(() => close());

function writeCoco(path: string, images: { id: number; file_name: string; width: number; height: number }[]): string {
  const annotations = images.map((img, i) => ({ id: i + 1, image_id: img.id, category_id: 1, segmentation: [[1, 1, img.width - 1, 1, img.width - 1, img.height - 1, 1, img.height - 1]] }));
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify({ categories: [{ id: 1, name: 'thing' }], images, annotations }));
  return path;
}

describe('COCO import of files named by the annotation file', () => {
  it('does not add an image outside the annotation folder and the project, and names it in the report', async () => {
    const outside = await writeImage(join(dir, 'elsewhere', 'private.png'), 8, 6);
    const inside = await writeImage(join(dir, 'coco', 'ok.png'), 8, 6);
    const from = writeCoco(join(dir, 'coco', 'annotations.json'), [
      { id: 1, file_name: outside, width: 8, height: 6 },
      { id: 2, file_name: '../elsewhere/private.png', width: 8, height: 6 },
      { id: 3, file_name: 'ok.png', width: 8, height: 6 },
    ]);
    const report = await importDataset(project, 'coco', importers.coco, from);
    expect(report.addedImages).toBe(1);
    expect(report.annotations).toBe(1);
    expect(project.listImages().items.map((i) => i.path)).toEqual([inside]);
    const refusals = report.warnings.filter((w) => w.includes('outside the annotation file\'s folder and the project\'s folder'));
    expect(refusals).toHaveLength(2);
    expect(refusals[0]).toContain(`image "${outside}" named in ${from} is outside`);
  });

  it('takes the file beside the annotations before a project image of the same relative name', async () => {
    // the project folder holds a.png, the annotations' folder another a.png: the README's order
    const projectImage = await writeImage(join(dir, 'proj', 'a.png'), 8, 6);
    await project.addImages([projectImage]);
    const beside = await writeImage(join(dir, 'data', 'a.png'), 8, 6, 255);
    const from = writeCoco(join(dir, 'data', 'ann.json'), [{ id: 1, file_name: 'a.png', width: 8, height: 6 }]);
    const report = await importDataset(project, 'coco', importers.coco, from);
    expect(report.addedImages).toBe(1);
    const images = project.listImages().items;
    expect(images.map((i) => project.resolveImagePath(i)).sort()).toEqual([projectImage, beside].sort());
    const annotated = images.filter((i) => project.listAnnotations(i.id).length > 0).map((i) => project.resolveImagePath(i));
    expect(annotated).toEqual([beside]);
  });

  it('refuses a named file that is not an image (the project file itself, a JSON), as adding images does', async () => {
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'notes.json'), '{}');
    const from = writeCoco(join(dir, 'data', 'ann.json'), [
      { id: 1, file_name: 'notes.json', width: 8, height: 6 },
      { id: 2, file_name: project.dbPath, width: 8, height: 6 },
    ]);
    const report = await importDataset(project, 'coco', importers.coco, from);
    expect(report.addedImages).toBe(0);
    expect(report.annotations).toBe(0);
    expect(project.listImages().items).toEqual([]);
    expect(report.warnings).toHaveLength(2);
    expect(report.warnings[0]).toBe(`image "notes.json" named in ${from} is not an image the app reads (.png, .jpg, .jpeg, .webp, .tif, .tiff, .bmp): ${join(dir, 'data', 'notes.json')} was not added and its annotations were not imported`);
  });

  it('says so when an image it adds has a header it cannot read', async () => {
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'cut.png'), 'not a png');
    const from = writeCoco(join(dir, 'data', 'ann.json'), [{ id: 1, file_name: 'cut.png', width: 8, height: 6 }]);
    const report = await importDataset(project, 'coco', importers.coco, from);
    expect(report.addedImages).toBe(1);
    expect(report.warnings.some((w) => w.startsWith(`${join(dir, 'data', 'cut.png')} was added with an error badge: `))).toBe(true);
  });

  it('checks a declared size against the real image header before drawing any mask, and stays fast', async () => {
    await writeImage(join(dir, 'coco', 'small.png'), 8, 6);
    const from = writeCoco(join(dir, 'coco', 'annotations.json'), [{ id: 1, file_name: 'small.png', width: 50000, height: 50000 }]);
    const started = performance.now();
    const report = await importDataset(project, 'coco', importers.coco, from);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(report.annotations).toBe(0);
    expect(report.warnings).toEqual([`image "small.png" is 50000x50000 in ${from} but 8x6 in its file; its annotations were not imported`]);
  });

  it('refuses a declared size above the pixel limit when the image header cannot say', async () => {
    mkdirSync(join(dir, 'coco'), { recursive: true });
    writeFileSync(join(dir, 'coco', 'broken.png'), 'not a png');
    const from = writeCoco(join(dir, 'coco', 'annotations.json'), [{ id: 1, file_name: 'broken.png', width: 50000, height: 50000 }]);
    const report = await importDataset(project, 'coco', importers.coco, from);
    expect(report.annotations).toBe(0);
    expect(report.warnings).toEqual([`image "broken.png" is 50000x50000 in ${from}, more than the 400000000 pixels an image may have; its annotations were not imported`]);
  });
});

/** CRC-32 as PNG chunks use it. */
function crc32(bytes: Buffer): number {
  let crc = ~0;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/** A PNG whose header declares width x height (no pixel data: only the header is read). */
function pngHeader(path: string, width: number, height: number): void {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  writeFileSync(path, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1))), chunk('IEND', Buffer.alloc(0))]));
}

describe('one image size limit', () => {
  it('the project scan accepts what the decoder accepts (17000 x 17000) and refuses above 20000 x 20000', async () => {
    pngHeader(join(dir, 'large.png'), 17000, 17000);
    pngHeader(join(dir, 'too-large.png'), 20001, 20000);
    const large = await scanImage(join(dir, 'large.png'));
    expect([large.error, large.width, large.height]).toEqual([null, 17000, 17000]);
    const tooLarge = await scanImage(join(dir, 'too-large.png'));
    expect(tooLarge.error).toMatch(/^cannot read the image header: .*exceeds pixel limit|^cannot read the image header: 20001x20000 exceeds the pixel limit of 400000000$/);
  });
});
