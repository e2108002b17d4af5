/**
 * The view's postprocessing: the same geometry as SamOnnxModel.mask_postprocessing (bilinear x4
 * to the 1024 frame, crop the pre-padding size, bilinear to the original size, threshold at 0),
 * with the two resizes composed into one linear map per axis (float32 weights). Each output
 * pixel is then a convex combination of at most 3x3 low-res logits (both resizes have
 * non-negative weights summing to one): a row's vertical combination, then three taps per pixel.
 * A mask's crop is computed pixel by pixel in WebAssembly SIMD (view-kernels.ts); the thinned view
 * of a large box evaluates its sampled pixels here, with the same float32 roundings (Math.fround),
 * and fills runs whose taps are all positive without arithmetic. The rounding differs from the
 * exact float32 path (postprocess.ts) only for logits within float error of 0: the masks agree by
 * the fixture's rule (tested). `segment` and the fidelity checks keep the exact path. SAM 2.1's
 * one resize (256 straight to the original size) takes the same form with two taps per axis.
 */
import type { MaskView } from '../../preload/contract/index.ts';
import type { MaskCrop } from './engine-api.ts';
import { axisTable, maskCropFromLowRes, prepaddedSize, sam2MaskCropFromLowRes } from './postprocess.ts';
import type { ModelFamily } from './model-dir.ts';
import { viewKernels, type ViewKernels } from './view-kernels.ts';

/**
 * How the UI's crops are postprocessed: `view` composes the two resizes (this file); `exact`
 * emulates the graph's float32 arithmetic (postprocess.ts), kept selectable so benchmarks can
 * measure one against the other.
 */
export type PredictPostprocess = 'view' | 'exact';

const LOW = 256;
const FRAME = 1024;
/** A candidate with no pixel inside. */
export const EMPTY_CROP: MaskCrop = { x: 0, y: 0, width: 0, height: 0, data: new Uint8Array(0) };

/**
 * Output index -> low-res taps `base`, `base + 1`, `base + 2` with weights w0..w2 (two adjacent
 * frame samples read low-res cells at most one apart, so three taps always suffice). `runEnd[o]`
 * is one past the last output index sharing `base[o]`, `runStart[o]` the first.
 */
interface ComposedAxis { base: Int32Array; w0: Float32Array; w1: Float32Array; w2: Float32Array; runEnd: Int32Array; runStart: Int32Array }

function composeAxis(pre: number, orig: number): ComposedAxis {
  const frame = axisTable(LOW, FRAME, 0, pre);
  const out = axisTable(pre, orig, 0, orig);
  const axis: ComposedAxis = { base: new Int32Array(orig), w0: new Float32Array(orig), w1: new Float32Array(orig), w2: new Float32Array(orig), runEnd: new Int32Array(orig), runStart: new Int32Array(orig) };
  const w = [0, 0, 0];
  for (let o = 0; o < orig; o++) {
    const fa = out.i0[o]!, fb = out.i1[o]!;
    const base = frame.i0[fa]!;
    w[0] = 0; w[1] = 0; w[2] = 0;
    w[frame.i0[fa]! - base]! += out.w0[o]! * frame.w0[fa]!;
    w[frame.i1[fa]! - base]! += out.w0[o]! * frame.w1[fa]!;
    w[frame.i0[fb]! - base]! += out.w1[o]! * frame.w0[fb]!;
    w[frame.i1[fb]! - base]! += out.w1[o]! * frame.w1[fb]!;
    axis.base[o] = base;
    axis.w0[o] = w[0]!; axis.w1[o] = w[1]!; axis.w2[o] = w[2]!;
  }
  return withRuns(axis);
}

/**
 * SAM 2.1's one resize, 256 straight to the original size (SAM2Transforms.postprocess_masks):
 * two taps, `base` and `base + 1` (the third weight 0), in the same form as SAM's composed axis.
 */
function directAxis(orig: number): ComposedAxis {
  const t = axisTable(LOW, orig, 0, orig);
  const axis: ComposedAxis = { base: new Int32Array(orig), w0: new Float32Array(orig), w1: new Float32Array(orig), w2: new Float32Array(orig), runEnd: new Int32Array(orig), runStart: new Int32Array(orig) };
  for (let o = 0; o < orig; o++) {
    axis.base[o] = t.i0[o]!;
    axis.w0[o] = t.w0[o]!;
    // the last cell's second tap is itself (clamped): its weight joins the first
    if (t.i1[o] === t.i0[o]) axis.w0[o] = t.w0[o]! + t.w1[o]!;
    else axis.w1[o] = t.w1[o]!;
  }
  return withRuns(axis);
}

function withRuns(axis: ComposedAxis): ComposedAxis {
  const n = axis.base.length;
  for (let o = n - 1; o >= 0; o--) axis.runEnd[o] = o + 1 < n && axis.base[o + 1] === axis.base[o] ? axis.runEnd[o + 1]! : o + 1;
  for (let o = 0; o < n; o++) axis.runStart[o] = o > 0 && axis.base[o - 1] === axis.base[o] ? axis.runStart[o - 1]! : o;
  return axis;
}

/** The axes of the last image size and family: the candidates of one click (and the next clicks) share them. */
let cached: { width: number; height: number; family: ModelFamily; x: ComposedAxis; y: ComposedAxis } | null = null;

function axesFor(width: number, height: number, family: ModelFamily): { x: ComposedAxis; y: ComposedAxis } {
  if (!cached || cached.width !== width || cached.height !== height || cached.family !== family) {
    if (family === 'sam2.1') {
      cached = { width, height, family, x: directAxis(width), y: directAxis(height) };
    } else {
      const pre = prepaddedSize(width, height);
      cached = { width, height, family, x: composeAxis(pre.width, width), y: composeAxis(pre.height, height) };
    }
  }
  return cached;
}

/** First output index whose base is >= `b` (bases never decrease along an axis). */
function firstWithBase(axis: { base: Int32Array }, b: number): number {
  let lo = 0, hi = axis.base.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (axis.base[mid]! < b) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One mask at the original size, cropped to its bounding box, from its 256x256 logit plane:
 * the view's counterpart of `maskCropFromLowRes`.
 */
export function viewMaskCrop(lowRes: Float32Array, width: number, height: number, family: ModelFamily = 'sam'): MaskCrop {
  const box = candidateBox(lowRes, width, height, family);
  return box ? cropInBox(lowRes, box) : EMPTY_CROP;
}

/**
 * The output pixels [xa, xb) x [ya, yb) that can be inside (some tap on a positive low-res cell),
 * with the low-res columns [cLo, cHi] they read; null when no logit is positive.
 */
interface CandidateBox { ax: ComposedAxis; ay: ComposedAxis; xa: number; xb: number; ya: number; yb: number; cLo: number; cHi: number }

function candidateBox(lowRes: Float32Array, width: number, height: number, family: ModelFamily): CandidateBox | null {
  let r0 = LOW, r1 = -1, c0 = LOW, c1 = -1;
  for (let r = 0; r < LOW; r++) {
    const row = r * LOW;
    let first = -1, last = -1;
    for (let c = 0; c < LOW; c++) {
      if (lowRes[row + c]! > 0) {
        if (first < 0) first = c;
        last = c;
      }
    }
    if (first < 0) continue;
    if (r < r0) r0 = r;
    r1 = r;
    if (first < c0) c0 = first;
    if (last > c1) c1 = last;
  }
  if (r1 < 0) return null;
  const { x: ax, y: ay } = axesFor(width, height, family);
  // Output rows/columns with a tap on the positive box: taps span base..base+2.
  const ya = firstWithBase(ay, r0 - 2), yb = firstWithBase(ay, r1 + 1);
  const xa = firstWithBase(ax, c0 - 2), xb = firstWithBase(ax, c1 + 1);
  if (xb <= xa || yb <= ya) return null;
  return { ax, ay, xa, xb, ya, yb, cLo: Math.max(0, c0 - 2), cHi: Math.min(LOW - 1, c1 + 2) };
}

const f = Math.fround;

/**
 * Output row y's vertical combination over the low-res columns [cLo, cHi], into `v` (2 cells of
 * zero padding at the end: a clamped third tap has weight 0 there). Float32, each operation
 * rounded as the view kernel's (view-kernels.ts).
 */
function rowTaps(lowRes: Float32Array, ay: ComposedAxis, y: number, cLo: number, cHi: number, v: Float32Array): void {
  const by = ay.base[y]!;
  const ra = by * LOW, rb = Math.min(by + 1, LOW - 1) * LOW, rc = Math.min(by + 2, LOW - 1) * LOW;
  const wa = ay.w0[y]!, wb = ay.w1[y]!, wc = ay.w2[y]!;
  for (let c = cLo; c <= cHi; c++) v[c] = f(f(wa * lowRes[ra + c]!) + f(wb * lowRes[rb + c]!)) + f(wc * lowRes[rc + c]!);
}

/**
 * Whether a pixel with weights w0..w2 on taps p0..p2 is inside: the kernel's float32 sum, every
 * operation rounded as the kernel's, the last one too. On the engine's thread onnxruntime has
 * set the CPU to flush float32 denormals to zero (session-config.ts), for this rounding and the
 * kernel's alike: a sum that is a denormal float32 is then 0, not inside.
 */
function insidePixel(w0: number, w1: number, w2: number, p0: number, p1: number, p2: number): boolean {
  return f(f(f(w0 * p0) + f(w1 * p1)) + f(w2 * p2)) > 0;
}

/**
 * Taps all above this are inside whatever the weights: the largest weight is at least 1/3, so its
 * product stays above float32's smallest step (a product of a positive tap could otherwise round
 * to 0).
 */
const SURELY_POSITIVE = 1e-30;

/** Whether output column x of a row with taps `v` is inside: the same decision `cropInBox` makes. */
function insideAt(ax: ComposedAxis, x: number, v: Float32Array): boolean {
  const bx = ax.base[x]!;
  const p0 = v[bx]!, p1 = v[bx + 1]!, p2 = v[bx + 2]!;
  if (!(p0 > 0 || p1 > 0 || p2 > 0)) return false;
  return insidePixel(ax.w0[x]!, ax.w1[x]!, ax.w2[x]!, p0, p1, p2);
}

/** `data.fill(1, from, to)`, short spans by a loop: the builtin's call costs more than a few stores (noise has many short spans) */
function fillOnes(data: Uint8Array, from: number, to: number): void {
  if (to - from > 64) data.fill(1, from, to);
  else for (let i = from; i < to; i++) data[i] = 1;
}

/**
 * The WebAssembly memory the view kernel (view-kernels.ts) works in: the low-res plane at 0, the
 * row taps `v` after it (4 cells of slack: the kernel writes four at a time), then the two axes
 * (copied when the cached ones change) and a band of rows' output bytes. Every table ends 16
 * bytes before the next: the kernel reads up to 3 weights past a table's end.
 */
const LOWRES_AT = 0;
const V_AT = LOW * LOW * 4;
const AXES_AT = V_AT + (LOW + 4) * 4;
/** output bytes per band of rows: what the kernel writes before they are copied out */
const BAND_BYTES = 1 << 20;
let wasm: { memory: WebAssembly.Memory; rows: ViewKernels['rows']; axes: { x: ComposedAxis; y: ComposedAxis } | null } | null = null;

interface AxisLayout { base: number; runEnd: number; w0: number; w1: number; w2: number; end: number }

/** Byte offsets of one axis's tables in the memory, from `at` on. */
function axisLayout(at: number, n: number): AxisLayout {
  const table = Math.ceil(n / 4) * 16 + 16;
  return { base: at, runEnd: at + table, w0: at + 2 * table, w1: at + 3 * table, w2: at + 4 * table, end: at + 5 * table };
}

function copyAxis(buffer: ArrayBuffer, axis: ComposedAxis, l: AxisLayout): void {
  const n = axis.base.length;
  new Int32Array(buffer, l.base, n).set(axis.base);
  new Int32Array(buffer, l.runEnd, n).set(axis.runEnd);
  new Float32Array(buffer, l.w0, n).set(axis.w0);
  new Float32Array(buffer, l.w1, n).set(axis.w1);
  new Float32Array(buffer, l.w2, n).set(axis.w2);
}

function cropInBox(lowRes: Float32Array, { ax, ay, xa, xb, ya, yb, cLo, cHi }: CandidateBox): MaskCrop {
  const boxW = xb - xa, boxH = yb - ya;
  const mask = new Uint8Array(boxW * boxH);
  const yl = axisLayout(AXES_AT, ay.base.length), xl = axisLayout(yl.end, ax.base.length);
  const band = Math.max(1, Math.min(boxH, Math.floor(BAND_BYTES / boxW)));
  const outAt = xl.end;
  // the last row's last run may write 3 bytes past the band
  const bytes = outAt + band * boxW + 16;
  if (!wasm) {
    const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
    wasm = { memory, rows: viewKernels(memory).rows, axes: null };
  }
  if (wasm.memory.buffer.byteLength < bytes) wasm.memory.grow(Math.ceil((bytes - wasm.memory.buffer.byteLength) / 65536));
  const buffer = wasm.memory.buffer;
  if (wasm.axes?.x !== ax || wasm.axes.y !== ay) {
    copyAxis(buffer, ay, yl);
    copyAxis(buffer, ax, xl);
    wasm.axes = { x: ax, y: ay };
  }
  new Float32Array(buffer, LOWRES_AT, LOW * LOW).set(lowRes.subarray(0, LOW * LOW));
  const out = new Uint8Array(buffer, outAt, band * boxW);
  let top = boxH, bottom = -1, left = boxW, right = -1;
  for (let y0 = ya; y0 < yb; y0 += band) {
    const y1 = Math.min(yb, y0 + band);
    wasm.rows(LOWRES_AT, yl.base, yl.w0, yl.w1, yl.w2, xl.base, xl.runEnd, xl.w0, xl.w1, xl.w2, V_AT, outAt, xa, xb, y0, y1, cLo, cHi);
    mask.set(out.subarray(0, (y1 - y0) * boxW), (y0 - ya) * boxW);
    for (let row = y0 - ya; row < y1 - ya; row++) {
      const line = mask.subarray(row * boxW, (row + 1) * boxW);
      const first = line.indexOf(1);
      if (first < 0) continue;
      if (row < top) top = row;
      bottom = row;
      if (first < left) left = first;
      const last = line.lastIndexOf(1);
      if (last > right) right = last;
    }
  }
  if (bottom < 0) return EMPTY_CROP;
  const cw = right - left + 1, ch = bottom - top + 1;
  if (cw === boxW && ch === boxH) return { x: xa, y: ya, width: cw, height: ch, data: mask };
  const data = new Uint8Array(cw * ch);
  for (let r = 0; r < ch; r++) data.set(mask.subarray((top + r) * boxW + left, (top + r) * boxW + left + cw), r * cw);
  return { x: xa + left, y: ya + top, width: cw, height: ch, data };
}

/**
 * What the window draws of one mask, straight from its 256x256 logit plane: exactly
 * `thinnedView(viewMaskCrop(lowRes, width, height), maxPixels)`, without computing the full-size
 * crop when it would be thinned. The tight box comes from each row's first and last inside
 * pixel (found run by run from both ends), then only the sampled pixels (block centres) are
 * evaluated: a click on an 8000x6000 photo touches about maxPixels pixels per candidate, not 48
 * million. The full crop is made when a mask is accepted.
 */
export function viewMaskThinned(lowRes: Float32Array, width: number, height: number, maxPixels: number, family: ModelFamily = 'sam'): MaskView {
  const box = candidateBox(lowRes, width, height, family);
  if (!box) return thinnedView(EMPTY_CROP, maxPixels);
  const { ax, ay, xa, xb, ya, yb, cLo, cHi } = box;
  if ((xb - xa) * (yb - ya) <= maxPixels) return thinnedView(cropInBox(lowRes, box), maxPixels);
  const v = new Float32Array(LOW + 2);
  let top = -1, bottom = -1, left = xb, right = xa - 1;
  for (let y = ya; y < yb; y++) {
    rowTaps(lowRes, ay, y, cLo, cHi, v);
    // only a pixel left of `left` or right of `right` can widen the box
    const first = firstInside(ax, xa, left, v);
    if (first >= 0) left = first;
    const last = lastInside(ax, right + 1, xb, v);
    if (last >= 0) right = last;
    if (first < 0 && last < 0 && !(left <= right && firstInside(ax, left, right + 1, v) >= 0)) continue;
    if (top < 0) top = y;
    bottom = y;
    if (left === xa && right === xb - 1) {
      // the box spans every column it can: only its last row is left to find, from the bottom
      for (let yl = yb - 1; yl > y; yl--) {
        rowTaps(lowRes, ay, yl, cLo, cHi, v);
        if (firstInside(ax, xa, xb, v) >= 0) { bottom = yl; break; }
      }
      break;
    }
  }
  if (top < 0) return thinnedView(EMPTY_CROP, maxPixels);
  const crop = { x: left, y: top, width: right - left + 1, height: bottom - top + 1 };
  const step = viewStep(crop.width, crop.height, maxPixels);
  if (step === 1) return thinnedView(cropInBox(lowRes, box), maxPixels);
  const w = Math.ceil(crop.width / step), h = Math.ceil(crop.height / step), half = step >> 1;
  const data = new Uint8Array(w * h);
  // the sampled columns' taps and weights, gathered once for every sampled row
  const base = new Int32Array(w), w0 = new Float32Array(w), w1 = new Float32Array(w), w2 = new Float32Array(w);
  for (let c = 0; c < w; c++) {
    const x = crop.x + Math.min(crop.width - 1, c * step + half);
    base[c] = ax.base[x]!; w0[c] = ax.w0[x]!; w1[c] = ax.w1[x]!; w2[c] = ax.w2[x]!;
  }
  // sampled columns sharing their three taps: a group is filled, skipped or computed at once
  const groupEnd = new Int32Array(w);
  for (let c = w - 1; c >= 0; c--) groupEnd[c] = c + 1 < w && base[c + 1] === base[c] ? groupEnd[c + 1]! : c + 1;
  for (let r = 0; r < h; r++) {
    rowTaps(lowRes, ay, crop.y + Math.min(crop.height - 1, r * step + half), cLo, cHi, v);
    const out = r * w;
    let fillFrom = -1;
    for (let c = 0; c < w;) {
      const bx = base[c]!, end = groupEnd[c]!;
      const p0 = v[bx]!, p1 = v[bx + 1]!, p2 = v[bx + 2]!;
      if (p0 > SURELY_POSITIVE && p1 > SURELY_POSITIVE && p2 > SURELY_POSITIVE) {
        if (fillFrom < 0) fillFrom = c;
      } else {
        if (fillFrom >= 0) { fillOnes(data, out + fillFrom, out + c); fillFrom = -1; }
        if (p0 > 0 || p1 > 0 || p2 > 0) {
          // stored whatever the answer: a branch per sample mispredicts on noise
          for (let k = c; k < end; k++) data[out + k] = insidePixel(w0[k]!, w1[k]!, w2[k]!, p0, p1, p2) ? 1 : 0;
        }
      }
      c = end;
    }
    if (fillFrom >= 0) fillOnes(data, out + fillFrom, out + w);
  }
  return { ...crop, step, data };
}

/** First inside column in [from, to), -1 if none; whole runs of taps that are all <= 0 are skipped. */
function firstInside(ax: ComposedAxis, from: number, to: number, v: Float32Array): number {
  for (let x = from; x < to;) {
    const bx = ax.base[x]!;
    const end = Math.min(ax.runEnd[x]!, to);
    if (v[bx]! > 0 || v[bx + 1]! > 0 || v[bx + 2]! > 0) for (let k = x; k < end; k++) if (insideAt(ax, k, v)) return k;
    x = end;
  }
  return -1;
}

/** Last inside column in [from, to), -1 if none. */
function lastInside(ax: ComposedAxis, from: number, to: number, v: Float32Array): number {
  for (let x = to - 1; x >= from;) {
    const bx = ax.base[x]!;
    const start = Math.max(ax.runStart[x]!, from);
    if (v[bx]! > 0 || v[bx + 1]! > 0 || v[bx + 2]! > 0) for (let k = x; k >= start; k--) if (insideAt(ax, k, v)) return k;
    x = start - 1;
  }
  return -1;
}

/** The sampling step of a box: 1 (every pixel) unless it holds more than maxPixels. */
function viewStep(width: number, height: number, maxPixels: number): number {
  return Math.max(1, Math.ceil(Math.sqrt((width * height) / maxPixels)));
}

/** What the window draws of a crop: every pixel, or every step-th one (block centres) when the box is large. */
export function thinnedView(crop: MaskCrop, maxPixels: number): MaskView {
  const { x, y, width, height } = crop;
  const step = viewStep(width, height, maxPixels);
  if (step === 1) return { x, y, width, height, step, data: crop.data };
  const w = Math.ceil(width / step);
  const h = Math.ceil(height / step);
  const data = new Uint8Array(w * h);
  const half = step >> 1;
  for (let r = 0; r < h; r++) {
    const row = Math.min(height - 1, r * step + half) * width;
    for (let c = 0; c < w; c++) data[r * w + c] = crop.data[row + Math.min(width - 1, c * step + half)]!;
  }
  return { x, y, width, height, step, data };
}

/**
 * One candidate's full-size mask, cropped to its bounding box, from its 256x256 logits: the view
 * path (this file, either family), or the exact path that emulates the graph's float32
 * arithmetic (postprocess.ts: SAM's two resizes, SAM 2.1's one).
 */
export function maskCropOfCandidate(family: ModelFamily, lowRes: Float32Array, width: number, height: number, postprocess: PredictPostprocess = 'view'): MaskCrop {
  if (postprocess === 'view') return viewMaskCrop(lowRes, width, height, family);
  return family === 'sam2.1' ? sam2MaskCropFromLowRes(lowRes, width, height) : maskCropFromLowRes(lowRes, width, height);
}
