/**
 * Uniform affine (asymmetric) quantization, PTQ4SAM.md section 3.2:
 * q = clamp(round(x / scale) + zeroPoint, 0, 2^bits - 1), x^ = scale * (q - zeroPoint),
 * with parameters from a range [lo, hi] widened to contain 0.
 */
import { roundHalfEven } from './round.ts';

export interface UniformParams {
  scale: number;
  /** integer in [0, 2^bits - 1] */
  zeroPoint: number;
  bits: number;
}

/** Smallest scale used for a degenerate (all-zero) range: float32 machine epsilon, as MQBench does. */
export const MIN_SCALE = 1.1920928955078125e-7;

export function levels(bits: number): number {
  // a shift, not 2 ** bits: this runs once per element in the range searches
  return 1 << bits;
}

/**
 * |x|^p (p > 0) as exp(p ln|x|): the error power of every PTQ4SAM search, called for each element
 * on each grid tried. About twice as fast as `**` in V8, and within a few ulps of it.
 */
export function powAbs(x: number, p: number): number {
  const a = Math.abs(x);
  return a === 0 ? 0 : Math.exp(p * Math.log(a));
}

/** Delta = (hi' - lo') / (2^b - 1), z = clamp(-round(lo' / Delta), 0, 2^b - 1) with lo' = min(lo, 0), hi' = max(hi, 0). */
export function paramsFromRange(lo: number, hi: number, bits: number): UniformParams {
  const qmax = levels(bits) - 1;
  const lo0 = Math.min(lo, 0);
  const hi0 = Math.max(hi, 0);
  const scale = Math.max((hi0 - lo0) / qmax, MIN_SCALE);
  const zeroPoint = Math.min(Math.max(-roundHalfEven(lo0 / scale), 0), qmax);
  return { scale, zeroPoint, bits };
}

export function quantizeCode(x: number, p: UniformParams): number {
  const q = roundHalfEven(x / p.scale) + p.zeroPoint;
  const qmax = levels(p.bits) - 1;
  return q < 0 ? 0 : q > qmax ? qmax : q;
}

export function fakeQuantize(x: number, p: UniformParams): number {
  return p.scale * (quantizeCode(x, p) - p.zeroPoint);
}

/** mean |Q(x) - x|^p over the values: the error every range search in PTQ4SAM minimizes (p = 2.4). */
export function quantizationError(values: ArrayLike<number>, params: UniformParams, power: number): number {
  const { scale, zeroPoint } = params;
  const qmax = levels(params.bits) - 1;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    const q = roundHalfEven(x / scale) + zeroPoint;
    sum += powAbs(scale * ((q < 0 ? 0 : q > qmax ? qmax : q) - zeroPoint) - x, power);
  }
  return values.length ? sum / values.length : 0;
}
