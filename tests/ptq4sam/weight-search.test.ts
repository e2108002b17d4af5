import { describe, expect, it } from 'vitest';
import { quantizeColumns, searchChannelRange } from '../../main/ptq4sam/quantizers/weight-search.ts';
import { fakeQuantize, quantizationError } from '../../main/ptq4sam/quantizers/uniform.ts';

/** The spec's loop, written naively: every i in 1..100, every zero point. */
function naiveSearch(w: number[], bits: number) {
  const qmax = 2 ** bits - 1;
  const r = Math.max(...w, 0) - Math.min(...w, 0);
  let best = { err: Infinity, scale: 0, zp: 0 };
  for (let i = 1; i <= 100; i++) {
    const scale = (i * r) / 100 / qmax;
    for (let zp = 0; zp <= qmax; zp++) {
      const err = quantizationError(w, { scale, zeroPoint: zp, bits }, 2.4);
      if (err < best.err) best = { err, scale, zp };
    }
  }
  return best;
}

function channel(seed: number, n: number): number[] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, () => {
    const g = (rand() + rand() + rand() - 1.5) * 0.1;
    return rand() < 0.02 ? g * 8 : g;
  });
}

describe('weight grid search', () => {
  it('finds the same optimum as the naive 100 x 2^b loop at 4 bits', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const w = channel(seed, 64);
      const fast = searchChannelRange(w, 4, 'exhaustive');
      const naive = naiveSearch(w, 4);
      expect(fast.error).toBeCloseTo(naive.err, 12);
      expect(fast.params.zeroPoint).toBe(naive.zp);
      expect(fast.params.scale).toBeCloseTo(naive.scale, 12);
    }
  });

  it('finds the same optimum as the naive loop at 6 bits', () => {
    const w = channel(11, 48);
    const fast = searchChannelRange(w, 6, 'exhaustive');
    expect(fast.error).toBeCloseTo(naiveSearch(w, 6).err, 12);
  });

  it('coarse-to-fine at 8 bits stays within 1% of the exhaustive objective', () => {
    for (let seed = 1; seed <= 8; seed++) {
      const w = channel(seed * 31, 96);
      const exact = searchChannelRange(w, 8, 'exhaustive');
      const cheap = searchChannelRange(w, 8, 'coarse-to-fine');
      expect(cheap.error).toBeGreaterThanOrEqual(exact.error * (1 - 1e-12));
      expect(cheap.error).toBeLessThanOrEqual(exact.error * 1.01);
    }
  });

  it('stores column codes that dequantize to the searched grid', () => {
    const rows = 8;
    const cols = 3;
    const w = Float32Array.from(channel(5, rows * cols));
    const q = quantizeColumns(w, rows, cols, 4);
    for (let c = 0; c < cols; c++) {
      const p = { scale: q.scales[c]!, zeroPoint: q.zeroPoints[c]!, bits: 4 };
      for (let r = 0; r < rows; r++) {
        expect(q.scales[c]! * (q.codes[r * cols + c]! - q.zeroPoints[c]!)).toBeCloseTo(fakeQuantize(w[r * cols + c]!, p), 6);
      }
    }
  });
});
