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
  return 2 ** bits;
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
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += Math.abs(fakeQuantize(values[i]!, params) - values[i]!) ** power;
  return values.length ? sum / values.length : 0;
}
