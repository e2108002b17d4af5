/**
 * The view's postprocessing inner loops (view-masks.ts) as a small WebAssembly SIMD module
 * assembled here from opcodes. Scalar JavaScript spent 7-10 ns per output pixel on them on a
 * 2-core Xeon (a 1024x768 view of four all-edge candidates: about 30 ms). The arithmetic is
 * float32, each operation rounded as JavaScript rounds it with Math.fround (view-masks.ts does
 * exactly that where it evaluates pixels itself), so every pixel is the same either way.
 *
 * rows(lowRes, yBase, yW0, yW1, yW2, xBase, xRunEnd, xW0, xW1, xW2, v, out, xa, xb, ya, yb, cLo, cHi),
 * all byte addresses into the memory. For each output row y in [ya, yb):
 *   v[c] = (yW0[y] * lowRes[by][c] + yW1[y] * lowRes[min(by + 1, 255)][c]) + yW2[y] * lowRes[min(by + 2, 255)][c]
 *     for c in [cLo, cHi] (four at a time: up to 3 more are written, and read from the planes
 *     past cHi), with by = yBase[y]; v[256] = v[257] = 0 (a clamped tap's cell, weight 0);
 *   out[(y - ya) * (xb - xa) + x - xa] = (xW0[x] * v[b] + xW1[x] * v[b + 1]) + xW2[x] * v[b + 2] > 0
 *     for x in [xa, xb), b = xBase[x] (one byte, 0 or 1): a run of columns sharing b (up to
 *     xRunEnd[x]) four at a time, its three taps splatted; the lanes past a run's end are written
 *     and then overwritten by the next run, so up to 3 bytes past a row's end are written, and up
 *     to 3 weights past a table's end read.
 */
import { addTo, get, I32, i32, name, section, set, uleb, V128, vop, whileLessU } from './wasm-bytes.ts';

const op = {
  end: 0x0b, select: 0x1b, i32Load: 0x28, f32Load: 0x2a, f32Store: 0x38, f32Const: 0x43,
  i32GtU: 0x4b, i32LtU: 0x49, i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32Shl: 0x74,
} as const;
const simd = {
  v128Load: 0x00, v128Store: 0x0b, i8x16Splat: 0x0f, f32x4Splat: 0x13, f32x4Gt: 0x44, v128And: 0x4e,
  v128Store32Lane: 0x5a, i8x16NarrowI16x8S: 0x65, i16x8NarrowI32x4S: 0x85, f32x4Add: 0xe4, f32x4Mul: 0xe6,
} as const;
/** memory access: alignment exponent, offset */
const mem = (code: number, align: number, offset = 0) => [code, align, ...uleb(offset)];
const vmem = (code: number, align: number, offset = 0) => [...vop(code), align, ...uleb(offset)];
/** base + index * 2^shift */
const at = (base: number, index: number[], shift: number) => [...get(base), ...index, ...i32(shift), op.i32Shl, op.i32Add];

const LOW = 256;

function rowsBody(): number[] {
  const [lowRes, yBase, yW0, yW1, yW2, xBase, xRunEnd, xW0, xW1, xW2, v, out, xa, xb, ya, yb, cLo, cHi] = Array.from({ length: 18 }, (_, i) => i);
  const [y, x, c, by, ra, rb, rc, o, end, b] = Array.from({ length: 10 }, (_, i) => 18 + i);
  const [wa, wb, wc, p0, p1, p2, zero, one] = Array.from({ length: 8 }, (_, i) => 28 + i);
  const locals = [2, 10, I32, 8, V128];
  // a low-res row's byte address: lowRes + min(row, 255) * 256 * 4
  const rowAddress = (row: number[], target: number) => [
    ...i32(LOW - 1), ...row, ...row, ...i32(LOW - 1), op.i32GtU, op.select,
    ...i32(10), op.i32Shl, ...get(lowRes), op.i32Add, ...set(target),
  ];
  const splatF32 = (address: number[], target: number) => [...address, ...mem(op.f32Load, 2), ...vop(simd.f32x4Splat), ...set(target)];
  const tap = (row: number, weight: number) => [...get(weight), ...at(row, get(c), 2), ...vmem(simd.v128Load, 0), ...vop(simd.f32x4Mul)];
  const columns = [
    ...at(v, get(c), 2),
    ...tap(ra, wa), ...tap(rb, wb), ...vop(simd.f32x4Add), ...tap(rc, wc), ...vop(simd.f32x4Add),
    ...vmem(simd.v128Store, 0),
    ...addTo(c, i32(4)),
  ];
  const weight = (table: number, p: number) => [...at(table, get(x), 2), ...vmem(simd.v128Load, 0), ...get(p), ...vop(simd.f32x4Mul)];
  const pixels = [
    ...get(o), ...get(x), op.i32Add,
    ...weight(xW0, p0), ...weight(xW1, p1), ...vop(simd.f32x4Add), ...weight(xW2, p2), ...vop(simd.f32x4Add),
    ...get(zero), ...vop(simd.f32x4Gt),
    // lanes of all ones or all zeros -> bytes 0xff or 0 -> 1 or 0, the first four stored
    ...get(zero), ...vop(simd.i16x8NarrowI32x4S), ...get(zero), ...vop(simd.i8x16NarrowI16x8S), ...get(one), ...vop(simd.v128And),
    ...vmem(simd.v128Store32Lane, 0), 0,
    ...addTo(x, i32(4)),
  ];
  const run = [
    ...at(xBase, get(x), 2), ...mem(op.i32Load, 2), ...set(b),
    // end = min(xRunEnd[x], xb)
    ...at(xRunEnd, get(x), 2), ...mem(op.i32Load, 2), ...set(end),
    ...get(end), ...get(xb), ...get(end), ...get(xb), op.i32LtU, op.select, ...set(end),
    ...splatF32(at(v, get(b), 2), p0),
    ...splatF32([...at(v, get(b), 2), ...i32(4), op.i32Add], p1),
    ...splatF32([...at(v, get(b), 2), ...i32(8), op.i32Add], p2),
    ...whileLessU(get(x), get(end), pixels),
    ...get(end), ...set(x),
  ];
  const row = [
    ...at(yBase, get(y), 2), ...mem(op.i32Load, 2), ...set(by),
    ...rowAddress(get(by), ra),
    ...rowAddress([...get(by), ...i32(1), op.i32Add], rb),
    ...rowAddress([...get(by), ...i32(2), op.i32Add], rc),
    ...splatF32(at(yW0, get(y), 2), wa),
    ...splatF32(at(yW1, get(y), 2), wb),
    ...splatF32(at(yW2, get(y), 2), wc),
    ...get(cLo), ...set(c),
    ...whileLessU(get(c), [...get(cHi), ...i32(1), op.i32Add], columns),
    // the clamped taps' cells past the last column
    ...get(v), op.f32Const, 0, 0, 0, 0, ...mem(op.f32Store, 2, LOW * 4),
    ...get(v), op.f32Const, 0, 0, 0, 0, ...mem(op.f32Store, 2, (LOW + 1) * 4),
    // o = out + (y - ya) * (xb - xa) - xa: the row's byte for x is o + x
    ...get(out), ...get(y), ...get(ya), op.i32Sub, ...get(xb), ...get(xa), op.i32Sub, op.i32Mul, op.i32Add, ...get(xa), op.i32Sub, ...set(o),
    ...get(xa), ...set(x),
    ...whileLessU(get(x), get(xb), run),
    ...addTo(y, i32(1)),
  ];
  return [
    ...locals,
    op.f32Const, 0, 0, 0, 0, ...vop(simd.f32x4Splat), ...set(zero),
    ...i32(1), ...vop(simd.i8x16Splat), ...set(one),
    ...get(ya), ...set(y),
    ...whileLessU(get(y), get(yb), row),
    op.end,
  ];
}

function assemble(): Uint8Array<ArrayBuffer> {
  const body = rowsBody();
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, ...uleb(18), ...Array<number>(18).fill(I32), 0]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('rows'), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ];
  return new Uint8Array(bytes);
}

export interface ViewKernels {
  rows(lowRes: number, yBase: number, yW0: number, yW1: number, yW2: number, xBase: number, xRunEnd: number, xW0: number, xW1: number, xW2: number, v: number, out: number, xa: number, xb: number, ya: number, yb: number, cLo: number, cHi: number): void;
}

let compiled: WebAssembly.Module | undefined;

/** The kernel bound to `memory` (compiled once per process, instantiated per memory). */
export function viewKernels(memory: WebAssembly.Memory): ViewKernels {
  compiled ??= new WebAssembly.Module(assemble());
  return new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as ViewKernels;
}
