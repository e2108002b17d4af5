/**
 * Pillow's bilinear resampling for 8-bit RGB, reproduced bit for bit, because SAM's reference
 * preprocessing (ResizeLongestSide) resizes with PIL and the encoder's fidelity tests compare
 * against arrays PIL produced.
 *
 * How Pillow resamples (libImaging/Resample.c): each output pixel of a pass is a weighted sum of a
 * window of input pixels. The window is centred on `center = (x + 0.5) * scale` in input
 * coordinates and, when shrinking, widened by the scale so the triangle filter also low-passes
 * (antialiasing). Weights are normalised, turned into 22-bit fixed point, and each sum starts at
 * one half so the final shift rounds. The horizontal pass runs first into an 8-bit intermediate,
 * then the vertical pass, each skipped when its size does not change.
 * This file computes the coefficients exactly as Pillow does (in float64, like its C doubles) and
 * lays out memory; the multiply-add loops run in WebAssembly SIMD (resample-kernels.ts).
 */
import { resampleKernels, type ResampleKernels } from './resample-kernels.ts';
import type { RgbImage } from './types.ts';

const PRECISION_BITS = 32 - 8 - 2;
const BILINEAR_SUPPORT = 1;

/** Integer weights for one pass: output pixel i reads `size[i]` inputs from `start[i]`. */
interface PassCoefficients {
  start: Int32Array;
  size: Int32Array;
  /** `maxSize` weights per output pixel, fixed point with PRECISION_BITS fractional bits. */
  weights: Int32Array;
  maxSize: number;
}

function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/** Pillow rounds the normalised weight half away from zero before truncating to int. */
function toFixedPoint(w: number): number {
  return Math.trunc(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
}

function passCoefficients(inSize: number, outSize: number): PassCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = BILINEAR_SUPPORT * filterScale;
  const maxSize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const size = new Int32Array(outSize);
  const weights = new Int32Array(outSize * maxSize);
  const ss = 1 / filterScale;
  const k = new Float64Array(maxSize);
  for (let x = 0; x < outSize; x++) {
    const center = (x + 0.5) * scale;
    // Pillow truncates with a C int cast; both bounds are non-negative here except xmin's
    // argument, which it clamps to 0 right after.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let i = 0; i < xmax; i++) {
      const w = triangle((i + xmin - center + 0.5) * ss);
      k[i] = w;
      total += w;
    }
    for (let i = 0; i < xmax; i++) {
      weights[x * maxSize + i] = toFixedPoint(total !== 0 ? k[i]! / total : 0);
    }
    start[x] = xmin;
    size[x] = xmax;
  }
  return { start, size, weights, maxSize };
}

const TAP_BYTES = 16;
const RECORD_HEADER_BYTES = 16;
/** Room the kernels may read or write past the end of a buffer. */
const SLACK = 16;

const align16 = (n: number) => Math.ceil(n / 16) * 16;
const PAGE = 65536;

/**
 * A memory kept between calls, so repeated resizes do not pay for fresh pages each time (faulting
 * in a new 36 MB buffer cost about 25 ms of CPU, as much as the resampling of a 12 MP photo).
 * It is capped at 64 MiB, enough for 12 MP photos, so an idle process holds little; larger jobs get
 * a memory of their own, freed with the call.
 */
const KEPT_MEMORY_LIMIT = 64 * 2 ** 20;
let kept: { memory: WebAssembly.Memory; kernels: ResampleKernels } | undefined;

function workspace(bytes: number): { memory: WebAssembly.Memory; kernels: ResampleKernels } {
  const pages = Math.ceil(bytes / PAGE);
  if (bytes > KEPT_MEMORY_LIMIT) {
    const memory = new WebAssembly.Memory({ initial: pages });
    return { memory, kernels: resampleKernels(memory) };
  }
  if (!kept) {
    const memory = new WebAssembly.Memory({ initial: pages });
    kept = { memory, kernels: resampleKernels(memory) };
  }
  const missing = pages - kept.memory.buffer.byteLength / PAGE;
  if (missing > 0) kept.memory.grow(missing);
  return kept;
}

/**
 * Lays one pass's coefficients out as the kernels read them (see resample-kernels.ts): per output
 * pixel, the byte offset of its first input, its tap count, then each weight splatted 4 times.
 */
function writeRecords(memory: ArrayBuffer, at: number, c: PassCoefficients, bytesPerStep: number): number {
  const stride = RECORD_HEADER_BYTES + c.maxSize * TAP_BYTES;
  const words = new Int32Array(memory, at, (c.start.length * stride) / 4);
  for (let i = 0; i < c.start.length; i++) {
    const r = (i * stride) / 4;
    words[r] = c.start[i]! * bytesPerStep;
    words[r + 1] = c.size[i]!;
    for (let t = 0; t < c.size[i]!; t++) words.fill(c.weights[i * c.maxSize + t]!, r + 4 + t * 4, r + 8 + t * 4);
  }
  return stride;
}

/** PIL `Image.resize((width, height), Image.BILINEAR)` for an RGB image, bit-exact. */
export function resizeBilinearPil(img: RgbImage, width: number, height: number): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`resize: target size must be positive integers, got ${width}x${height}`);
  }
  const horizontal = width !== img.width ? passCoefficients(img.width, width) : undefined;
  const vertical = height !== img.height ? passCoefficients(img.height, height) : undefined;
  if (!horizontal && !vertical) return { width, height, data: img.data.slice(), exifOrientation: img.exifOrientation };

  // WebAssembly memory laid out as: coefficients, input, intermediate, output.
  const recordsBytes = (c: PassCoefficients | undefined) => (c ? align16(c.start.length * (RECORD_HEADER_BYTES + c.maxSize * TAP_BYTES)) : 0);
  const inputBytes = img.width * img.height * 3;
  const middleBytes = horizontal && vertical ? width * img.height * 3 : 0;
  const outputBytes = width * height * 3;
  const hCoef = 0;
  const vCoef = hCoef + recordsBytes(horizontal);
  const input = vCoef + recordsBytes(vertical);
  // The horizontal kernel works on groups of 4 rows: 3 rows of slack after its input and output.
  const middle = input + align16(inputBytes + 3 * img.width * 3 + SLACK);
  const output = middle + align16(middleBytes + 3 * width * 3 + SLACK);
  const total = output + outputBytes + 3 * width * 3 + SLACK;
  const { memory, kernels } = workspace(total);
  new Uint8Array(memory.buffer, input, inputBytes).set(img.data);

  if (horizontal) {
    const stride = writeRecords(memory.buffer, hCoef, horizontal, 3);
    kernels.horizontal(input, img.width * 3, img.height, vertical ? middle : output, width, hCoef, stride);
  }
  if (vertical) {
    const stride = writeRecords(memory.buffer, vCoef, vertical, width * 3);
    kernels.vertical(horizontal ? middle : input, width * 3, output, height, vCoef, stride);
  }
  const data = new Uint8Array(memory.buffer, output, outputBytes).slice();
  return { width, height, data, exifOrientation: img.exifOrientation };
}

/** Size after SAM's ResizeLongestSide: scale = longSide / max(h, w); new = int(old * scale + 0.5). */
export function resizedSize(width: number, height: number, longSide = 1024): { width: number; height: number } {
  const scale = longSide / Math.max(width, height);
  return { width: Math.trunc(width * scale + 0.5), height: Math.trunc(height * scale + 0.5) };
}
