/**
 * Calibrators: one observer class per method behind one factory. The method decides the
 * observer of each activation site; the site's role (plain activation, decoder key, softmax
 * output) can override it, as PTQ4SAM's configuration does.
 */
import type { ActivationSite } from '../ops/types.ts';
import { MinMaxObserver } from './minmax.ts';
import { OmseObserver } from './omse.ts';
import { PercentileObserver } from './percentile.ts';
import { KeySearchObserver } from './ptq4sam.ts';
import { isPtq4samFamily, type Method, type RangeObserver } from './types.ts';

export interface ObserverOptions {
  method: Method;
  bits: number;
  /** PTQ4SAM: BIG on switches decoder keys to the key search */
  big: boolean;
  /** cap on sample values a search evaluates per image */
  searchSample: number;
}

const byMethod: Record<Method, (o: ObserverOptions) => RangeObserver> = {
  ptq4sam: () => new MinMaxObserver(),
  gptq: () => new MinMaxObserver(),
  minmax: () => new MinMaxObserver(),
  percentile: () => new PercentileObserver(),
  omse: (o) => new OmseObserver(o.bits, o.searchSample),
};

export function createObserver(site: ActivationSite, o: ObserverOptions): RangeObserver {
  if (isPtq4samFamily(o.method) && o.big && site.observer === 'key') return new KeySearchObserver(o.bits, o.searchSample);
  return byMethod[o.method](o);
}

export function needsTails(method: Method): boolean {
  return method === 'percentile';
}

export type { Method, RangeObserver, TensorStats } from './types.ts';
export { isPtq4samFamily } from './types.ts';
