import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { exporters, vocPalette } from '../../main/formats/index.ts';
import { maskOf } from '../masks/helpers.ts';
import { annotation, image, labels, ringMask, tempDir } from './dataset.ts';

/** Decodes a palette PNG with sharp (it expands to RGB) and maps each colour back to its index. */
async function paletteIndices(path: string): Promise<{ isPalette: boolean; indices: number[] }> {
  const meta = await sharp(path).metadata();
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  const indexOf = new Map<string, number>();
  for (let i = 255; i >= 0; i--) indexOf.set(vocPalette.subarray(i * 3, i * 3 + 3).join(','), i);
  const indices: number[] = [];
  for (let p = 0; p < info.width * info.height; p++) indices.push(indexOf.get(data.subarray(p * info.channels, p * info.channels + 3).join(','))!);
  return { isPalette: meta.isPalette === true, indices };
}

const square = (x0: number, y0: number, size: number) => maskOf(12, 10, (x, y) => x >= x0 && x < x0 + size && y >= y0 && y < y0 + size);

async function exportSample() {
  const out = tempDir();
  // dog square first, then a cat square overlapping its bottom-right corner
  const images = [
    image(1, 'a.jpg', 12, 10, [annotation(1, 20, square(0, 0, 4)), annotation(2, 10, square(2, 2, 4))]),
    image(2, 'empty.jpg', 12, 10, []),
  ];
  const report = await exporters.voc(labels, images, 2, { outDir: out });
  return { out, report };
}

describe('Pascal VOC export', () => {
  it('writes class PNGs as 8-bit palette PNGs whose pixels are label index + 1, later masks over earlier', async () => {
    const { out } = await exportSample();
    const { isPalette, indices } = await paletteIndices(join(out, 'SegmentationClass/a.png'));
    expect(isPalette).toBe(true);
    const expected = Array.from(square(0, 0, 4).data, (v) => v * 2);
    square(2, 2, 4).data.forEach((v, i) => v && (expected[i] = 1));
    expect(indices).toEqual(expected);
  });

  it('numbers instances 1, 2, ... in the object PNG', async () => {
    const { out } = await exportSample();
    const { indices } = await paletteIndices(join(out, 'SegmentationObject/a.png'));
    expect([indices[0], indices[3 * 12 + 3], indices[5 * 12 + 5], indices[9 * 12 + 11]]).toEqual([1, 2, 2, 0]);
  });

  it('uses the VOC colour map', async () => {
    const { out } = await exportSample();
    const { data } = await sharp(join(out, 'SegmentationClass/a.png')).raw().toBuffer({ resolveWithObject: true });
    expect([Array.from(data.subarray(0, 3)), Array.from(data.subarray((5 * 12 + 5) * 3, (5 * 12 + 5) * 3 + 3))]).toEqual([[0, 128, 0], [128, 0, 0]]);
  });

  it('writes an all-background PNG for an image without annotations', async () => {
    const { out } = await exportSample();
    const { indices } = await paletteIndices(join(out, 'SegmentationClass/empty.png'));
    expect(new Set(indices)).toEqual(new Set([0]));
  });

  it('lists background and the labels in labels.txt, one per pixel value', async () => {
    const { out } = await exportSample();
    expect(readFileSync(join(out, 'labels.txt'), 'utf8')).toBe('background\ncat\ndog\ntraffic light\n');
  });

  it('reports the files and the drawing order', async () => {
    const { report } = await exportSample();
    expect(report.files).toEqual(['labels.txt', 'SegmentationClass/a.png', 'SegmentationObject/a.png', 'SegmentationClass/empty.png', 'SegmentationObject/empty.png']);
    expect(report.notes).toContain('where masks overlap, later annotations are drawn over earlier ones');
    expect([report.images, report.annotations]).toEqual([2, 2]);
  });

  it('keeps holes as background', async () => {
    const out = tempDir();
    await exporters.voc(labels, [image(1, 'r.jpg', 12, 10, [annotation(1, 10, ringMask)])], 1, { outDir: out });
    const { indices } = await paletteIndices(join(out, 'SegmentationClass/r.png'));
    expect(indices).toEqual(Array.from(ringMask.data));
  });
});
