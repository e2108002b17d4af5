/** Baseline: AvgMinMax activations, each weight channel on its own [min, max]. */
import { MinMaxObserver } from '../calibrators/minmax.ts';
import type { QuantMethod } from './types.ts';

export const minmaxMethod: QuantMethod = {
  name: 'minmax',
  observer: () => new MinMaxObserver(),
  weights: { range: 'minmax' },
};
