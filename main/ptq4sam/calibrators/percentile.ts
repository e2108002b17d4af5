/**
 * Percentile baseline: per pass, the 0.01% and 99.99% quantiles (numpy's linear interpolation,
 * read from the extreme tails the augmented graph returns), averaged over passes and images.
 */
import { quantileSorted } from '../quantizers/range-search.ts';
import { RangeAverager, type RangeObserver, type TensorStats } from './types.ts';

export const PERCENTILE_TAIL = 1e-4;

/** Quantile q of n values from the tail that holds its two neighbours (descending or ascending). */
function quantileFromTail(tail: Float32Array, n: number, q: number, descending: boolean): number {
  const pos = q * (n - 1);
  const i = Math.floor(pos);
  const frac = pos - i;
  const at = (rank: number) => (descending ? tail[n - 1 - rank] : tail[rank]);
  const a = at(i);
  const b = i + 1 < n ? at(i + 1) : a;
  if (a === undefined || b === undefined) throw new Error('percentile tail shorter than needed');
  return a * (1 - frac) + b * frac;
}

export class PercentileObserver implements RangeObserver {
  private readonly avg = new RangeAverager();

  observeImage(passes: TensorStats[]): void {
    for (const p of passes) {
      if (!p.high || !p.low) throw new Error('percentile observer needs tail statistics');
      const lo = p.count === p.low.length ? quantileSorted(p.low, PERCENTILE_TAIL) : quantileFromTail(p.low, p.count, PERCENTILE_TAIL, false);
      const hi = p.count === p.high.length ? quantileSorted(p.high.slice().reverse(), 1 - PERCENTILE_TAIL) : quantileFromTail(p.high, p.count, 1 - PERCENTILE_TAIL, true);
      this.avg.add({ lo, hi });
    }
  }

  range() {
    return this.avg.get();
  }
}
