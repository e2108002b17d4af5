/**
 * The view's postprocessing inner loops (view-masks.ts) as a small WebAssembly module assembled
 * here from opcodes. JavaScript spent 7-10 ns per output pixel on them on a 2-core Xeon (a
 * 1024x768 view of four all-edge candidates: about 30 ms); these loops do the same float64
 * arithmetic in the same order (WebAssembly neither fuses nor reorders it), so every pixel is the
 * same bit for bit.
 *
 * rows(lowRes, yBase, yW0, yW1, yW2, xBase, xW0, xW1, xW2, v, out, ends, xa, xb, ya, yb, cLo, cHi),
 * all byte addresses into the memory. For each output row y in [ya, yb):
 *   v[c] = yW0[y] * lowRes[by][c] + yW1[y] * lowRes[min(by + 1, 255)][c] + yW2[y] * lowRes[min(by + 2, 255)][c]
 *     for c in [cLo, cHi], with by = yBase[y] (lowRes float32, 256 x 256; v and the weights float64);
 *   out[(y - ya) * (xb - xa) + x - xa] = xW0[x] * v[b] + xW1[x] * v[b + 1] + xW2[x] * v[b + 2] > 0
 *     for x in [xa, xb), with b = xBase[x] (one byte, 0 or 1);
 *   ends[2 * (y - ya)], ends[2 * (y - ya) + 1] = the row's first and last inside x (int32; -1, -1 if none).
 */
import { name, section, sleb, uleb } from './wasm-bytes.ts';

const op = {
  block: 0x02, loop: 0x03, br: 0x0c, brIf: 0x0d, end: 0x0b, select: 0x1b,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, f32Load: 0x2a, f64Load: 0x2b, i32Store: 0x36, f64Store: 0x39, i32Store8: 0x3a,
  i32Const: 0x41, i32LtS: 0x48, i32GeU: 0x4f, i32GtU: 0x4b,
  f64Gt: 0x64,
  i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32And: 0x71, i32Shl: 0x74,
  f64Add: 0xa0, f64Mul: 0xa2, f64PromoteF32: 0xbb,
} as const;
const I32 = 0x7f;
const F64 = 0x7c;
const EMPTY_BLOCK = 0x40;
/** f64.const 0 */
const F64_ZERO = [0x44, 0, 0, 0, 0, 0, 0, 0, 0];

const get = (i: number) => [op.localGet, i];
const set = (i: number) => [op.localSet, i];
const i32 = (v: number) => [op.i32Const, ...sleb(v)];
/** memory access: alignment exponent, offset 0 */
const mem = (code: number, align: number) => [code, align, 0];
const addTo = (local: number, amount: number[]) => [...get(local), ...amount, op.i32Add, ...set(local)];
/** base + index * size */
const at = (base: number, index: number[], shift: number) => [...get(base), ...index, ...i32(shift), op.i32Shl, op.i32Add];
/** `while (a < b) { body }`, unsigned */
const whileLessU = (a: number[], b: number[], body: number[]) => [
  op.block, EMPTY_BLOCK, op.loop, EMPTY_BLOCK, ...a, ...b, op.i32GeU, op.brIf, 1, ...body, op.br, 0, op.end, op.end,
];

const LOW = 256;

function rowsBody(): number[] {
  const [lowRes, yBase, yW0, yW1, yW2, xBase, xW0, xW1, xW2, v, out, ends, xa, xb, ya, yb, cLo, cHi] = Array.from({ length: 18 }, (_, i) => i);
  const [y, x, c, by, ra, rb, rc, o, first, last, inside, bx] = Array.from({ length: 12 }, (_, i) => 18 + i);
  const [wa, wb, wc] = [30, 31, 32];
  const locals = [2, 12, I32, 3, F64];
  // a low-res row's byte address: lowRes + min(row, 255) * 256 * 4
  const rowAddress = (row: number[], target: number) => [
    ...i32(LOW - 1), ...row, ...row, ...i32(LOW - 1), op.i32GtU, op.select,
    ...i32(10), op.i32Shl, ...get(lowRes), op.i32Add, ...set(target),
  ];
  const tap = (row: number, weight: number) => [...get(weight), ...at(row, get(c), 2), ...mem(op.f32Load, 2), op.f64PromoteF32, op.f64Mul];
  const column = [
    ...at(v, get(c), 3),
    ...tap(ra, wa), ...tap(rb, wb), op.f64Add, ...tap(rc, wc), op.f64Add,
    ...mem(op.f64Store, 3),
    ...addTo(c, i32(1)),
  ];
  const weight = (table: number, k: number) => [
    ...at(table, get(x), 3), ...mem(op.f64Load, 3),
    ...get(bx), ...i32(8 * k), op.i32Add, ...mem(op.f64Load, 3),
    op.f64Mul,
  ];
  const pixel = [
    // bx = v + xBase[x] * 8
    ...at(v, [...at(xBase, get(x), 2), ...mem(op.i32Load, 2)], 3), ...set(bx),
    ...get(o), ...get(x), op.i32Add,
    ...weight(xW0, 0), ...weight(xW1, 1), op.f64Add, ...weight(xW2, 2), op.f64Add,
    ...F64_ZERO, op.f64Gt, op.localTee, inside,
    ...mem(op.i32Store8, 0),
    // last = inside ? x : last; first = inside && first < 0 ? x : first
    ...get(x), ...get(last), ...get(inside), op.select, ...set(last),
    ...get(x), ...get(first), ...get(inside), ...get(first), ...i32(0), op.i32LtS, op.i32And, op.select, ...set(first),
    ...addTo(x, i32(1)),
  ];
  const row = [
    ...at(yBase, get(y), 2), ...mem(op.i32Load, 2), ...set(by),
    ...rowAddress(get(by), ra),
    ...rowAddress([...get(by), ...i32(1), op.i32Add], rb),
    ...rowAddress([...get(by), ...i32(2), op.i32Add], rc),
    ...at(yW0, get(y), 3), ...mem(op.f64Load, 3), ...set(wa),
    ...at(yW1, get(y), 3), ...mem(op.f64Load, 3), ...set(wb),
    ...at(yW2, get(y), 3), ...mem(op.f64Load, 3), ...set(wc),
    ...get(cLo), ...set(c),
    ...whileLessU(get(c), [...get(cHi), ...i32(1), op.i32Add], column),
    // o = out + (y - ya) * (xb - xa) - xa: the row's byte for x is o + x
    ...get(out), ...get(y), ...get(ya), op.i32Sub, ...get(xb), ...get(xa), op.i32Sub, op.i32Mul, op.i32Add, ...get(xa), op.i32Sub, ...set(o),
    ...i32(-1), ...set(first), ...i32(-1), ...set(last),
    ...get(xa), ...set(x),
    ...whileLessU(get(x), get(xb), pixel),
    ...at(ends, [...get(y), ...get(ya), op.i32Sub], 3), ...get(first), ...mem(op.i32Store, 2),
    ...at(ends, [...get(y), ...get(ya), op.i32Sub], 3), ...i32(4), op.i32Add, ...get(last), ...mem(op.i32Store, 2),
    ...addTo(y, i32(1)),
  ];
  return [...locals, ...get(ya), ...set(y), ...whileLessU(get(y), get(yb), row), op.end];
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
  rows(lowRes: number, yBase: number, yW0: number, yW1: number, yW2: number, xBase: number, xW0: number, xW1: number, xW2: number, v: number, out: number, ends: number, xa: number, xb: number, ya: number, yb: number, cLo: number, cHi: number): void;
}

let compiled: WebAssembly.Module | undefined;

/** The kernel bound to `memory` (compiled once per process, instantiated per memory). */
export function viewKernels(memory: WebAssembly.Memory): ViewKernels {
  compiled ??= new WebAssembly.Module(assemble());
  return new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as ViewKernels;
}
