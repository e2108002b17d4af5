/**
 * The method registry: one file per method, one line in METHOD_LIST. `--method` takes the names
 * in this order; registerMethod adds one at run time.
 */
import { gptqMethod } from './gptq.ts';
import { minmaxMethod } from './minmax.ts';
import { omseMethod } from './omse.ts';
import { percentileMethod } from './percentile.ts';
import { ptq4samMethod } from './ptq4sam.ts';
import type { QuantMethod } from './types.ts';

const METHOD_LIST: QuantMethod[] = [
  ptq4samMethod,
  minmaxMethod,
  percentileMethod,
  omseMethod,
  gptqMethod,
];

export function methodNames(): string[] {
  return METHOD_LIST.map((m) => m.name);
}

export function getMethod(name: string): QuantMethod {
  const m = METHOD_LIST.find((x) => x.name === name);
  if (!m) throw new Error(`method ${name} is not offered (choose ${methodNames().join(', ')})`);
  return m;
}

/** Adds a method after the registered ones (a name already registered is refused). */
export function registerMethod(method: QuantMethod): void {
  if (METHOD_LIST.some((m) => m.name === method.name)) throw new Error(`method ${method.name} is already registered`);
  METHOD_LIST.push(method);
}

export type { ObserverSettings, QuantMethod, WeightStep } from './types.ts';
