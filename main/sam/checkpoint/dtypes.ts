/**
 * Stored element types to float32, bit-exact: float16 and bfloat16 widen to float32 without
 * rounding (subnormals, infinities and NaN payloads included), so the conversion works on bit
 * patterns rather than on numbers.
 */
import type { CheckpointDtype } from './types.ts';

export const bytesPerElement: Record<CheckpointDtype, number> = { float32: 4, float16: 2, bfloat16: 2 };

/** Where a tensor's elements sit in its storage, in elements (torch's size/stride/offset). */
export interface StridedLayout {
  shape: number[];
  stride: number[];
  offset: number;
}

let halfToFloatBitsTable: Uint32Array | undefined;

function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >> 10) & 0x1f;
  let mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // Subnormal half: every one is a normal float32; shift the leading 1 into the implicit bit.
  let floatExponent = 113;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    floatExponent--;
  }
  return (sign | (floatExponent << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

/** float16 bits -> float32 bits, all 65536 of them (256 KiB, built on first use). */
function halfTable(): Uint32Array {
  if (!halfToFloatBitsTable) {
    halfToFloatBitsTable = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) halfToFloatBitsTable[h] = halfToFloatBits(h);
  }
  return halfToFloatBitsTable;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Highest storage element the layout touches, or -1 when the tensor is empty. */
export function lastElementIndex(layout: StridedLayout): number {
  if (elementCount(layout.shape) === 0) return -1;
  return layout.shape.reduce((last, size, d) => last + (size - 1) * layout.stride[d]!, layout.offset);
}

/**
 * True when no two elements of the layout share a storage element (no stride 0 over a size above
 * 1, no dimension stepping inside another's extent). A layout that overlaps reads more elements
 * than its storage holds, so a few bytes of file could ask for gigabytes of float32 output.
 */
export function isNonOverlapping(layout: StridedLayout): boolean {
  const dims = layout.shape.map((size, d) => ({ size, stride: layout.stride[d]! })).filter((d) => d.size > 1);
  if (dims.length === 0) return true;
  dims.sort((a, b) => a.stride - b.stride);
  let extent = 1; // storage elements spanned by the dimensions with smaller strides
  for (const { size, stride } of dims) {
    if (stride < extent) return false;
    extent = stride * (size - 1) + extent;
  }
  return true;
}

export function isContiguous(layout: StridedLayout): boolean {
  let expected = 1;
  for (let d = layout.shape.length - 1; d >= 0; d--) {
    const size = layout.shape[d]!;
    if (size !== 1 && layout.stride[d] !== expected) return false;
    expected *= size;
  }
  return true;
}

/**
 * Visits the layout's elements in C order: calls `copyRow(outStart, sourceStart, length, sourceStep)`
 * once per innermost row, so the per-element loop stays free of index arithmetic.
 */
function forEachRow(
  layout: StridedLayout,
  copyRow: (outStart: number, sourceStart: number, length: number, sourceStep: number) => void,
): void {
  const total = elementCount(layout.shape);
  if (total === 0) return;
  if (isContiguous(layout)) {
    copyRow(0, layout.offset, total, 1);
    return;
  }
  const rank = layout.shape.length;
  const rowLength = layout.shape[rank - 1]!;
  const rowStep = layout.stride[rank - 1]!;
  const index = new Array<number>(rank - 1).fill(0);
  let sourceStart = layout.offset;
  for (let outStart = 0; outStart < total; outStart += rowLength) {
    copyRow(outStart, sourceStart, rowLength, rowStep);
    for (let d = rank - 2; d >= 0; d--) {
      index[d]!++;
      sourceStart += layout.stride[d]!;
      if (index[d]! < layout.shape[d]!) break;
      sourceStart -= layout.stride[d]! * layout.shape[d]!;
      index[d] = 0;
    }
  }
}

/**
 * Gathers one tensor out of its storage's raw little-endian bytes into a new contiguous C-order
 * float32 array. The caller has checked that the layout stays inside the storage.
 */
export function gatherFloat32(raw: Uint8Array, dtype: CheckpointDtype, layout: StridedLayout): Float32Array {
  const out = new Float32Array(elementCount(layout.shape));
  const outBits = new Uint32Array(out.buffer);
  const aligned = raw.byteOffset % 4 === 0 ? raw : raw.slice();
  if (dtype === 'float32') {
    const source = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >> 2);
    forEachRow(layout, (outStart, sourceStart, length, step) => {
      if (step === 1) {
        outBits.set(source.subarray(sourceStart, sourceStart + length), outStart);
        return;
      }
      for (let i = 0; i < length; i++) outBits[outStart + i] = source[sourceStart + i * step]!;
    });
    return out;
  }
  const source = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >> 1);
  if (dtype === 'float16') {
    const table = halfTable();
    forEachRow(layout, (outStart, sourceStart, length, step) => {
      for (let i = 0; i < length; i++) outBits[outStart + i] = table[source[sourceStart + i * step]!]!;
    });
    return out;
  }
  forEachRow(layout, (outStart, sourceStart, length, step) => {
    for (let i = 0; i < length; i++) outBits[outStart + i] = source[sourceStart + i * step]! << 16;
  });
  return out;
}
