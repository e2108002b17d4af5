import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distanceToEdge, mostInteriorPixel, type BinaryMask } from '../../main/masks/index.ts';
import { readMaskPng } from '../helpers/sam-tiny.ts';
import { blobMask, maskFromArt, randomMask, seededRandom } from './helpers.ts';

/** Euclidean distance to the nearest outside pixel by trying every one, the ring beyond the border included. */
function bruteForce(m: BinaryMask): Float64Array {
  const out = new Float64Array(m.width * m.height);
  const outside: [number, number][] = [];
  for (let y = -1; y <= m.height; y++) {
    for (let x = -1; x <= m.width; x++) {
      const inImage = x >= 0 && y >= 0 && x < m.width && y < m.height;
      if (!inImage || !m.data[y * m.width + x]) outside.push([x, y]);
    }
  }
  for (let y = 0; y < m.height; y++) {
    for (let x = 0; x < m.width; x++) {
      if (!m.data[y * m.width + x]) continue;
      out[y * m.width + x] = Math.sqrt(Math.min(...outside.map(([ox, oy]) => (ox - x) ** 2 + (oy - y) ** 2)));
    }
  }
  return out;
}

describe('distanceToEdge', () => {
  it('counts the image border as the edge: a full 5x3 mask is 1 at the border and 4 in the middle row', () => {
    const m = maskFromArt(`
      #####
      #####
      #####`);
    expect([...distanceToEdge(m)]).toEqual([1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1]);
  });

  it('takes a diagonal step as 1.4 in 16-bit fixed point (a hole at the centre of a 5x5 square)', () => {
    const m = maskFromArt(`
      #####
      #####
      ##.##
      #####
      #####`);
    const d = Math.fround(91750 / 65536); // round(1.4 x 2^16) / 2^16 as float32
    expect([...distanceToEdge(m)]).toEqual([
      1, 1, 1, 1, 1,
      1, d, 1, d, 1,
      1, 1, 0, 1, 1,
      1, d, 1, d, 1,
      1, 1, 1, 1, 1,
    ]);
  });

  it('stays within 2% of the true Euclidean distance on random and blob masks, and is 0 outside', () => {
    const rand = seededRandom(7);
    for (const m of [randomMask(23, 17, 0.8, rand), randomMask(9, 31, 0.95, rand), blobMask(60, 49, rand), blobMask(1, 12, rand), randomMask(1, 1, 1, rand)]) {
      const ours = distanceToEdge(m);
      const exact = bruteForce(m);
      for (let i = 0; i < exact.length; i++) {
        if (!m.data[i]) expect(ours[i]).toBe(0);
        else expect(Math.abs(ours[i]! - exact[i]!)).toBeLessThanOrEqual(0.02 * exact[i]! + 1e-6);
      }
    }
  });
});

describe('mostInteriorPixel', () => {
  it('returns the first of equally interior pixels in row-major order, and null for an empty mask', () => {
    expect(mostInteriorPixel(maskFromArt(`
      ......
      .####.
      .####.
      ......`))).toEqual([1, 1]);
    expect(mostInteriorPixel(maskFromArt(`
      ...
      ...`))).toBeNull();
  });

  it('finds the click of every ground-truth object of the sam-shapes fixture (an exact transform misses 8 of 14)', async () => {
    const dir = join(import.meta.dirname, '../fixtures/sam-shapes');
    const objects = JSON.parse(readFileSync(join(dir, 'objects.json'), 'utf8')) as { images: { objects: { mask: string; click: [number, number] }[] }[] };
    let checked = 0;
    for (const image of objects.images) {
      for (const o of image.objects) {
        expect(mostInteriorPixel(await readMaskPng(join(dir, o.mask))), o.mask).toEqual(o.click);
        checked++;
      }
    }
    expect(checked).toBe(14);
  });
});
