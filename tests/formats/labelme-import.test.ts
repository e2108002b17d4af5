import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { exporters } from '../../main/formats/index.ts';
import { importLabelme } from '../../main/formats/labelme-import.ts';
import type { ImportContext } from '../../main/formats/types.ts';
import { type BinaryMask, maskArea, maskUnion, rleFromMask } from '../../main/masks/index.ts';
import { maskFromArt, maskOf, sameMask } from '../masks/helpers.ts';
import { annotation, disc, labels, lShapeMask, tempDir, twoPartsMask } from './dataset.ts';

const noSizes: ImportContext = { imageSize: () => undefined };

function sizes(byKey: Record<string, [number, number]>, of?: 'project' | 'file'): ImportContext {
  return { imageSize: (key) => (byKey[key] ? { width: byKey[key][0], height: byKey[key][1], of } : undefined) };
}

/** A LabelMe 5 shape as LabelMe writes it. */
function shape(label: string, shapeType: string, points: number[][], groupId: number | null = null, mask: string | null = null) {
  return { label, points, group_id: groupId, description: '', shape_type: shapeType, flags: {}, mask };
}

function writeLabelme(path: string, shapes: unknown[], imagePath = 'a.png', width = 40, height = 30): string {
  writeFileSync(path, JSON.stringify({ version: '5.5.0', flags: {}, shapes, imagePath, imageData: null, imageHeight: height, imageWidth: width }));
  return path;
}

/** The mask a test expects, from a rule over pixel indices. */
function expected(width: number, height: number, inside: (x: number, y: number) => boolean): BinaryMask {
  return maskOf(width, height, inside);
}

/** A 1-bit greyscale PNG (colour type 0), what PIL writes for a mode "1" image such as LabelMe's masks. */
function oneBitGreyPng(width: number, height: number, bits: number[]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale
  const stride = Math.ceil(width / 8) + 1; // each row: filter type 0, then the bits, first pixel highest
  const rows = Buffer.alloc(stride * height);
  bits.forEach((v, i) => {
    const x = i % width, y = Math.floor(i / width);
    if (v) rows[y * stride + 1 + (x >> 3)]! |= 0x80 >> (x & 7);
  });
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('LabelMe import of our own export', () => {
  it('gives back every mask without holes exactly at tolerance 0, the parts of an instance as one', async () => {
    const root = tempDir();
    const out = join(root, 'export');
    mkdirSync(out);
    const blobs = maskUnion(maskUnion(disc(60, 40, 10, 10, 6), disc(60, 40, 40, 12, 8.5)), disc(60, 40, 25, 30, 5.2));
    // a one-pixel line with a bend, and a lone pixel
    const thin = maskOf(60, 40, (x, y) => (y === 2 && x >= 20 && x < 35) || (x === 34 && y >= 2 && y < 9) || (x === 55 && y === 35));
    // blocks that touch only at a corner, and a diagonal staircase of single pixels
    const diagonal = maskOf(60, 40, (x, y) => (x >= 2 && x < 5 && y >= 25 && y < 28) || (x >= 5 && x < 8 && y >= 28 && y < 31) || (x >= 44 && x < 54 && y === x - 20));
    const images = [
      {
        id: 1, path: 'photos/a.jpg', absPath: join(root, 'photos/a.jpg'), width: 60, height: 40,
        annotations: [annotation(1, 20, blobs), annotation(2, 10, thin), annotation(3, 30, diagonal)],
      },
      {
        id: 2, path: 'more/b.png', absPath: join(root, 'more/b.png'), width: 12, height: 10,
        annotations: [annotation(4, 10, lShapeMask), annotation(5, 30, twoPartsMask)],
      },
    ];
    await exporters.labelme(labels, images, 2, { outDir: out, polygonTolerancePx: 0 });
    const result = await importLabelme(out, sizes({ [join(root, 'photos/a.jpg')]: [60, 40], [join(root, 'more/b.png')]: [12, 10] }));
    expect(result.labels).toEqual(['dog', 'cat', 'traffic light']);
    expect(result.warnings).toEqual([]);
    expect(result.boxes).toEqual([]);
    expect(result.annotations.map((a) => [a.imageKey, a.labelName])).toEqual([
      [join(root, 'photos/a.jpg'), 'dog'], [join(root, 'photos/a.jpg'), 'cat'], [join(root, 'photos/a.jpg'), 'traffic light'],
      [join(root, 'more/b.png'), 'cat'], [join(root, 'more/b.png'), 'traffic light'],
    ]);
    const masks = [blobs, thin, diagonal, lShapeMask, twoPartsMask];
    expect(result.annotations.map((a, i) => sameMask(a.mask, masks[i]!))).toEqual([true, true, true, true, true]);
    expect(result.annotations.map((a) => a.rle)).toEqual(masks.map(rleFromMask));
  });
});

describe('LabelMe import of LabelMe\'s own files', () => {
  it('reads a polygon as LabelMe does: pixels inside and on the outline', async () => {
    const from = tempDir();
    writeLabelme(join(from, 'a.json'), [shape('cat', 'polygon', [[1, 1], [5, 1], [5, 5], [1, 5]]), shape('dog', 'polygon', [[10, 2], [20, 2], [10, 12]])]);
    const result = await importLabelme(from, noSizes);
    expect(result.labels).toEqual(['cat', 'dog']);
    expect(result.annotations.map((a) => [a.imageKey, a.labelName])).toEqual([[join(from, 'a.png'), 'cat'], [join(from, 'a.png'), 'dog']]);
    expect(sameMask(result.annotations[0]!.mask, expected(40, 30, (x, y) => x >= 1 && x <= 5 && y >= 1 && y <= 5))).toBe(true);
    // the right triangle: its legs and hypotenuse are on pixels, so it covers x + y <= 22 within them
    expect(sameMask(result.annotations[1]!.mask, expected(40, 30, (x, y) => x >= 10 && y >= 2 && x + y <= 22))).toBe(true);
    expect(result.annotations[0]!.rle.size).toEqual([30, 40]);
  });

  it('reads a rectangle as a box (min corner, size), corners in any order, clamped to the image', async () => {
    const from = tempDir();
    writeLabelme(join(from, 'a.json'), [shape('cat', 'rectangle', [[8.5, 6], [2, 1.25]]), shape('dog', 'rectangle', [[30, 20], [45, 35]])]);
    const result = await importLabelme(from, noSizes);
    expect(result.boxes).toEqual([
      { imageKey: join(from, 'a.png'), labelName: 'cat', bbox: [2, 1.25, 6.5, 4.75] },
      { imageKey: join(from, 'a.png'), labelName: 'dog', bbox: [30, 20, 10, 10] },
    ]);
    expect(result.annotations).toEqual([]);
    expect(result.labels).toEqual(['cat', 'dog']);
  });

  it('reads a circle as the pixels (x, y) with (x - cx)^2 + (y - cy)^2 <= r^2: about pi r^2 of them', async () => {
    const from = tempDir();
    const [cx, cy, r] = [20.3, 14.6, 8];
    writeLabelme(join(from, 'a.json'), [shape('cat', 'circle', [[cx, cy], [cx, cy + r]])]);
    const [ann] = (await importLabelme(from, noSizes)).annotations;
    const disk = expected(40, 30, (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r);
    expect(sameMask(ann!.mask, disk)).toBe(true);
    expect(maskArea(ann!.mask)).toBe(maskArea(disk));
    expect(Math.abs(maskArea(disk) - Math.PI * r * r) / (Math.PI * r * r)).toBeLessThan(0.05);
  });

  it('places a mask shape\'s base64 PNG at its first point (8-bit grey, 1-bit grey as PIL writes it, palette), cut at the image edge', async () => {
    const from = tempDir();
    const pattern = [1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0];
    const raw = { raw: { width: 4, height: 3, channels: 1 as const } };
    const grey = await sharp(Buffer.from(pattern), raw).toColourspace('b-w').png().toBuffer();
    const palette = await sharp(Buffer.from(pattern.map((v) => v * 255)), raw).png({ palette: true, colours: 2 }).toBuffer();
    writeLabelme(join(from, 'a.json'), [
      shape('cat', 'mask', [[10, 5], [13, 7]], null, grey.toString('base64')),
      shape('dog', 'mask', [[20.7, 10.2], [23, 12]], null, oneBitGreyPng(4, 3, pattern).toString('base64')),
      shape('dog', 'mask', [[38, 28], [41, 30]], null, palette.toString('base64')),
    ]);
    const result = await importLabelme(from, noSizes);
    const at = (x0: number, y0: number) => (x: number, y: number) => x >= x0 && x < x0 + 4 && y >= y0 && y < y0 + 3 && pattern[(y - y0) * 4 + (x - x0)] === 1;
    expect(sameMask(result.annotations[0]!.mask, expected(40, 30, at(10, 5)))).toBe(true);
    // the first point rounded toward zero, as LabelMe places it
    expect(sameMask(result.annotations[1]!.mask, expected(40, 30, at(20, 10)))).toBe(true);
    expect(sameMask(result.annotations[2]!.mask, expected(40, 30, at(38, 28)))).toBe(true);
    // the 2x2 of the pattern that lies inside the 40x30 image
    expect(maskArea(result.annotations[2]!.mask)).toBe(4);
  });

  it('skips shapes without area with one warning per file and type', async () => {
    const from = tempDir();
    const file = writeLabelme(join(from, 'a.json'), [
      shape('cat', 'point', [[1, 1]]), shape('cat', 'line', [[1, 1], [5, 5]]), shape('dog', 'polygon', [[1, 1], [5, 1], [5, 5]]),
      shape('cat', 'point', [[2, 2]]), shape('cat', 'linestrip', [[1, 1], [5, 5], [9, 1]]), shape('cat', 'point', [[3, 3]]), shape('cat', 'blob', [[3, 3]]),
    ]);
    const result = await importLabelme(from, noSizes);
    expect(result.warnings).toEqual([
      `${file}: 3 point shapes skipped (no area)`,
      `${file}: 1 line shape skipped (no area)`,
      `${file}: 1 linestrip shape skipped (no area)`,
      `${file}: 1 blob shape skipped (not a LabelMe shape type with an area)`,
    ]);
    expect(result.labels).toEqual(['dog']);
    expect(result.annotations).toHaveLength(1);
  });

  it('merges shapes with the same group_id and label into one instance; a rectangle among them stays a box', async () => {
    const from = tempDir();
    const file = writeLabelme(join(from, 'a.json'), [
      shape('cat', 'polygon', [[1, 1], [3, 1], [3, 3], [1, 3]], 7),
      shape('dog', 'polygon', [[20, 20], [22, 20], [22, 22]], 7),
      shape('cat', 'circle', [[30, 5], [31, 5]], 7),
      shape('cat', 'rectangle', [[0, 0], [35, 8]], 7),
      shape('cat', 'polygon', [[10, 10], [12, 10], [12, 12], [10, 12]]),
      shape('cat', 'polygon', [[15, 10], [17, 10], [17, 12], [15, 12]]),
    ]);
    const result = await importLabelme(from, noSizes);
    const square = (x0: number, y0: number) => (x: number, y: number) => x >= x0 && x <= x0 + 2 && y >= y0 && y <= y0 + 2;
    const plus = (x: number, y: number) => Math.abs(x - 30) + Math.abs(y - 5) <= 1;
    expect(result.annotations.map((a) => a.labelName)).toEqual(['cat', 'dog', 'cat', 'cat']);
    expect(sameMask(result.annotations[0]!.mask, expected(40, 30, (x, y) => square(1, 1)(x, y) || plus(x, y)))).toBe(true);
    expect(maskArea(result.annotations[1]!.mask)).toBe(6);
    expect(sameMask(result.annotations[2]!.mask, expected(40, 30, square(10, 10)))).toBe(true);
    expect(sameMask(result.annotations[3]!.mask, expected(40, 30, square(15, 10)))).toBe(true);
    expect(result.boxes).toEqual([{ imageKey: join(from, 'a.png'), labelName: 'cat', bbox: [0, 0, 35, 8] }]);
    expect(result.warnings).toEqual([`${file}: 1 rectangle shape(s) share a group_id with polygon, circle or mask shapes; each was kept as a box of its own`]);
  });

  it('resolves a Windows imagePath with backslashes against the JSON file\'s folder', async () => {
    const from = tempDir();
    mkdirSync(join(from, 'ann'));
    writeLabelme(join(from, 'ann', 'x.json'), [shape('cat', 'polygon', [[1, 1], [3, 1], [3, 3]])], '..\\images\\day 1\\x.jpg');
    const result = await importLabelme(from, noSizes);
    expect(result.annotations[0]!.imageKey).toBe(resolve(from, 'images/day 1/x.jpg'));
  });

  it('walks subfolders in name order and leaves hidden ones out; labels in first-seen order', async () => {
    const from = tempDir();
    for (const dir of ['b', 'a', '.hidden']) mkdirSync(join(from, dir));
    writeLabelme(join(from, 'b', 'one.json'), [shape('dog', 'polygon', [[1, 1], [3, 1], [3, 3]])], 'one.png');
    writeLabelme(join(from, 'a', 'two.json'), [shape('cat', 'polygon', [[1, 1], [3, 1], [3, 3]]), shape('dog', 'polygon', [[5, 5], [7, 5], [7, 7]])], 'two.png');
    writeFileSync(join(from, 'a', 'notes.txt'), 'not a label file');
    writeFileSync(join(from, '.hidden', 'broken.json'), '{');
    writeFileSync(join(from, 'a', '._two.json'), 'resource fork');
    const result = await importLabelme(from, noSizes);
    expect(result.labels).toEqual(['cat', 'dog']);
    expect(result.annotations.map((a) => a.imageKey)).toEqual([join(from, 'a/two.png'), join(from, 'a/two.png'), join(from, 'b/one.png')]);
  });

  it('reads a file that starts with a byte order mark, and warns of a polygon that covers no pixel of the image', async () => {
    const from = tempDir();
    const file = join(from, 'a.json');
    writeFileSync(file, `\uFEFF${JSON.stringify({ shapes: [shape('cat', 'polygon', [[50, 1], [60, 1], [60, 9]]), shape('cat', 'polygon', [[1, 1], [3, 1], [3, 3]])], imagePath: 'a.png', imageWidth: 40, imageHeight: 30 })}`);
    const result = await importLabelme(from, noSizes);
    expect(result.warnings).toEqual([`${file}: shapes[0]: the polygon covers no pixel of the 40x30 image; skipped`]);
    expect(result.annotations).toHaveLength(1);
  });
});

describe('LabelMe import of malformed folders', () => {
  it('refuses an image size that differs from the image\'s, naming the file and both sizes', async () => {
    const from = tempDir();
    const file = writeLabelme(join(from, 'a.json'), [shape('cat', 'polygon', [[1, 1], [3, 1], [3, 3]])]);
    await expect(importLabelme(from, sizes({ [join(from, 'a.png')]: [100, 50] }, 'project')))
      .rejects.toThrow(`image ${JSON.stringify(join(from, 'a.png'))} is 40x30 in ${file} but 100x50 in the project`);
    await expect(importLabelme(from, sizes({ [join(from, 'a.png')]: [40, 31] }, 'file'))).rejects.toThrow(`is 40x30 in ${file} but 40x31 in its file`);
    expect((await importLabelme(from, sizes({ [join(from, 'a.png')]: [40, 30] }, 'project'))).annotations).toHaveLength(1);
  });

  it('refuses a file that is not JSON, naming it', async () => {
    const from = tempDir();
    writeLabelme(join(from, 'a.json'), [shape('cat', 'polygon', [[1, 1], [3, 1], [3, 3]])]);
    writeFileSync(join(from, 'b.json'), '{"shapes": [');
    await expect(importLabelme(from, noSizes)).rejects.toThrow(`${join(from, 'b.json')}: not valid JSON (`);
  });

  it('refuses a JSON file that is not LabelMe\'s, naming it', async () => {
    const from = tempDir();
    writeFileSync(join(from, 'instances.json'), JSON.stringify({ images: [], annotations: [], categories: [] }));
    await expect(importLabelme(from, noSizes)).rejects.toThrow(`${join(from, 'instances.json')}: not a LabelMe file (no "shapes" list)`);
  });

  it('refuses a folder without .json files, and a path that is not a folder', async () => {
    const from = tempDir();
    await expect(importLabelme(from, noSizes)).rejects.toThrow(`${from}: no LabelMe .json files`);
    writeFileSync(join(from, 'a.txt'), '');
    await expect(importLabelme(from, noSizes)).rejects.toThrow(`${from}: no LabelMe .json files`);
    await expect(importLabelme(join(from, 'a.txt'), noSizes)).rejects.toThrow(`${join(from, 'a.txt')}: not a folder`);
  });

  it('refuses points that are not numbers, naming the file and the shape', async () => {
    const from = tempDir();
    const file = writeLabelme(join(from, 'a.json'), [shape('cat', 'polygon', [[1, 1], [3, 1], [3, 3]]), shape('cat', 'polygon', [[1, 1], ['3', 1], [3, 3]] as unknown as number[][])]);
    await expect(importLabelme(from, noSizes)).rejects.toThrow(`${file}: shapes[1]: points[1] is ["3",1], not [x, y] (two finite numbers)`);
  });

  it('refuses a missing imagePath, a bad size, a bad label name, too few points, an unreadable mask', async () => {
    const from = tempDir();
    const file = join(from, 'a.json');
    const cases: [() => void, string][] = [
      [() => writeLabelme(file, [], ''), `${file}: "imagePath" is not a non-empty string`],
      [() => writeFileSync(file, JSON.stringify({ shapes: [], imageWidth: 4, imageHeight: 4 })), `${file}: "imagePath" is missing`],
      [() => writeLabelme(file, [], 'a.png', 0), `${file}: "imageWidth" is 0, not an integer >= 1`],
      [() => writeLabelme(file, [], 'a.png', 40, 2.5), `${file}: "imageHeight" is 2.5, not an integer >= 1`],
      [() => writeLabelme(file, [shape('ca\nt', 'polygon', [[1, 1], [3, 1], [3, 3]])]), `${file}: shapes[0]: label name "ca\\nt" contains the control character U+000A`],
      [() => writeLabelme(file, [shape('cat', 'polygon', [[1, 1], [3, 1]])]), `${file}: shapes[0]: a polygon needs at least 3 points, it has 2 point(s)`],
      [() => writeLabelme(file, [shape('cat', 'circle', [[1, 1], [3, 1], [4, 4]])]), `${file}: shapes[0]: a circle needs exactly 2 points`],
      [() => writeLabelme(file, [shape('cat', 'point', [[1, 1]]), shape('cat', 'mask', [[1, 1], [3, 3]], null, 'bm90IGEgcG5n')]), `${file}: shapes[1]: "mask" is not a readable base64 PNG (`],
      [() => writeLabelme(file, [shape('cat', 'mask', [[1, 1], [3, 3]])]), `${file}: shapes[0]: a mask shape needs "mask", a base64 PNG`],
    ];
    for (const [write, message] of cases) {
      write();
      await expect(importLabelme(from, noSizes), message).rejects.toThrow(message);
    }
  });
});

describe('LabelMe import of an instance in parts', () => {
  it('is the union of its parts where they overlap', async () => {
    const from = tempDir();
    writeLabelme(join(from, 'a.json'), [shape('cat', 'polygon', [[1, 1], [6, 1], [6, 4], [1, 4]], 3), shape('cat', 'polygon', [[4, 2], [9, 2], [9, 6], [4, 6]], 3)]);
    const [ann] = (await importLabelme(from, noSizes)).annotations;
    const art = maskFromArt(`
      ..........
      .######...
      .#########
      .#########
      .#########
      ....######
      ....######
      ..........`);
    expect(sameMask(ann!.mask, expected(40, 30, (x, y) => x < 10 && y < 8 && art.data[y * 10 + x] === 1))).toBe(true);
  });
});
