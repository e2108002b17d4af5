import { describe, expect, it } from 'vitest';
import { roundHalfEven } from '../../main/ptq4sam/quantizers/round.ts';
import { fakeQuantize, paramsFromRange, quantizationError, quantizeCode } from '../../main/ptq4sam/quantizers/uniform.ts';
import { minimizeScalarBounded } from '../../main/ptq4sam/quantizers/brent.ts';
import { bimodalTest, findPeaks, gaussianKde } from '../../main/ptq4sam/quantizers/kde.ts';
import { centresBimodal, channelMeans, pooledBimodal } from '../../main/ptq4sam/big.ts';
import { agqCode, agqQuantize, agqTable } from '../../main/ptq4sam/quantizers/log2.ts';
import { keyRangeSearch, omseRange, quantileSorted } from '../../main/ptq4sam/quantizers/range-search.ts';
import { gptqColumns } from '../../main/ptq4sam/quantizers/gptq.ts';
import { quantizeColumns } from '../../main/ptq4sam/quantizers/weight-search.ts';
import { mulberry32 } from '../../main/sam/synth.ts';

describe('round half to even', () => {
  it('rounds exact halves to the even neighbour like torch.round and ONNX Round', () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5].map(roundHalfEven)).toEqual([0, 2, 2, 4, -0, -2, -2, -4]);
  });

  it('rounds everything else to the nearest integer', () => {
    expect([2.4999, 2.5001, -2.5001, 0.49999999999999994, 7].map(roundHalfEven)).toEqual([2, 3, -3, 0, 7]);
  });
});

describe('uniform affine quantizer', () => {
  it('derives step and zero point from a range widened to contain zero', () => {
    expect(paramsFromRange(-1, 3, 2)).toEqual({ scale: 4 / 3, zeroPoint: 1, bits: 2 });
    expect(paramsFromRange(0.5, 2, 8)).toEqual({ scale: 2 / 255, zeroPoint: 0, bits: 8 });
  });

  it('clamps codes to the b-bit grid and rounds half-steps to even codes', () => {
    const p = { scale: 1, zeroPoint: 1, bits: 2 };
    expect([-5, -1, 0.5, 1.5, 2, 9].map((x) => quantizeCode(x, p))).toEqual([0, 0, 1, 3, 3, 3]);
    expect(fakeQuantize(9, p)).toBe(2);
  });
});

describe('bounded Brent search', () => {
  // References: scipy 1.17 minimize_scalar(f, bounds, method="bounded").
  it('matches scipy on a parabola, including the number of evaluations', () => {
    const r = minimizeScalarBounded((x) => (x - 2) ** 2, 0, 5);
    expect(r.x).toBeCloseTo(2, 12);
    expect(r.evaluations).toBe(6);
  });

  it('matches scipy on a wiggly p = 2.4 objective', () => {
    const r = minimizeScalarBounded((x) => Math.abs(x - 0.3) ** 2.4 + 0.1 * Math.sin(9 * x), 0, 1);
    expect(r.x).toBeCloseTo(0.493508416607117, 9);
    expect(r.evaluations).toBe(10);
  });

  it('stops within xatol of a bound when the minimum is at the edge', () => {
    const r = minimizeScalarBounded((x) => -x, 0, 1);
    expect(r.x).toBeCloseTo(0.9999940391390134, 12);
    expect(r.evaluations).toBe(25);
  });
});

describe('Gaussian KDE and peaks', () => {
  it('evaluates like scipy gaussian_kde with Scott bandwidth', () => {
    const curve = gaussianKde([0, 1, 1.5, 4, 4.2, 5], 8);
    const scipy = [0.11153956, 0.13304971, 0.13762973, 0.13371565, 0.13469268, 0.14254911, 0.14410231, 0.12625324];
    curve.y.forEach((v, i) => expect(v).toBeCloseTo(scipy[i]!, 7));
    // scipy's kde.factor * std(ddof=1)
    expect(curve.bandwidth).toBeCloseTo(1.4256187409920622, 12);
  });

  it('finds strict local maxima and a plateau once at its middle, never at the edges', () => {
    expect(findPeaks([0, 1, 0, 2, 2, 0, 1, 1, 1, 0])).toEqual([1, 3, 7]);
    expect(findPeaks([3, 1, 2])).toEqual([]);
    expect(findPeaks([0, 1, 1])).toEqual([]);
  });

  it('filters by height before pruning by distance, keeping the taller peak', () => {
    expect(findPeaks([0, 1, 0, 2, 2, 0, 1, 1, 1, 0], { height: 1.5 })).toEqual([3]);
    expect(findPeaks([0, 1, 0, 2, 2, 0, 1, 1, 1, 0], { distance: 3 })).toEqual([3, 7]);
  });

  it('calls two well separated clusters bimodal and one cluster unimodal', () => {
    const two: number[] = [];
    const one: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const u = ((i * 7919) % 2000) / 2000 - 0.5;
      two.push((i % 2 ? 8 : -8) + u);
      one.push(u * 3);
    }
    expect(bimodalTest(two).bimodal).toBe(true);
    expect(bimodalTest(one).bimodal).toBe(false);
  });
});

/** Seeded standard normals (mulberry32 + Box-Muller): the same keys on every run. */
function normals(seed: number): () => number {
  const next = mulberry32(seed);
  // half a step up, so log() never sees 0 (the shift is exact)
  const uniform = () => next() + 2 ** -33;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** K as [4096 tokens, 128 channels]: channel c centred at centre[c], spread `within` around it. */
function keys(centre: Float64Array, within: number, seed: number): Float32Array {
  const z = normals(seed);
  const k = new Float32Array(4096 * 128);
  for (let i = 0; i < k.length; i++) k[i] = centre[i % 128]! + within * z();
  return k;
}

describe('BIG decision on per-channel centres', () => {
  // SAM 2.1 fixture layer 0's numbers: centres spread 1.79 before the planted +-3, within-channel std 2.03.
  const z = normals(7);
  const spread = Float64Array.from({ length: 128 }, () => 1.79 * z());
  const signs = Float64Array.from({ length: 128 }, (_, c) => ((c * 37) % 128 < 60 ? -1 : 1));
  const planted = keys(spread.map((s, c) => s + 3 * signs[c]!), 2.03, 1);

  it('finds +-3 channel offsets that one KDE over all values (the paper\'s test) misses', () => {
    expect(pooledBimodal(planted)).toBe(false);
    expect(centresBimodal(planted, 128)).toBe(true);
  });

  it('flags neither the same keys without the offsets nor offsets all of one sign (nothing a sign fold merges)', () => {
    expect(centresBimodal(keys(spread, 2.03, 2), 128)).toBe(false);
    expect(centresBimodal(keys(spread.map((s) => s + 3), 2.03, 3), 128)).toBe(false);
  });

  it('averages each channel over every row of every tensor given', () => {
    expect(Array.from(channelMeans([Float32Array.of(1, 10, 3, 20), Float32Array.of(5, 30)], 2))).toEqual([3, 20]);
    expect(() => channelMeans([new Float32Array(5)], 2)).toThrow(/not \[rows, 2\]/);
  });
});

describe('AGQ log2 quantizer', () => {
  it('keeps the paper code\'s L+1 levels: 2^b powers of 2^(-1/tau) below s, plus zero', () => {
    expect(Array.from(agqTable({ scale: 1, tau: 1, bits: 2, variant: 'paper' }))).toEqual([1, 0.5, 0.25, 0.125, 0]);
    expect(Array.from(agqTable({ scale: 1, tau: 1, bits: 2, variant: 'exact' }))).toEqual([1, 0.5, 0.25, 0]);
  });

  it('rounds -tau*log2(a/s) to a code, saturating above s and flushing tiny values to zero', () => {
    const p = { scale: 1, tau: 1, bits: 2, variant: 'paper' as const };
    expect([0.3, 0.1, 0.05, 2, 0].map((a) => agqQuantize(a, p))).toEqual([0.25, 0.125, 0, 1, 0]);
    expect(agqQuantize(0.1, { ...p, variant: 'exact' })).toBe(0);
    expect(agqCode(0.6, { ...p, tau: 2 })).toBe(1);
    expect(agqQuantize(0.6, { ...p, tau: 2 })).toBeCloseTo(Math.SQRT1_2, 12);
  });
});

describe('activation range searches', () => {
  const sample = Array.from({ length: 1000 }, (_, i) => ((i * 37) % 1000) / 100 - 2 + (i === 500 ? 100 : 0));

  it('OMSE never does worse than the full min/max range on its own objective', () => {
    const r = omseRange(sample, -2, 107.99, 4);
    const err = (lo: number, hi: number) => quantizationError(sample, paramsFromRange(lo, hi, 4), 2);
    expect(err(r.lo, r.hi)).toBeLessThanOrEqual(err(-2, 107.99));
    expect(r.hi).toBeLessThanOrEqual(107.99);
  });

  it('the nested key search returns an interval inside [min, max]', () => {
    const r = keyRangeSearch(sample, -2, 107.99, 4);
    expect(r.lo).toBeGreaterThanOrEqual(-2);
    expect(r.hi).toBeLessThanOrEqual(107.99);
    expect(r.hi - r.lo).toBeGreaterThan(5);
  });

  it('interpolates quantiles like numpy', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 1)).toBe(4);
  });
});

describe('GPTQ weight rounding', () => {
  const rows = 16;
  const cols = 4;
  const weight = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * 0.5);
  const grid = quantizeColumns(weight, rows, cols, 4, { range: 'minmax' });
  const outputError = (codes: Uint8Array, x: Float64Array[]) => {
    let e = 0;
    for (const row of x) {
      for (let c = 0; c < cols; c++) {
        let d = 0;
        for (let i = 0; i < rows; i++) d += row[i]! * (weight[i * cols + c]! - grid.scales[c]! * (codes[i * cols + c]! - grid.zeroPoints[c]!));
        e += d * d;
      }
    }
    return e;
  };

  it('rounds to nearest when the inputs are uncorrelated (H proportional to the identity)', () => {
    const h = new Float64Array(rows * rows);
    for (let i = 0; i < rows; i++) h[i * rows + i] = 3;
    expect(Array.from(gptqColumns(weight, rows, cols, h, grid.scales, grid.zeroPoints, 4))).toEqual(Array.from(grid.codes));
  });

  it('lowers the output error on correlated calibration inputs against round-to-nearest', () => {
    const x = Array.from({ length: 40 }, (_, n) => Float64Array.from({ length: rows }, (_, i) => Math.cos(n * 0.9 + i * 0.3) + 0.5 * Math.sin(n * 2.1)));
    const h = new Float64Array(rows * rows);
    for (const row of x) for (let i = 0; i < rows; i++) for (let j = 0; j < rows; j++) h[i * rows + j] += row[i]! * row[j]!;
    const codes = gptqColumns(weight, rows, cols, h, grid.scales, grid.zeroPoints, 4);
    expect(outputError(codes, x)).toBeLessThan(0.5 * outputError(grid.codes, x));
  });
});
