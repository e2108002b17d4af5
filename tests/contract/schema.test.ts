/**
 * The contract's schema language (preload/contract/schema.ts) and the API's input schemas built
 * with it: each refuses what it should with a message naming the method and the field, and
 * passes on only what it declared. Also checks the contract stays a leaf: nothing in
 * preload/contract imports from main/ or renderer/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { API, API_METHODS, ApiInputError, QUANT_BITS } from '../../preload/contract/index.ts';
import {
  arr, bool, int, nothing, nullable, num, obj, oneOf, optional, refine, str, tuple, union, type Infer,
} from '../../preload/contract/schema.ts';

function refusal(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiInputError);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('schema builders', () => {
  it('checks numbers, integers, strings and booleans with their bounds', () => {
    expect(int(1, 5).parse('m.n', 5)).toBe(5);
    expect(refusal(() => int(1, 5).parse('m.n', 6))).toBe('m.n: 6 is not an integer in [1, 5]');
    expect(refusal(() => int(1).parse('m.n', 1.5))).toBe('m.n: 1.5 is not an integer in [1, 9007199254740991]');
    expect(refusal(() => int().parse('m.n', '3'))).toBe('m.n: "3" is not an integer in [0, 9007199254740991]');
    expect(num(0, 1).parse('m.x', 0.25)).toBe(0.25);
    expect(refusal(() => num().parse('m.x', Infinity))).toBe('m.x: Infinity is not a number in [-Infinity, Infinity]');
    expect(refusal(() => num(0, 1).parse('m.x', Number.NaN))).toBe('m.x: NaN is not a number in [0, 1]');
    expect(refusal(() => str(3).parse('m.s', 'abcd'))).toBe('m.s: expected a string of at most 3 characters');
    expect(refusal(() => bool().parse('m.b', 1))).toBe('m.b: expected true or false');
  });

  it('accepts only the values of an enumeration', () => {
    expect(oneOf(QUANT_BITS).parse('m.bits', 'w4a4')).toBe('w4a4');
    expect(refusal(() => oneOf(QUANT_BITS).parse('m.bits', 'w3a3'))).toBe('m.bits: "w3a3" is not one of w8a8, w6a6, w4a4');
    expect(refusal(() => oneOf([0, 1] as const).parse('m.v', 2))).toBe('m.v: 2 is not one of 0, 1');
  });

  it('names the item of an array or tuple that is wrong', () => {
    expect(arr(int()).parse('m.ids', [1, 2])).toEqual([1, 2]);
    expect(refusal(() => arr(int(1)).parse('m.ids', [1, 0]))).toBe('m.ids[1]: 0 is not an integer in [1, 9007199254740991]');
    expect(refusal(() => arr(int(), { max: 2 }).parse('m.ids', [1, 2, 3]))).toBe('m.ids: expected an array of at most 2 items');
    expect(refusal(() => arr(int()).parse('m.ids', 'nope'))).toBe('m.ids: expected an array of at most 100000 items');
    expect(tuple(num(), num()).parse('m.p', [1, 2])).toEqual([1, 2]);
    expect(refusal(() => tuple(num(), num()).parse('m.p', [1]))).toBe('m.p: expected an array of 2 items');
    expect(refusal(() => tuple(num(), num(0)).parse('m.p', [1, -1]))).toBe('m.p[1]: -1 is not a number in [0, Infinity]');
  });

  it('names the field of an object, drops undeclared keys and leaves out absent optional ones', () => {
    const s = obj({ id: int(1), name: optional(str(10)), note: nullable(str()) });
    const parsed: Infer<typeof s> = s.parse('m', { id: 3, note: null, extra: 'dropped' });
    expect(parsed).toEqual({ id: 3, note: null });
    expect(Object.keys(parsed)).toEqual(['id', 'note']);
    expect(refusal(() => s.parse('m', null))).toBe('m: expected an object argument');
    expect(refusal(() => s.parse('m', [1]))).toBe('m: expected an object argument');
    expect(refusal(() => s.parse('m', { id: 3, name: 7, note: null }))).toBe('m.name: expected a string of at most 10 characters');
    // nullable is not optional: the key must be there
    expect(refusal(() => s.parse('m', { id: 3 }))).toBe('m.note: expected a string of at most 4096 characters');
    expect(refusal(() => obj({ inner: obj({ x: num(0) }) }).parse('m', { inner: { x: -1 } }))).toBe('m.inner.x: -1 is not a number in [0, Infinity]');
  });

  it('tries the alternatives of a union in order and lists every refusal', () => {
    const value = union(num(), bool(), str(5));
    expect(value.parse('m.v', 2)).toBe(2);
    expect(value.parse('m.v', false)).toBe(false);
    expect(value.parse('m.v', 'abc')).toBe('abc');
    expect(refusal(() => value.parse('m.v', {}))).toBe(
      'm.v: {} is not a number in [-Infinity, Infinity]; or expected true or false; or expected a string of at most 5 characters');
  });

  it('applies a further rule and a normalization after the base check', () => {
    const even = refine(int(), (n, refuse) => (n % 2 === 0 ? n / 2 : refuse(`${n} is odd`)));
    expect(even.parse('m.n', 8)).toBe(4);
    expect(refusal(() => even.parse('m.n', 7))).toBe('m.n: 7 is odd');
    expect(refusal(() => even.parse('m.n', 'x'))).toBe('m.n: "x" is not an integer in [0, 9007199254740991]');
  });

  it('ignores whatever is sent to a method that takes nothing', () => {
    expect(nothing().parse('m', { anything: 1 })).toBeUndefined();
  });
});

describe('the API input schemas', () => {
  const parse = <M extends keyof typeof API>(m: M, input: unknown) => API[m].input.parse(m, input);

  it('declares an input for every method the bridge forwards', () => {
    expect(API_METHODS).toContain('samPredict');
    expect(API_METHODS).toEqual(Object.keys(API));
    for (const m of API_METHODS) expect(typeof API[m].input.parse).toBe('function');
  });

  it('keeps the bounds of the image list and the label fields', () => {
    expect(refusal(() => parse('imagesList', { offset: 0, limit: 0 }))).toBe('imagesList.limit: 0 is not an integer in [1, 10000]');
    expect(refusal(() => parse('imagesList', { offset: 0, limit: 10, status: 'finished' })))
      .toBe('imagesList.status: "finished" is not one of new, in_progress, done, skipped');
    expect(parse('labelCreate', { name: 'cat', color: '#AABBCC' })).toEqual({ name: 'cat', color: '#aabbcc' });
    expect(refusal(() => parse('labelCreate', { name: 'cat', color: 'red' }))).toBe('labelCreate.color: "red" is not a colour like #12ab9f');
    expect(refusal(() => parse('labelCreate', { name: 'cat', hotkey: '0' }))).toBe('labelCreate.hotkey: "0" is not one of 1, 2, 3, 4, 5, 6, 7, 8, 9');
    expect(refusal(() => parse('labelCreate', { name: 'x'.repeat(201) }))).toBe('labelCreate.name: expected a string of at most 200 characters');
    expect(refusal(() => parse('labelDelete', { labelId: 1, mode: 'merge' }))).toBe('labelDelete.mode: "merge" is not one of refuse, delete-annotations, reassign');
    expect(refusal(() => parse('labelDelete', { labelId: 1, mode: 'reassign', toLabelId: 0 }))).toBe('labelDelete.toLabelId: 0 is not an integer in [1, 9007199254740991]');
  });

  it('keeps the prompt rules: a point or a box, x0 <= x1 and y0 <= y1, at most 64 points', () => {
    expect(parse('samPredict', { imageId: 1, prompt: { points: [], box: [1, 2, 3, 4], refine: null } }))
      .toEqual({ imageId: 1, prompt: { points: [], box: [1, 2, 3, 4] } });
    expect(refusal(() => parse('samPredict', { imageId: 1, prompt: { points: [] } }))).toBe('samPredict.prompt: a prompt needs at least one point or a box');
    expect(refusal(() => parse('samPredict', { imageId: 1, prompt: { points: [], box: [5, 0, 4, 10] } })))
      .toBe('samPredict.prompt.box: expected [x0, y0, x1, y1] with x0 <= x1, y0 <= y1');
    expect(refusal(() => parse('samPredict', { imageId: 1, prompt: { points: [{ x: 1, y: 1, label: 2 }] } })))
      .toBe('samPredict.prompt.points[0].label: 2 is not one of 0, 1');
    const many = Array.from({ length: 65 }, () => ({ x: 1, y: 1, label: 1 }));
    expect(refusal(() => parse('samPredict', { imageId: 1, prompt: { points: many } }))).toBe('samPredict.prompt.points: expected an array of at most 64 items');
    expect(refusal(() => parse('samPredict', { imageId: 1, prompt: { points: [{ x: 1, y: 1, label: 1 }], refine: { resultId: 1, candidate: 16 } } })))
      .toBe('samPredict.prompt.refine.candidate: 16 is not an integer in [0, 15]');
  });

  it('keeps the stroke and polygon rules', () => {
    expect(refusal(() => parse('annotationAddPolygon', { imageId: 1, labelId: 1, points: [[0, 0], [1, 1]] })))
      .toBe('annotationAddPolygon.points: a polygon needs at least 3 points');
    expect(refusal(() => parse('annotationBrush', { imageId: 1, annotationId: null, labelId: 1, points: [[0, 0]], radiusPx: 0.1, value: 1 })))
      .toBe('annotationBrush.radiusPx: 0.1 is not a number in [0.5, 2000]');
    expect(refusal(() => parse('annotationBrush', { imageId: 1, annotationId: null, labelId: 1, points: [[0, 2e6]], radiusPx: 3, value: 1 })))
      .toBe('annotationBrush.points[0][1]: 2000000 is not a number in [-1000000, 1000000]');
  });

  it('offers exactly the declared bit settings and export formats', () => {
    expect(refusal(() => parse('modelQuantize', { modelId: 'm', bits: 'w2a2' }))).toBe('modelQuantize.bits: "w2a2" is not one of w8a8, w6a6, w4a4');
    expect(refusal(() => parse('exportRun', { format: 'csv', outDir: '/tmp' }))).toBe('exportRun.format: "csv" is not one of coco, coco-polygons, yolo, voc, labelme');
    expect(refusal(() => parse('modelQuantize', { modelId: 'm', bits: 'w8a8', calibCount: 0 }))).toBe('modelQuantize.calibCount: 0 is not an integer in [1, 10000]');
  });
});

describe('the contract is a leaf', () => {
  it('imports only from its own folder', () => {
    const dir = join(import.meta.dirname, '../../preload/contract');
    for (const file of readdirSync(dir)) {
      const imports = [...readFileSync(join(dir, file), 'utf8').matchAll(/^\s*(?:import|export)[^'";]*from\s+'([^']+)'/gm)].map((m) => m[1]!);
      for (const from of imports) expect(from, `${file} imports ${from}`).toMatch(/^\.\/[\w-]+\.ts$/);
    }
  });
});

// Sparse arrays (holes, as structured clone keeps them) are refused where the hole is, never passed on.
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
