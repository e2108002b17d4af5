/**
 * The two inner loops of Pillow's 8-bit resampling as a small WebAssembly SIMD module, assembled
 * here from opcodes (no toolchain, nothing to download). Scalar JavaScript spent about 1-2 ns per
 * multiply-add, i.e. 100-200 ms for a 4000x3000 photo; the SIMD loops do 4 (horizontal) or 16
 * (vertical) lanes per instruction.
 *
 * Both kernels compute exactly Pillow's integer arithmetic: 32-bit wrap-around multiply-adds of
 * bytes by 22-bit fixed-point weights, starting from one half, then an arithmetic shift right by 22
 * and saturation to 0..255 (the saturating narrows do Pillow's clip8).
 *
 * Memory contract (the caller lays it out): coefficient records, one per output column (horizontal)
 * or row (vertical), `stride` bytes apart: i32 byte offset of the first input, i32 tap count, 8
 * bytes padding, then one 16-byte record per tap holding the weight four times (pre-splatted).
 * Both kernels may read up to 16 bytes past the input and write up to 16 bytes past the output
 * (the horizontal one up to 3 rows more): the caller leaves that slack.
 */
import { addTo, EMPTY_BLOCK, get, I32, i32, name, section, set, tee, uleb, V128, vop as v, whileLessU } from '../wasm-bytes.ts';

// Binary-format opcodes used below (WebAssembly core and fixed-width SIMD specifications).
const op = {
  block: 0x02, loop: 0x03, br: 0x0c, brIf: 0x0d, end: 0x0b,
  i32Load: 0x28, i32Eqz: 0x45, i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c,
} as const;
const simd = {
  v128Load: 0, v128Store: 11, i32x4Splat: 17, v128Load32Zero: 92, v128Store8Lane: 88, v128Store16Lane: 89,
  i8x16NarrowI16x8U: 102, i16x8NarrowI32x4S: 133, i16x8ExtendLowI8x16U: 137, i16x8ExtendHighI8x16U: 138,
  i32x4ExtendLowI16x8U: 169, i32x4ExtendHighI16x8U: 170, i32x4ShrS: 172, i32x4Add: 174, i32x4Mul: 181,
} as const;
// Small instruction builders (the shared ones in wasm-bytes.ts); `memarg` is alignment exponent then offset.
const load32 = (offset: number) => [op.i32Load, 2, ...uleb(offset)];
/** `while (local !== 0) { body }`. */
const whileNonZero = (local: number, body: number[]) => [
  op.block, EMPTY_BLOCK, op.loop, EMPTY_BLOCK, ...get(local), op.i32Eqz, op.brIf, 1, ...body, op.br, 0, op.end, op.end,
];

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

/**
 * horizontal(src, srcRowBytes, rows, out, outWidth, coef, stride): four rows at a time, since all
 * rows share one output pixel's taps and weights; a pixel's 3 bytes (plus one ignored) ride in the
 * 4 lanes of one vector. The last group may run up to 3 rows past `rows`: the caller leaves 3 rows
 * of slack after the input and the output.
 */
function horizontalBody(): number[] {
  const [src, rowBytes, rows, out, outWidth, coef, stride] = [0, 1, 2, 3, 4, 5, 6];
  const [y, x, p, n, w, rec, rowBase, o, outRowBytes] = [7, 8, 9, 10, 11, 12, 13, 14, 15];
  const [a0, a1, a2, a3, wt] = [16, 17, 18, 19, 20];
  const locals = [2, 9, I32, 5, V128]; // 2 groups: 9 x i32, 5 x v128
  const accumulate = (a: number, row: number) => [
    ...get(a),
    ...get(p), ...get(rowBytes), ...i32(row), op.i32Mul, op.i32Add,
    ...v(simd.v128Load32Zero, 0, 0), ...v(simd.i16x8ExtendLowI8x16U), ...v(simd.i32x4ExtendLowI16x8U),
    ...get(wt), ...v(simd.i32x4Mul), ...v(simd.i32x4Add), ...set(a),
  ];
  const tap = [
    ...get(w), ...v(simd.v128Load, 4, 0), ...set(wt),
    ...accumulate(a0, 0), ...accumulate(a1, 1), ...accumulate(a2, 2), ...accumulate(a3, 3),
    ...addTo(p, i32(3)), ...addTo(w, i32(16)), ...get(n), ...i32(1), op.i32Sub, ...set(n),
  ];
  // Exactly 3 bytes per pixel (a 16-bit and an 8-bit lane store): a 4-byte store at a row's end
  // would clobber the first byte of the next row, which this group has already written.
  const address = (row: number, offset: number) => [...get(o), ...get(outRowBytes), ...i32(row), op.i32Mul, op.i32Add, ...i32(offset), op.i32Add];
  const store = (a: number, row: number) => [
    ...get(a), ...i32(PRECISION_BITS), ...v(simd.i32x4ShrS), ...tee(a), ...get(a), ...v(simd.i16x8NarrowI32x4S),
    ...tee(a), ...get(a), ...v(simd.i8x16NarrowI16x8U), ...set(a),
    ...address(row, 0), ...get(a), ...v(simd.v128Store16Lane, 0, 0, 0),
    ...address(row, 2), ...get(a), ...v(simd.v128Store8Lane, 0, 0, 2),
  ];
  const pixel = [
    ...get(rowBase), ...get(rec), ...load32(0), op.i32Add, ...set(p),
    ...get(rec), ...load32(4), ...set(n),
    ...get(rec), ...i32(16), op.i32Add, ...set(w),
    ...i32(HALF), ...v(simd.i32x4Splat), ...tee(a0), ...tee(a1), ...tee(a2), ...set(a3),
    ...whileNonZero(n, tap),
    ...store(a0, 0), ...store(a1, 1), ...store(a2, 2), ...store(a3, 3),
    ...addTo(o, i32(3)), ...addTo(rec, get(stride)), ...addTo(x, i32(1)),
  ];
  const rowGroup = [
    ...get(src), ...get(y), ...get(rowBytes), op.i32Mul, op.i32Add, ...set(rowBase),
    ...get(out), ...get(y), ...get(outRowBytes), op.i32Mul, op.i32Add, ...set(o),
    ...get(coef), ...set(rec),
    ...i32(0), ...set(x),
    ...whileLessU(get(x), get(outWidth), pixel),
    ...addTo(y, i32(4)),
  ];
  return [
    ...locals,
    ...get(outWidth), ...i32(3), op.i32Mul, ...set(outRowBytes),
    ...whileLessU(get(y), get(rows), rowGroup),
    op.end,
  ];
}

/**
 * vertical(src, rowBytes, out, outHeight, coef, stride): 16 bytes of a row at a time, summed down
 * the window of input rows into four i32x4 accumulators kept in registers.
 */
function verticalBody(): number[] {
  const [src, rowBytes, out, outHeight, coef, stride] = [0, 1, 2, 3, 4, 5];
  const [y, j, rec, base, p, n, w, o] = [6, 7, 8, 9, 10, 11, 12, 13];
  const [a0, a1, a2, a3, px, lo, hi, wt] = [14, 15, 16, 17, 18, 19, 20, 21];
  const locals = [2, 8, I32, 8, V128]; // 2 groups: 8 x i32, 8 x v128
  const accumulate = (a: number, half: number[], widen: number) => [
    ...get(a), ...half, ...v(widen), ...get(wt), ...v(simd.i32x4Mul), ...v(simd.i32x4Add), ...set(a),
  ];
  const tap = [
    ...get(p), ...v(simd.v128Load, 0, 0), ...tee(px), ...v(simd.i16x8ExtendLowI8x16U), ...set(lo),
    ...get(px), ...v(simd.i16x8ExtendHighI8x16U), ...set(hi),
    ...get(w), ...v(simd.v128Load, 4, 0), ...set(wt),
    ...accumulate(a0, get(lo), simd.i32x4ExtendLowI16x8U),
    ...accumulate(a1, get(lo), simd.i32x4ExtendHighI16x8U),
    ...accumulate(a2, get(hi), simd.i32x4ExtendLowI16x8U),
    ...accumulate(a3, get(hi), simd.i32x4ExtendHighI16x8U),
    ...addTo(p, get(rowBytes)), ...addTo(w, i32(16)), ...get(n), ...i32(1), op.i32Sub, ...set(n),
  ];
  const shifted = (a: number) => [...get(a), ...i32(PRECISION_BITS), ...v(simd.i32x4ShrS)];
  const chunk = [
    ...i32(HALF), ...v(simd.i32x4Splat), ...tee(a0), ...tee(a1), ...tee(a2), ...set(a3),
    ...get(base), ...get(j), op.i32Add, ...set(p),
    ...get(rec), ...load32(4), ...set(n),
    ...get(rec), ...i32(16), op.i32Add, ...set(w),
    ...whileNonZero(n, tap),
    ...get(o), ...get(j), op.i32Add,
    ...shifted(a0), ...shifted(a1), ...v(simd.i16x8NarrowI32x4S),
    ...shifted(a2), ...shifted(a3), ...v(simd.i16x8NarrowI32x4S),
    ...v(simd.i8x16NarrowI16x8U),
    ...v(simd.v128Store, 0, 0),
    ...addTo(j, i32(16)),
  ];
  const row = [
    ...get(coef), ...get(y), ...get(stride), op.i32Mul, op.i32Add, ...set(rec),
    ...get(src), ...get(rec), ...load32(0), op.i32Add, ...set(base),
    ...get(out), ...get(y), ...get(rowBytes), op.i32Mul, op.i32Add, ...set(o),
    ...i32(0), ...set(j),
    ...whileLessU(get(j), get(rowBytes), chunk),
    ...addTo(y, i32(1)),
  ];
  return [...locals, ...whileLessU(get(y), get(outHeight), row), op.end];
}

function assemble(): Uint8Array<ArrayBuffer> {
  const funcType = (params: number) => [0x60, ...uleb(params), ...Array<number>(params).fill(I32), 0];
  const bodies = [horizontalBody(), verticalBody()];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [2, ...funcType(7), ...funcType(6)]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]),
    ...section(3, [2, 0, 1]),
    ...section(7, [2, ...name('horizontal'), 0x00, 0, ...name('vertical'), 0x00, 1]),
    ...section(10, [2, ...bodies.flatMap((b) => [...uleb(b.length), ...b])]),
  ];
  return new Uint8Array(bytes);
}

export interface ResampleKernels {
  horizontal(src: number, srcRowBytes: number, rows: number, out: number, outWidth: number, coef: number, stride: number): void;
  vertical(src: number, rowBytes: number, out: number, outHeight: number, coef: number, stride: number): void;
}

let compiled: WebAssembly.Module | undefined;

/** The kernels bound to `memory` (compiled once per process, instantiated per memory). */
export function resampleKernels(memory: WebAssembly.Memory): ResampleKernels {
  compiled ??= new WebAssembly.Module(assemble());
  return new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as ResampleKernels;
}
