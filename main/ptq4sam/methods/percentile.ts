/** Baseline: activations clipped at the 0.01% / 99.99% quantiles, weights on their [min, max]. */
import { PERCENTILE_TAIL, PercentileObserver } from '../calibrators/percentile.ts';
import type { QuantMethod } from './types.ts';

export const percentileMethod: QuantMethod = {
  name: 'percentile',
  observer: () => new PercentileObserver(),
  tailFraction: PERCENTILE_TAIL,
  weights: { range: 'minmax' },
};
