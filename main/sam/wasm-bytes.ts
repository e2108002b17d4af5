/**
 * Encoding helpers of the WebAssembly binary format, and the few instruction builders both
 * modules assembled here from opcodes share (resample-kernels.ts, view-kernels.ts).
 */

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** A section: its id, its byte length, its content. */
export function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** A name as the binary format writes it: its length, then its bytes. */
export const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'latin1')];

/** Value types and the empty block type. */
export const I32 = 0x7f;
export const V128 = 0x7b;
export const EMPTY_BLOCK = 0x40;

const LOCAL_GET = 0x20, LOCAL_SET = 0x21, LOCAL_TEE = 0x22, I32_CONST = 0x41, I32_ADD = 0x6a, I32_GE_U = 0x4f;
const BLOCK = 0x02, LOOP = 0x03, BR = 0x0c, BR_IF = 0x0d, END = 0x0b;

export const get = (i: number): number[] => [LOCAL_GET, i];
export const set = (i: number): number[] => [LOCAL_SET, i];
export const tee = (i: number): number[] => [LOCAL_TEE, i];
export const i32 = (v: number): number[] => [I32_CONST, ...sleb(v)];
/** A SIMD instruction: the 0xfd prefix, its code, its immediates. */
export const vop = (code: number, ...immediates: number[]): number[] => [0xfd, ...uleb(code), ...immediates];
/** `local += amount` (i32) */
export const addTo = (local: number, amount: number[]): number[] => [...get(local), ...amount, I32_ADD, ...set(local)];
/** `while (a < b) { body }` with unsigned compare; labels: 0 = loop, 1 = block inside the body. */
export const whileLessU = (a: number[], b: number[], body: number[]): number[] => [
  BLOCK, EMPTY_BLOCK, LOOP, EMPTY_BLOCK, ...a, ...b, I32_GE_U, BR_IF, 1, ...body, BR, 0, END, END,
];
