/**
 * Per-tensor activation range searches. Every function works on one calibration image's
 * statistics (exact min/max and a fixed sample of the tensor's values); the calibrators average
 * the resulting ranges over images, as PTQ4SAM's observers average per-image min/max.
 */
import { minimizeScalarBounded } from './brent.ts';
import { paramsFromRange, quantizationError } from './uniform.ts';

export interface Range { lo: number; hi: number }

/**
 * OMSE (Choukroun et al. 2019) as the baselines run it: the clipping range [alpha * min,
 * alpha * max] with alpha in {0.01, ..., 1.00} that minimizes the mean squared quantization error.
 */
export function omseRange(sample: ArrayLike<number>, min: number, max: number, bits: number, power = 2): Range {
  let best = { lo: min, hi: max, err: Infinity };
  for (let i = 1; i <= 100; i++) {
    const lo = (min * i) / 100;
    const hi = (max * i) / 100;
    const err = quantizationError(sample, paramsFromRange(lo, hi, bits), power);
    if (err < best.err) best = { lo, hi, err };
  }
  return { lo: best.lo, hi: best.hi };
}

/**
 * PTQ4SAM's decoder key observer when BIG is on (section 3.2): nested bounded Brent searches of
 * mean |Q(x) - x|^2.4, outer over the range width R in [min(0.1, 0.01 (max - min)), max - min],
 * inner over the offset t in [0, R] of the interval [-t, R - t], intersected with [min, max].
 */
export function keyRangeSearch(sample: ArrayLike<number>, min: number, max: number, bits: number, power = 2.4): Range {
  const width = max - min;
  if (!(width > 0)) return { lo: min, hi: max };
  const clipInterval = (r: number, t: number): Range => ({ lo: Math.max(-t, min), hi: Math.min(r - t, max) });
  const errorAt = (r: number, t: number) => {
    const { lo, hi } = clipInterval(r, t);
    return quantizationError(sample, paramsFromRange(lo, hi, bits), power);
  };
  const innerBest = (r: number) => minimizeScalarBounded((t) => errorAt(r, t), 0, r);
  const outer = minimizeScalarBounded((r) => innerBest(r).fun, Math.min(0.1, 0.01 * width), width);
  return clipInterval(outer.x, innerBest(outer.x).x);
}

/** Value at quantile q (0..1) of a sorted sample, linear interpolation as numpy's default. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const pos = q * (sorted.length - 1);
  const i = Math.floor(pos);
  const frac = pos - i;
  return i + 1 < sorted.length ? sorted[i]! * (1 - frac) + sorted[i + 1]! * frac : sorted[i]!;
}
