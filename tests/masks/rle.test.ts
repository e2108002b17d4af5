import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type BinaryMask, canonicalRleCounts, maskArea, maskBbox, maskFromRle, rleArea, rleBbox, rleCountsFromString,
  rleFromMask, rleFromPositive, rleStringFromCounts,
} from '../../main/masks/index.ts';
import { maskOf, randomMask, sameMask, seededRandom } from './helpers.ts';

interface Vector { size: [number, number]; counts: string; area: number | null; bbox: number[] | null; decoded_area: number }
const vectors = JSON.parse(readFileSync(new URL('../fixtures/coco-rle/vectors.json', import.meta.url), 'utf8')) as Vector[];

const adversarial: [string, BinaryMask][] = [
  ['empty', maskOf(7, 5, () => false)],
  ['full', maskOf(7, 5, () => true)],
  ['one pixel top-left', maskOf(6, 4, (x, y) => x === 0 && y === 0)],
  ['one pixel bottom-right', maskOf(6, 4, (x, y) => x === 5 && y === 3)],
  ['horizontal stripes', maskOf(9, 8, (_x, y) => y % 2 === 0)],
  ['vertical stripes', maskOf(9, 8, (x) => x % 2 === 1)],
  ['checkerboard', maskOf(11, 7, (x, y) => (x + y) % 2 === 0)],
  ['1xN row', maskOf(33, 1, (x) => x % 3 !== 0)],
  ['Nx1 column', maskOf(1, 33, (_x, y) => y % 5 < 2)],
  ['1x1 inside', maskOf(1, 1, () => true)],
  ['1x1 outside', maskOf(1, 1, () => false)],
  ['0x0', maskOf(0, 0, () => false)],
  ['long runs (multi-chunk counts)', maskOf(1000, 700, (x, y) => x > 3 && (x < 900 || y === 5))],
];

describe('COCO RLE', () => {
  it.each(adversarial)('round-trips the %s mask exactly', (_name, mask) => {
    const rle = rleFromMask(mask);
    expect(rle.size).toEqual([mask.height, mask.width]);
    expect(sameMask(maskFromRle(rle), mask)).toBe(true);
  });

  it.each(adversarial)('gives the %s mask\'s RLE and area from values above 0 (a logit map)', (_name, mask) => {
    // inside: positive values; outside: zero, negatives, -0, NaN
    const rand = seededRandom(mask.width * 31 + mask.height);
    const outside = [0, -0, -1e-30, -5, Number.NaN];
    const logits = Float32Array.from(mask.data, (v) => (v ? 1e-30 + rand() * 10 : outside[Math.floor(rand() * outside.length)]!));
    const { rle, area } = rleFromPositive(mask.width, mask.height, logits);
    expect(rle).toEqual(rleFromMask(mask));
    expect(area).toBe(maskArea(mask));
  });

  it('refuses values that do not fill the size, naming the sizes', () => {
    expect(() => rleFromPositive(4, 3, new Float32Array(11))).toThrow('rleFromPositive: 11 values for 4x3');
  });

  it('round-trips 200 random masks of odd sizes and densities exactly', () => {
    const rand = seededRandom(7);
    for (let i = 0; i < 200; i++) {
      const mask = randomMask(1 + Math.floor(rand() * 40), 1 + Math.floor(rand() * 40), rand(), rand);
      expect(sameMask(maskFromRle(rleFromMask(mask)), mask)).toBe(true);
    }
  });

  it('gives the counts of the plain walk down each column, for masks holding any non-zero value', () => {
    const rand = seededRandom(11);
    for (let i = 0; i < 100; i++) {
      const w = 1 + Math.floor(rand() * 50), h = 1 + Math.floor(rand() * 50);
      const density = rand();
      const data = Uint8Array.from({ length: w * h }, () => (rand() < density ? 1 + Math.floor(rand() * 255) : 0));
      const counts: number[] = [];
      let previous = 0, run = 0;
      for (let x = 0; x < w; x++) {
        for (let y = 0; y < h; y++) {
          const v = data[y * w + x] ? 1 : 0;
          if (v !== previous) { counts.push(run); run = 0; previous = v; }
          run++;
        }
      }
      counts.push(run);
      expect(rleFromMask({ width: w, height: h, data })).toEqual({ size: [h, w], counts: rleStringFromCounts(counts) });
    }
  });

  it('starts the runs with zeros and counts down columns first', () => {
    // 2x3 mask (h=2, w=3), inside: (x=0,y=0), (x=1,y=1), (x=2,y=0), (x=2,y=1); column-major 1 0 | 0 1 | 1 1
    const mask = maskOf(3, 2, (x, y) => (x === 0 && y === 0) || (x === 1 && y === 1) || x === 2);
    expect(rleCountsFromString(rleFromMask(mask).counts)).toEqual([0, 1, 2, 3]);
  });

  it('writes an empty mask as a single zero run', () => {
    expect(rleFromMask(maskOf(10, 5, () => false)).counts).toBe('b1'); // [50], as pycocotools writes it
  });

  it('writes counts with the delta from two runs back and 5-bit groups', () => {
    const counts = [5, 40, 1000, 39, 999999, 3, 0, 0];
    expect(rleCountsFromString(rleStringFromCounts(counts))).toEqual(counts);
  });

  it.each(vectors.map((v) => [v.counts, v] as const))('decodes pycocotools string %j to its stated area and bbox', (_s, v) => {
    const rle = { size: v.size, counts: v.counts };
    const mask = maskFromRle(rle);
    expect(maskArea(mask)).toBe(v.decoded_area);
    expect(rleArea(rle)).toBe(v.decoded_area);
    if (v.area !== null) expect(rleArea(rle)).toBe(v.area);
    if (v.bbox !== null) expect(rleBbox(rle)).toEqual(v.bbox);
    expect(rleBbox(rle)).toEqual(maskBbox(mask));
  });

  it.each(vectors.map((v) => [v.counts, v] as const))('re-encodes pycocotools string %j to the identical string', (_s, v) => {
    expect(rleFromMask(maskFromRle({ size: v.size, counts: v.counts })).counts).toBe(v.counts);
  });

  it('computes area and bbox from the runs the same as from the pixels', () => {
    const rand = seededRandom(11);
    for (let i = 0; i < 200; i++) {
      const density = rand() * 0.2;
      const mask = randomMask(1 + Math.floor(rand() * 30), 1 + Math.floor(rand() * 30), density, rand);
      const rle = rleFromMask(mask);
      expect(rleArea(rle)).toBe(maskArea(mask));
      expect(rleBbox(rle)).toEqual(maskBbox(mask));
    }
  });

  it('rejects runs that do not cover the stated size', () => {
    expect(() => maskFromRle({ size: [2, 2], counts: rleStringFromCounts([1, 2]) })).toThrow(/cover 3 pixels but the size 2x2 has 4/);
  });

  it('rejects a string that ends inside a count', () => {
    expect(() => rleCountsFromString('0h')).toThrow(/ends inside a count/);
  });

  it('rejects characters outside the 64-character alphabet', () => {
    expect(() => rleCountsFromString('0 1')).toThrow(/invalid character " " at 1/);
  });

  it('merges zero-length runs to the counts pycocotools would write', () => {
    expect(canonicalRleCounts([0, 3, 0, 2, 4, 0])).toEqual([0, 5, 4]);
    expect(canonicalRleCounts([3, 0, 0, 2])).toEqual([3, 2]);
  });
});
