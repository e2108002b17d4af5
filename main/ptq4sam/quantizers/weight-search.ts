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
 * every i within +-4 of the best, with the zero point still exhaustive: 28 passes instead of
 * 100. tests/ptq4sam/weight-search.test.ts compares its objective with the exhaustive one.
 */
import { roundHalfEven } from './round.ts';
import { levels, type UniformParams } from './uniform.ts';

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

/** Evaluates every zero point for one step; returns the best (zp, error sum) improving on `bestSum`. */
function bestZeroPoint(sorted: Float64Array, step: number, qmax: number, power: number, bestSum: number, scratch: { codes: Float64Array; prefix: Float64Array }): { zp: number; sum: number } | null {
  const n = sorted.length;
  const { codes, prefix } = scratch;
  prefix[0] = 0;
  for (let j = 0; j < n; j++) {
    const c = roundHalfEven(sorted[j]! / step);
    codes[j] = c;
    prefix[j + 1] = prefix[j]! + Math.abs(sorted[j]! - step * c) ** power;
  }
  let found: { zp: number; sum: number } | null = null;
  for (let zp = 0; zp <= qmax; zp++) {
    // Elements with code + zp < 0 clip to -zp * step; with code + zp > qmax, to (qmax - zp) * step.
    const low = lowerBound(codes, -zp);
    const highStart = lowerBound(codes, qmax - zp + 1);
    let sum = prefix[highStart]! - prefix[low]!;
    if (sum >= bestSum) continue;
    const loValue = -zp * step;
    for (let j = 0; j < low && sum < bestSum; j++) sum += Math.abs(sorted[j]! - loValue) ** power;
    const hiValue = (qmax - zp) * step;
    for (let j = n - 1; j >= highStart && sum < bestSum; j--) sum += Math.abs(sorted[j]! - hiValue) ** power;
    if (sum < bestSum) {
      bestSum = sum;
      found = { zp, sum };
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
  let best = { sum: Infinity, zp: 0, step: 0, i: 0 };
  const tried = new Set<number>();
  const tryStep = (i: number) => {
    if (i < 1 || i > RANGE_STEPS || tried.has(i)) return;
    tried.add(i);
    const step = (i * r) / RANGE_STEPS / qmax;
    const hit = bestZeroPoint(sorted, step, qmax, power, best.sum, scratch);
    // Only a strictly smaller error replaces the best: ties keep the earlier (i, zp), as the spec's loop does.
    if (hit) best = { sum: hit.sum, zp: hit.zp, step, i };
  };
  if (strategy === 'exhaustive') {
    for (let i = 1; i <= RANGE_STEPS; i++) tryStep(i);
  } else {
    for (let i = 5; i <= RANGE_STEPS; i += 5) tryStep(i);
    const centre = best.i;
    for (let i = centre - 4; i <= centre + 4; i++) tryStep(i);
  }
  return { params: { scale: best.step, zeroPoint: best.zp, bits }, error: best.sum / n, rangeStep: best.i };
}

/** The strategy used by default: the exact spec where affordable (<= 6 bits), else coarse-to-fine. */
export function defaultWeightStrategy(bits: number): WeightSearchStrategy {
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

/**
 * Quantizes a [rows, cols] weight stored as [in, out] (channel = column, the layout of our
 * MatMul initializers) channel by channel.
 */
export function quantizeColumns(weight: Float32Array, rows: number, cols: number, bits: number, strategy: WeightSearchStrategy = defaultWeightStrategy(bits)): PerChannelWeights {
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(cols);
  const zeroPoints = new Uint8Array(cols);
  const qmax = levels(bits) - 1;
  const column = new Float64Array(rows);
  let errorSum = 0;
  for (let c = 0; c < cols; c++) {
    for (let r = 0; r < rows; r++) column[r] = weight[r * cols + c]!;
    const found = searchChannelRange(column, bits, strategy);
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
