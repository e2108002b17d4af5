/**
 * Adaptive Granularity Quantization (PTQ4SAM.md section 2): per attention module one (tau, s)
 * for its softmax output. For each calibration image n and each tau in {1, 2, 4}, a bounded
 * Brent search of s in [min(0.1, 0.01 m_n), m_n] (m_n = max A_n) minimizes
 * mean |Q_{s,tau}(A_n) V_n - A_n V_n|^2.4; tau* = argmin of the summed minima, s* = the mean of
 * that tau's per-image scales.
 *
 * The objective runs on a row sample of A (rows are queries, and each row's output depends only
 * on that row), capped so one evaluation costs at most a fixed number of multiply-adds
 * (stats-graph.ts); the decoder's unit is the image with all its prompts.
 */
import { minimizeScalarBounded } from './quantizers/brent.ts';
import { AGQ_TAUS, agqZeroCode, type AgqVariant } from './quantizers/log2.ts';
import { roundHalfEven } from './quantizers/round.ts';
import { powAbs } from './quantizers/uniform.ts';

export const AGQ_ERROR_POWER = 2.4;

/** Sampled rows of A ([groups, rows, keys]) with the matching V ([groups, keys, headDim]). */
export interface AttentionSample {
  probs: Float32Array;
  v: Float32Array;
  groups: number;
  rows: number;
  keys: number;
  headDim: number;
}

/** Keeps at most `maxRows` evenly spaced rows of a sample (each row's error is independent). */
export function subsampleRows(s: AttentionSample, maxRows: number): AttentionSample {
  if (s.rows <= maxRows) return s;
  const rows = Math.max(1, maxRows);
  const probs = new Float32Array(s.groups * rows * s.keys);
  for (let g = 0; g < s.groups; g++) {
    for (let r = 0; r < rows; r++) {
      const src = (g * s.rows + Math.floor((r * s.rows) / rows)) * s.keys;
      probs.set(s.probs.subarray(src, src + s.keys), (g * rows + r) * s.keys);
    }
  }
  return { ...s, probs, rows };
}

interface Prepared {
  s: AttentionSample;
  /** -log2(a), +Infinity where a = 0 */
  negLog2: Float64Array;
  /** A V in float64 */
  reference: Float64Array;
}

function prepare(s: AttentionSample): Prepared {
  const { probs, v, groups, rows, keys, headDim } = s;
  const negLog2 = new Float64Array(probs.length);
  for (let i = 0; i < probs.length; i++) negLog2[i] = -Math.log2(Math.max(probs[i]!, 1e-20));
  const reference = new Float64Array(groups * rows * headDim);
  for (let g = 0; g < groups; g++) {
    for (let r = 0; r < rows; r++) {
      const out = (g * rows + r) * headDim;
      const arow = (g * rows + r) * keys;
      for (let k = 0; k < keys; k++) {
        const a = probs[arow + k]!;
        if (a === 0) continue;
        const vrow = (g * keys + k) * headDim;
        for (let d = 0; d < headDim; d++) reference[out + d] += a * v[vrow + d]!;
      }
    }
  }
  return { s, negLog2, reference };
}

/** Sum of |Q(A) V - A V|^2.4 and the number of output elements, with `aq` = Q(A) laid out like A. */
function errorSum(p: Prepared, aq: Float64Array): { sum: number; count: number } {
  const { groups, rows, keys, headDim, v } = p.s;
  const out = new Float64Array(headDim);
  let sum = 0;
  for (let g = 0; g < groups; g++) {
    for (let r = 0; r < rows; r++) {
      out.fill(0);
      const arow = (g * rows + r) * keys;
      for (let k = 0; k < keys; k++) {
        const a = aq[arow + k]!;
        if (a === 0) continue;
        const vrow = (g * keys + k) * headDim;
        for (let d = 0; d < headDim; d++) out[d] += a * v[vrow + d]!;
      }
      const ref = (g * rows + r) * headDim;
      for (let d = 0; d < headDim; d++) sum += powAbs(out[d]! - p.reference[ref + d]!, AGQ_ERROR_POWER);
    }
  }
  return { sum, count: groups * rows * headDim };
}

/** The mean of |Q(A) V - A V|^2.4 over every sample's output elements. */
function meanError(prepared: Prepared[], quantize: (p: Prepared) => Float64Array): number {
  let sum = 0;
  let count = 0;
  for (const p of prepared) {
    const e = errorSum(p, quantize(p));
    sum += e.sum;
    count += e.count;
  }
  return count ? sum / count : 0;
}

/** A on AGQ's log2 grid for one (s, tau). */
function agqQuantized(p: Prepared, scale: number, tau: number, bits: number, variant: AgqVariant): Float64Array {
  const zero = agqZeroCode({ bits, variant });
  const table = new Float64Array(zero + 1);
  for (let j = 0; j < zero; j++) table[j] = scale * 2 ** (-j / tau);
  const offset = Math.log2(scale);
  const aq = new Float64Array(p.negLog2.length);
  for (let i = 0; i < aq.length; i++) {
    // -tau log2(a / s) = tau (-log2 a + log2 s)
    const code = roundHalfEven(tau * (p.negLog2[i]! + offset));
    if (code < zero) aq[i] = table[code < 0 ? 0 : code]!;
  }
  return aq;
}

/**
 * A on the uniform grid {0, d, ..., (2^b - 1) d}, d = s / (2^b - 1): the softmax output's
 * integer-kernel grid, with its top end s found by AGQ's own output-aware objective instead of
 * the largest probability seen.
 */
function uniformQuantized(p: Prepared, scale: number, bits: number): Float64Array {
  const qmax = 2 ** bits - 1;
  const step = Math.fround(scale / qmax);
  const { probs } = p.s;
  const aq = new Float64Array(probs.length);
  for (let i = 0; i < aq.length; i++) aq[i] = Math.min(qmax, roundHalfEven(probs[i]! / step)) * step;
  return aq;
}

/** Accumulates one attention module's per-image searches of the uniform grid's top end. */
export class UniformSoftmaxSearch {
  private readonly scales: number[] = [];

  constructor(private readonly bits: number) {}

  observeImage(samples: AttentionSample[], maxProb: number): void {
    if (!(maxProb > 0)) return;
    const prepared = samples.map(prepare);
    const objective = (s: number) => meanError(prepared, (p) => uniformQuantized(p, s, this.bits));
    this.scales.push(minimizeScalarBounded(objective, Math.min(0.1, 0.01 * maxProb), maxProb).x);
  }

  /** the grid's top end: the mean of the per-image minimizers */
  result(): number {
    if (this.scales.length === 0) throw new Error('softmax grid search saw no calibration data');
    return this.scales.reduce((a, b) => a + b, 0) / this.scales.length;
  }
}

function objective(prepared: Prepared[], scale: number, tau: number, bits: number, variant: AgqVariant): number {
  return meanError(prepared, (p) => agqQuantized(p, scale, tau, bits, variant));
}

export interface AgqChoice {
  tau: number;
  scale: number;
  /** summed per-image minima for each tau */
  errors: Record<number, number>;
}

/** Accumulates one attention module's per-image searches. */
export class AgqSearch {
  private readonly perTau = new Map<number, { scales: number[]; errors: number[] }>(AGQ_TAUS.map((t) => [t, { scales: [], errors: [] }]));

  constructor(private readonly bits: number, private readonly variant: AgqVariant = 'paper') {}

  /** One calibration image: its sampled attention rows (one entry per forward pass) and max(A_n). */
  observeImage(samples: AttentionSample[], maxProb: number): void {
    if (!(maxProb > 0)) return;
    const prepared = samples.map(prepare);
    for (const tau of AGQ_TAUS) {
      const r = minimizeScalarBounded((s) => objective(prepared, s, tau, this.bits, this.variant), Math.min(0.1, 0.01 * maxProb), maxProb);
      const acc = this.perTau.get(tau)!;
      acc.scales.push(r.x);
      acc.errors.push(r.fun);
    }
  }

  result(): AgqChoice {
    const errors: Record<number, number> = {};
    let best: number = AGQ_TAUS[0];
    for (const tau of AGQ_TAUS) {
      const acc = this.perTau.get(tau)!;
      if (acc.scales.length === 0) throw new Error('AGQ search saw no calibration data');
      errors[tau] = acc.errors.reduce((a, b) => a + b, 0);
      if (errors[tau]! < errors[best]!) best = tau;
    }
    const scales = this.perTau.get(best)!.scales;
    return { tau: best, scale: scales.reduce((a, b) => a + b, 0) / scales.length, errors };
  }
}
