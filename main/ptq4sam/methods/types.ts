/** What a quantization method declares (methods/index.ts). */
import type { RangeObserver } from '../calibrators/types.ts';
import type { PerChannelWeights, WeightQuantizerOptions } from '../quantizers/weight-search.ts';

export interface ObserverSettings {
  /** activation bits */
  bits: number;
  /** cap on sample values a search evaluates per image */
  searchSample: number;
}

/**
 * A second step on a linear's weight after the per-channel grids are chosen: new codes on the
 * same grids, from the layer's calibration inputs. Calibration accumulates X^T X ([in, in],
 * float64, summed over passes) of each linear's input for it.
 */
export interface WeightStep {
  /** codes in [0, 2^b - 1] for a [rows = in, cols = out] weight, laid out like it */
  codes(weight: Float32Array, rows: number, cols: number, hessian: Float64Array, grid: PerChannelWeights, bits: number): Uint8Array;
}

export interface QuantMethod {
  /** the name `--method` takes */
  name: string;
  /** range observer of every activation quantizer the switches below do not claim */
  observer(s: ObserverSettings): RangeObserver;
  /** the fraction of largest and smallest values the statistics graph keeps per tensor for the observer */
  tailFraction?: number;
  /** how each weight channel's grid is found */
  weights: WeightQuantizerOptions;
  /**
   * PTQ4SAM's Bimodal Integration, on unless switched off (`--no-big`): decide and fold the
   * bimodal decoder keys, and find every decoder key range with this observer.
   */
  big?: { keyObserver(s: ObserverSettings): RangeObserver };
  /** PTQ4SAM's Adaptive Granularity Quantization of the softmax outputs, on unless switched off (`--no-agq`) */
  agq?: boolean;
  weightStep?: WeightStep;
}
