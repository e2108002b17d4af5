/**
 * PTQ4SAM (the default): AvgMinMax activations, the key search on decoder keys and BIG's fold,
 * AGQ on the softmax outputs, and the grid search of mean |Q(w) - w|^2.4 per weight channel.
 */
import { MinMaxObserver } from '../calibrators/minmax.ts';
import { KeySearchObserver } from '../calibrators/ptq4sam.ts';
import type { QuantMethod } from './types.ts';

export const ptq4samMethod: QuantMethod = {
  name: 'ptq4sam',
  observer: () => new MinMaxObserver(),
  weights: { range: 'grid' },
  big: { keyObserver: (s) => new KeySearchObserver(s.bits, s.searchSample) },
  agq: true,
};
