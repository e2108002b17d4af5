/**
 * Mask views as they cross from the main process to the window. A view's `data` is one byte per
 * sample, 0 or 1; on the wire it is packed as whichever is smaller: the lengths of its runs
 * (outside first, LEB128 varints: a 320x240 disc is 719 bytes), or one
 * bit per sample (a noisy mask: an eighth of its size). The main process packs every answer
 * (`packMaskViews`) and the preload unpacks it (`unpackMaskViews`), so the window and every
 * handler see plain `MaskView`s; only the bytes copied between processes shrink.
 * No imports and no module state: the test harness injects `unpackMaskData` and
 * `unpackMaskViews` into the page as source text.
 */

/** A packed view's `packed` bytes: a kind byte, then the body. */
const RUNS = 1;
const BITS = 2;

/** Whether `value` is a MaskView (`data` one byte per sample). */
function isMaskView(value: Record<string, unknown>): boolean {
  return value.data instanceof Uint8Array && typeof value.step === 'number' && typeof value.width === 'number' && typeof value.height === 'number';
}

/**
 * Four samples (a little-endian word of `data`) as four 0/1 bytes: each byte's bits ORed into its
 * lowest bit (the shifts stay within the byte for that bit), so any nonzero sample is inside.
 */
function insideBytes(w: number): number {
  let t = w | (w >>> 4);
  t |= t >>> 2;
  t |= t >>> 1;
  return t & 0x01010101;
}

/** Four 0/1 bytes as four bits, the first sample lowest: each byte moved by one product. */
function bitsOfWord(t: number): number {
  return (Math.imul(t, 0x01020408) >>> 24) & 15;
}

/** Writes `v` as a LEB128 varint at `o`; returns the offset after it, or 0 where `out` ends first. */
function putVarint(out: Uint8Array, o: number, v: number): number {
  for (;; v = Math.floor(v / 128)) {
    if (o === out.length) return 0;
    if (v < 0x80) { out[o++] = v; return o; }
    out[o++] = (v & 0x7f) | 0x80;
  }
}

/**
 * `data` (0/1 bytes) as runs or bits, whichever takes fewer bytes. Reads four samples a word: a
 * smooth mask's long runs go by whole words, and the runs are given up for bits as soon as they
 * would take more bytes than bits (a noisy mask: within its first quarter).
 */
export function packMaskData(data: Uint8Array): Uint8Array {
  const n = data.length;
  const bitBytes = (n + 7) >> 3;
  // word reads (little-endian, as every platform the app runs on) need a 4-aligned start: a
  // view elsewhere in its buffer is copied once
  const bytes = data.byteOffset % 4 === 0 ? data : data.slice();
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, n >> 2);
  const runs = new Uint8Array(1 + bitBytes);
  runs[0] = RUNS;
  let o = 1;
  let current = 0;
  let run = 0;
  // o falls to 0 once the runs would not be smaller than the bits
  for (let i = 0; i < n && o > 0;) {
    if ((i & 3) === 0) {
      // whole words of the current run (0/1 samples; any other byte ends the skip)
      const pattern = current ? 0x01010101 : 0;
      let k = i >> 2;
      while (k < words.length && words[k] === pattern) k++;
      if (k > i >> 2) { run += 4 * k - i; i = 4 * k; continue; }
    }
    const bit = bytes[i++] ? 1 : 0;
    if (bit === current) { run++; continue; }
    o = putVarint(runs, o, run);
    current = bit;
    run = 1;
  }
  if (o > 0) o = putVarint(runs, o, run);
  if (o > 0) return runs.slice(0, o);
  const out = new Uint8Array(1 + bitBytes);
  out[0] = BITS;
  const whole = n >> 3;
  for (let j = 0; j < whole; j++) out[1 + j] = bitsOfWord(insideBytes(words[2 * j]!)) | (bitsOfWord(insideBytes(words[2 * j + 1]!)) << 4);
  for (let i = whole * 8; i < n; i++) out[1 + (i >> 3)]! |= (bytes[i] ? 1 : 0) << (i & 7);
  return out;
}

/** The 0/1 bytes of `length` samples from `packMaskData`'s output; throws on a malformed body. */
export function unpackMaskData(packed: Uint8Array, length: number): Uint8Array {
  const data = new Uint8Array(length);
  // kinds as literals (RUNS 1, BITS 2): this function's source text runs in the test page too
  if (packed[0] === 2) {
    if (packed.length !== 1 + ((length + 7) >> 3)) throw new Error(`packed mask: ${packed.length - 1} bytes of bits for ${length} samples`);
    // each packed byte's two nibbles as two little-endian words of four 0/1 bytes: the product
    // with 1 + 2^7 + 2^14 + 2^21 puts bit k at 8k (every other copy lands off the bytes' lowest bits)
    const words = new Int32Array(data.buffer, 0, length >> 2);
    const whole = length >> 3;
    for (let j = 0; j < whole; j++) {
      const b = packed[1 + j]!;
      words[2 * j] = Math.imul(b & 15, 0x00204081) & 0x01010101;
      words[2 * j + 1] = Math.imul(b >> 4, 0x00204081) & 0x01010101;
    }
    for (let i = whole * 8; i < length; i++) data[i] = (packed[1 + (i >> 3)]! >> (i & 7)) & 1;
    return data;
  }
  if (packed[0] !== 1) throw new Error(`packed mask: unknown kind ${packed[0]}`);
  let o = 0;
  let inside = 0;
  for (let p = 1; p < packed.length;) {
    let v = 0;
    let scale = 1;
    for (;;) {
      const b = packed[p++];
      if (b === undefined) throw new Error('packed mask: a run length is cut short');
      v += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) break;
    }
    if (o + v > length) throw new Error(`packed mask: runs cover more than ${length} samples`);
    if (inside) data.fill(1, o, o + v);
    o += v;
    inside ^= 1;
  }
  if (o !== length) throw new Error(`packed mask: runs cover ${o} of ${length} samples`);
  return data;
}

/**
 * `value` with every MaskView in it (at any depth of plain objects and arrays) carrying `packed`
 * instead of `data`; everything else is shared, not copied.
 */
export function packMaskViews<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => packMaskViews(v)) as T;
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  const obj = value as Record<string, unknown>;
  if (isMaskView(obj)) {
    const { data, ...rest } = obj;
    return { ...rest, packed: packMaskData(data as Uint8Array) } as T;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = packMaskViews(v);
  return out as T;
}

/**
 * The inverse of `packMaskViews`. It calls nothing but `unpackMaskData`: the test harness puts
 * the source text of both into the page.
 */
export function unpackMaskViews<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => unpackMaskViews(v)) as T;
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  const obj = value as Record<string, unknown>;
  if (obj.packed instanceof Uint8Array && typeof obj.step === 'number' && typeof obj.width === 'number' && typeof obj.height === 'number') {
    const { packed, ...rest } = obj as { packed: Uint8Array; step: number; width: number; height: number };
    return { ...rest, data: unpackMaskData(packed, Math.ceil(rest.width / rest.step) * Math.ceil(rest.height / rest.step)) } as T;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = unpackMaskViews(v);
  return out as T;
}
