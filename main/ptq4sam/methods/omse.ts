/** Baseline: activation and weight ranges that minimise the squared quantization error (OMSE). */
import { OmseObserver } from '../calibrators/omse.ts';
import type { QuantMethod } from './types.ts';

export const omseMethod: QuantMethod = {
  name: 'omse',
  observer: (s) => new OmseObserver(s.bits, s.searchSample),
  weights: { range: 'grid', power: 2 },
};
