/** Sparse arrays (holes, as structured clone keeps them) are refused where the hole is, never passed on. */
import { describe, expect, it } from 'vitest';
import { API, ApiInputError } from '../../preload/contract/index.ts';
import { arr, num, optional, tuple } from '../../preload/contract/schema.ts';

function refusal(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiInputError);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('arrays with holes', () => {
  it('an array refuses a hole, naming its index', () => {
    expect(refusal(() => arr(tuple(num(), num())).parse('m.points', [[5, 5], , [9, 9]]))).toBe('m.points[1]: missing');
    // a hole is refused even where the item schema would take undefined
    expect(refusal(() => arr(optional(num())).parse('m.xs', [1, , 3]))).toBe('m.xs[1]: missing');
    expect(refusal(() => arr(num()).parse('m.xs', new Array(3)))).toBe('m.xs[0]: missing');
  });

  it('a tuple refuses a hole, naming its index', () => {
    expect(refusal(() => tuple(num(), optional(num())).parse('m.p', [1, ,]))).toBe('m.p[1]: missing');
  });

  it('a dense array still comes back whole, and an explicit undefined reaches the item schema', () => {
    expect(arr(tuple(num(), num())).parse('m.points', [[5, 5], [9, 9]])).toEqual([[5, 5], [9, 9]]);
    expect(arr(optional(num())).parse('m.xs', [1, undefined])).toEqual([1, undefined]);
    expect(refusal(() => arr(num()).parse('m.xs', [1, undefined]))).toBe('m.xs[1]: undefined is not a number in [-Infinity, Infinity]');
  });

  it('the brush refuses a stroke with a hole in its points', () => {
    const input = { imageId: 1, annotationId: null, labelId: 1, points: [[5, 5], , [9, 9]], radiusPx: 3, value: 1 };
    expect(refusal(() => API.annotationBrush.input.parse('annotationBrush', input))).toBe('annotationBrush.points[1]: missing');
  });
});
