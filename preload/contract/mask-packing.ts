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

/** `data` (0/1 bytes) as runs or bits, whichever takes fewer bytes. */
export function packMaskData(data: Uint8Array): Uint8Array {
  const n = data.length;
  let runBytes = 0;
  let current = 0;
  let run = 0;
  const varintSize = (v: number) => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);
  for (let i = 0; i < n; i++) {
    const bit = data[i] ? 1 : 0;
    if (bit === current) { run++; continue; }
    runBytes += varintSize(run);
    current = bit;
    run = 1;
  }
  runBytes += varintSize(run);
  const bitBytes = (n + 7) >> 3;
  if (runBytes <= bitBytes) {
    const out = new Uint8Array(1 + runBytes);
    out[0] = RUNS;
    let o = 1;
    const put = (v: number) => {
      while (v >= 0x80) { out[o++] = (v & 0x7f) | 0x80; v = Math.floor(v / 128); }
      out[o++] = v;
    };
    current = 0;
    run = 0;
    for (let i = 0; i < n; i++) {
      const bit = data[i] ? 1 : 0;
      if (bit === current) { run++; continue; }
      put(run);
      current = bit;
      run = 1;
    }
    put(run);
    return out;
  }
  const out = new Uint8Array(1 + bitBytes);
  out[0] = BITS;
  for (let i = 0; i < n; i++) if (data[i]) out[1 + (i >> 3)]! |= 1 << (i & 7);
  return out;
}

/** The 0/1 bytes of `length` samples from `packMaskData`'s output; throws on a malformed body. */
export function unpackMaskData(packed: Uint8Array, length: number): Uint8Array {
  const data = new Uint8Array(length);
  // kinds as literals (RUNS 1, BITS 2): this function's source text runs in the test page too
  if (packed[0] === 2) {
    if (packed.length !== 1 + ((length + 7) >> 3)) throw new Error(`packed mask: ${packed.length - 1} bytes of bits for ${length} samples`);
    for (let i = 0; i < length; i++) data[i] = (packed[1 + (i >> 3)]! >> (i & 7)) & 1;
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
