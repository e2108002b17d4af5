/**
 * AGQ's log2 post-softmax quantizer (PTQ4SAM.md section 2): with L = 2^bits, scale s and
 * tau in {1, 2, 4}, k = round(-tau * log2(max(a, 1e-20) / s)); k >= L gives 0, otherwise
 * a^ = s * 2^(-clamp(k, 0, L - 1) / tau).
 *
 * The L+1 quirk, decided: the authors' code represents {s * 2^(-j/tau) : j < L} and 0, which is
 * L+1 values, one more than b bits can encode. Our `paper` variant keeps it, because this
 * quantizer runs as float ops (there is no integer kernel after it, so the extra level costs
 * nothing) and it reproduces the method as published. The `exact` variant gives the last code
 * to zero ({s * 2^(-j/tau) : j < L - 1} and 0: exactly L values) for a true b-bit code; the
 * benchmark reports both.
 */
import { roundHalfEven } from './round.ts';

export const AGQ_TAUS = [1, 2, 4] as const;
export type AgqVariant = 'paper' | 'exact';

export interface AgqParams {
  scale: number;
  tau: number;
  bits: number;
  variant: AgqVariant;
}

/** Index of the zero level in the level table (codes at or above it dequantize to 0). */
export function agqZeroCode(p: Pick<AgqParams, 'bits' | 'variant'>): number {
  return p.variant === 'paper' ? 2 ** p.bits : 2 ** p.bits - 1;
}

/** Level table indexed by code: s * 2^(-j/tau) for j below the zero code, then 0. */
export function agqTable(p: AgqParams): Float32Array {
  const zero = agqZeroCode(p);
  const table = new Float32Array(zero + 1);
  for (let j = 0; j < zero; j++) table[j] = p.scale * 2 ** (-j / p.tau);
  table[zero] = 0;
  return table;
}

/** The integer code of one probability: clamp(round(-tau * log2(a / s)), 0, zeroCode). */
export function agqCode(a: number, p: AgqParams): number {
  const k = roundHalfEven(-p.tau * Math.log2(Math.max(a, 1e-20) / p.scale));
  const zero = agqZeroCode(p);
  return k < 0 ? 0 : k > zero ? zero : k;
}

export function agqQuantize(a: number, p: AgqParams): number {
  const j = agqCode(a, p);
  return j === agqZeroCode(p) ? 0 : p.scale * 2 ** (-j / p.tau);
}
