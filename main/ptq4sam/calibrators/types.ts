/**
 * calibrators/: the range observers the methods (methods/) choose from, and what one forward
 * pass tells an observer about one tensor (see stats-graph.ts).
 */
import type { Range } from '../quantizers/range-search.ts';

export interface TensorStats {
  min: number;
  max: number;
  /** element count of the tensor */
  count: number;
  /** strided sample of the values */
  sample: Float32Array;
  /** largest values, descending (percentile only) */
  high?: Float32Array;
  /** smallest values, ascending (percentile only) */
  low?: Float32Array;
}

/**
 * A per-tensor range observer. `observeImage` gets the statistics of one calibration image:
 * one entry per forward pass (the decoder runs once per prompt; PTQ4SAM's unit is the image
 * with all its prompts, so ranges are found per image and averaged over images).
 */
export interface RangeObserver {
  observeImage(passes: TensorStats[]): void;
  range(): Range;
}

/** Averages per-image ranges, as AvgMinMax does. */
export class RangeAverager {
  private lo = 0;
  private hi = 0;
  private n = 0;

  add(r: Range): void {
    this.lo += r.lo;
    this.hi += r.hi;
    this.n += 1;
  }

  get(): Range {
    if (this.n === 0) throw new Error('observer saw no calibration data');
    return { lo: this.lo / this.n, hi: this.hi / this.n };
  }
}

export function mergedMinMax(passes: TensorStats[]): Range {
  return { lo: Math.min(...passes.map((p) => p.min)), hi: Math.max(...passes.map((p) => p.max)) };
}

/** The passes' samples concatenated, capped at `cap` values by striding. */
export function mergedSample(passes: TensorStats[], cap: number): Float32Array {
  const total = passes.reduce((a, p) => a + p.sample.length, 0);
  const all = new Float32Array(total);
  let o = 0;
  for (const p of passes) { all.set(p.sample, o); o += p.sample.length; }
  if (total <= cap) return all;
  const out = new Float32Array(cap);
  for (let i = 0; i < cap; i++) out[i] = all[Math.floor((i * total) / cap)]!;
  return out;
}
