/**
 * Per-output-channel weight ranges by PTQ4SAM's 2-D grid search (PTQ4SAM.md section 3.2): for
 * i = 1..100 and every zero point zp in [0, 2^b - 1], the candidate grid has step
 * Delta_i = (i * r / 100) / (2^b - 1) and zero point zp, r = max(w, 0) - min(w, 0); the winner
 * minimizes mean |Q(w) - w|^2.4.
 *
 * Exact and fast: for a fixed step, an element that is not clipped quantizes to
 * Delta * round(w / Delta) whatever the zero point, so its error is computed once per step;
 * only the clipped tails depend on zp. With the channel sorted, the tails for each zp are
 * found by binary search and summed with early exit once they exceed the best error so far.
 *
 * At 8 bits the 100 steps cost 100 passes over every weight (about 10^10 pow() for ViT-B), so
 * `strategy: 'coarse-to-fine'` searches the same objective over steps i = 5, 10, ..., 100, then
 * every i within +-4 of the best: 28 passes instead of
 * 100, and per step the zero point by a local walk from the centring one instead of all 256.
 * tests/ptq4sam/weight-search.test.ts compares its objective with the exhaustive one.
 */
import { roundHalfEven } from './round.ts';
import { levels, paramsFromRange, powAbs, type UniformParams } from './uniform.ts';

export const WEIGHT_ERROR_POWER = 2.4;
export const RANGE_STEPS = 100;

export type WeightSearchStrategy = 'exhaustive' | 'coarse-to-fine';

export interface ChannelSearchResult {
  params: UniformParams;
  /** mean |Q(w) - w|^2.4 of the winner */
  error: number;
  /** the winning i of i * r / 100 */
  rangeStep: number;
}

function lowerBound(codes: Float64Array, value: number): number {
  let lo = 0;
  let hi = codes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (codes[mid]! < value) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/**
 * The best zero point for one step, or null if none beats `bestSum` (ties pass, so the caller
 * can apply the spec's order). Clipping never lowers an element's error below its rounding
 * error (a clipped element lies at least half a step beyond the boundary), so when some zero
 * point clips nothing, the smallest such one is optimal and costs nothing more.
 */
function bestZeroPoint(sorted: Float64Array, step: number, qmax: number, power: number, bestSum: number, scratch: { codes: Float64Array; prefix: Float64Array }, localZeroPoint: boolean): { zp: number; sum: number } | null {
  const n = sorted.length;
  const { codes, prefix } = scratch;
  prefix[0] = 0;
  for (let j = 0; j < n; j++) {
    const c = roundHalfEven(sorted[j]! / step);
    codes[j] = c;
    prefix[j + 1] = prefix[j]! + powAbs(sorted[j]! - step * c, power);
  }
  const noClipFrom = Math.max(0, -codes[0]!);
  if (noClipFrom <= qmax - codes[n - 1]!) return prefix[n]! <= bestSum ? { zp: noClipFrom, sum: prefix[n]! } : null;
  let found: { zp: number; sum: number } | null = null;
  const evaluate = (zp: number): number => {
    // Elements with code + zp < 0 clip to -zp * step; with code + zp > qmax, to (qmax - zp) * step.
    const low = lowerBound(codes, -zp);
    const highStart = lowerBound(codes, qmax - zp + 1);
    let sum = prefix[highStart]! - prefix[low]!;
    if (sum > bestSum) return sum;
    const loValue = -zp * step;
    for (let j = 0; j < low && sum <= bestSum; j++) sum += powAbs(sorted[j]! - loValue, power);
    const hiValue = (qmax - zp) * step;
    for (let j = n - 1; j >= highStart && sum <= bestSum; j--) sum += powAbs(sorted[j]! - hiValue, power);
    if (sum <= bestSum && (!found || sum < found.sum || (sum === found.sum && zp < found.zp))) {
      bestSum = sum;
      found = { zp, sum };
    }
    return sum;
  };
  if (!localZeroPoint) {
    for (let zp = 0; zp <= qmax; zp++) evaluate(zp);
    return found;
  }
  // Local search: from the zero point that centres the data in the grid, walk each way while
  // the error keeps falling (the error is unimodal in zp for all but pathological channels).
  const centre = Math.min(qmax, Math.max(0, Math.round((qmax - codes[0]! - codes[n - 1]!) / 2)));
  const centreSum = evaluate(centre);
  for (const dir of [-1, 1]) {
    let prev = centreSum;
    for (let zp = centre + dir; zp >= 0 && zp <= qmax; zp += dir) {
      const e = evaluate(zp);
      if (e > prev) break;
      prev = e;
    }
  }
  return found;
}

export function searchChannelRange(weights: ArrayLike<number>, bits: number, strategy: WeightSearchStrategy = 'exhaustive', power = WEIGHT_ERROR_POWER): ChannelSearchResult {
  const n = weights.length;
  const qmax = levels(bits) - 1;
  const sorted = Float64Array.from(weights as ArrayLike<number>).sort();
  const r = Math.max(sorted[n - 1]!, 0) - Math.min(sorted[0]!, 0);
  if (r === 0) return { params: { scale: 1, zeroPoint: 0, bits }, error: 0, rangeStep: RANGE_STEPS };
  const scratch = { codes: new Float64Array(n), prefix: new Float64Array(n + 1) };
  let best = { sum: Infinity, zp: 0, step: 0, i: RANGE_STEPS + 1 };
  const tried = new Set<number>();
  const tryStep = (i: number) => {
    if (i < 1 || i > RANGE_STEPS || tried.has(i)) return;
    tried.add(i);
    const step = (i * r) / RANGE_STEPS / qmax;
    const hit = bestZeroPoint(sorted, step, qmax, power, best.sum, scratch, strategy === 'coarse-to-fine');
    // Ties keep the smaller i (and, within a step, the smaller zp), as the spec's loop order does.
    if (hit && (hit.sum < best.sum || i < best.i)) best = { sum: hit.sum, zp: hit.zp, step, i };
  };
  // Widest ranges first: they rarely clip, so they set a tight bound that prunes the narrow ones.
  if (strategy === 'exhaustive') {
    for (let i = RANGE_STEPS; i >= 1; i--) tryStep(i);
  } else {
    for (let i = RANGE_STEPS; i >= 5; i -= 5) tryStep(i);
    const centre = best.i;
    for (let i = centre - 4; i <= centre + 4; i++) tryStep(i);
  }
  return { params: { scale: best.step, zeroPoint: best.zp, bits }, error: best.sum / n, rangeStep: best.i };
}

/** The strategy used by default: the exact spec where affordable (<= 6 bits), else coarse-to-fine. */
function defaultWeightStrategy(bits: number): WeightSearchStrategy {
  return bits <= 6 ? 'exhaustive' : 'coarse-to-fine';
}

export interface PerChannelWeights {
  /** codes in [0, 2^b - 1], laid out like the input ([in, out], channel = column) */
  codes: Uint8Array;
  scales: Float32Array;
  zeroPoints: Uint8Array;
  /** mean of the per-channel errors */
  error: number;
}

export interface WeightQuantizerOptions {
  /** `grid`: the spec's search; `minmax`: each channel's own [min, max] (the baselines) */
  range: 'grid' | 'minmax';
  strategy?: WeightSearchStrategy;
  power?: number;
}

/**
 * Quantizes a [rows, cols] weight stored as [in, out] (channel = column, the layout of our
 * MatMul initializers) channel by channel.
 */
export function quantizeColumns(weight: Float32Array, rows: number, cols: number, bits: number, opts: WeightQuantizerOptions = { range: 'grid' }): PerChannelWeights {
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(cols);
  const zeroPoints = new Uint8Array(cols);
  const qmax = levels(bits) - 1;
  const column = new Float64Array(rows);
  const strategy = opts.strategy ?? defaultWeightStrategy(bits);
  let errorSum = 0;
  for (let c = 0; c < cols; c++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let r = 0; r < rows; r++) {
      const v = weight[r * cols + c]!;
      column[r] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const found = opts.range === 'grid'
      ? searchChannelRange(column, bits, strategy, opts.power ?? WEIGHT_ERROR_POWER)
      : { params: paramsFromRange(lo, hi, bits), error: 0 };
    // The kernel computes with the float32 scale: derive codes from exactly that value.
    const scale = Math.fround(found.params.scale);
    scales[c] = scale;
    zeroPoints[c] = found.params.zeroPoint;
    errorSum += found.error;
    for (let r = 0; r < rows; r++) {
      const q = roundHalfEven(column[r]! / scale) + found.params.zeroPoint;
      codes[r * cols + c] = q < 0 ? 0 : q > qmax ? qmax : q;
    }
  }
  return { codes, scales, zeroPoints, error: cols ? errorSum / cols : 0 };
}

/** Per-output-channel quantization of a weight whose channel is the FIRST axis (Conv: [out, ...]). */
export function quantizeRows(weight: Float32Array, channels: number, bits: number, opts: WeightQuantizerOptions = { range: 'grid' }): PerChannelWeights {
  const per = weight.length / channels;
  const t = new Float32Array(weight.length);
  for (let c = 0; c < channels; c++) for (let i = 0; i < per; i++) t[i * channels + c] = weight[c * per + i]!;
  const q = quantizeColumns(t, per, channels, bits, opts);
  const codes = new Uint8Array(weight.length);
  for (let c = 0; c < channels; c++) for (let i = 0; i < per; i++) codes[c * per + i] = q.codes[i * channels + c]!;
  return { ...q, codes };
}
