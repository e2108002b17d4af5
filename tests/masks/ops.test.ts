import { describe, expect, it } from 'vitest';
import { maskArea, maskBbox, maskIntersect, maskSubtract, maskUnion, paintBrushStroke } from '../../main/masks/index.ts';
import { maskOf } from './helpers.ts';

const left = maskOf(4, 1, (x) => x < 2); // 1 1 0 0
const middle = maskOf(4, 1, (x) => x === 1 || x === 2); // 0 1 1 0

function pixels(m: { width: number; data: Uint8Array }): string[] {
  return [...m.data.keys()].filter((i) => m.data[i]).map((i) => `${i % m.width},${Math.floor(i / m.width)}`);
}

describe('mask operations', () => {
  it('refuses at once a brush stroke no person draws (100k points at radius 2000), painting nothing', () => {
    const mask = { width: 4000, height: 3000, data: new Uint8Array(4000 * 3000) };
    const points = Array.from({ length: 100_000 }, (_, i): [number, number] => [(i * 37) % 4000, (i * 91) % 3000]);
    const started = performance.now();
    expect(() => paintBrushStroke(mask, points, 2000, 1)).toThrow(/^brush stroke: 100000 points at radius 2000 px would test \d+ pixels \(at most 400000000\); paint it in shorter strokes or with a smaller brush$/);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(mask.data.some((x) => x)).toBe(false);
    // a long drag of a big brush across the photo is still painted
    const drag = Array.from({ length: 400 }, (_, i): [number, number] => [10 * i, 1500]);
    expect(maskArea(paintBrushStroke(mask, drag, 100, 1))).toBeGreaterThan(3990 * 200);
  });

  it('unions two masks', () => {
    expect(Array.from(maskUnion(left, middle).data)).toEqual([1, 1, 1, 0]);
  });

  it('subtracts the second mask from the first', () => {
    expect(Array.from(maskSubtract(left, middle).data)).toEqual([1, 0, 0, 0]);
  });

  it('intersects two masks', () => {
    expect(Array.from(maskIntersect(left, middle).data)).toEqual([0, 1, 0, 0]);
  });

  it('refuses to combine masks of different sizes', () => {
    expect(() => maskUnion(left, maskOf(3, 1, () => true))).toThrow(/union: sizes differ \(4x1 vs 3x1\)/);
  });

  it('measures area and bbox of the inside pixels', () => {
    const mask = maskOf(10, 8, (x, y) => (x === 2 && y === 3) || (x === 6 && y === 5));
    expect(maskArea(mask)).toBe(2);
    expect(maskBbox(mask)).toEqual([2, 3, 5, 3]);
  });

  it('stamps a disc at a single point: the pixels whose centres are within the radius', () => {
    const stroke = paintBrushStroke(maskOf(10, 10, () => false), [[5, 5]], 1, 1);
    expect(pixels(stroke)).toEqual(['4,4', '5,4', '4,5', '5,5']);
  });

  it('paints along a polyline', () => {
    const stroke = paintBrushStroke(maskOf(10, 5, () => false), [[2.5, 2.5], [7.5, 2.5]], 0.5, 1);
    expect(pixels(stroke)).toEqual(['2,2', '3,2', '4,2', '5,2', '6,2', '7,2']);
  });

  it('erases with value 0 and leaves the input mask unchanged', () => {
    const full = maskOf(3, 3, () => true);
    const erased = paintBrushStroke(full, [[1.5, 0], [1.5, 3]], 0.5, 0);
    expect(Array.from(erased.data)).toEqual([1, 0, 1, 1, 0, 1, 1, 0, 1]);
    expect(maskArea(full)).toBe(9);
  });

  it('clips strokes that leave the image', () => {
    const stroke = paintBrushStroke(maskOf(3, 3, () => false), [[-10, 1.5], [10, 1.5]], 0.5, 1);
    expect(pixels(stroke)).toEqual(['0,1', '1,1', '2,1']);
  });
});
