/**
 * GPTQ weight rounding (Frantar et al. 2023), gradient-free: the rounding of each linear's
 * weights is chosen to keep its OUTPUT on the calibration inputs close, not each weight. With
 * H = X^T X over the layer's calibration inputs (rows of X are input vectors), the input
 * dimensions are quantized one at a time and each one's rounding error is spread over the
 * not-yet-quantized dimensions through the inverse Hessian:
 *   err = (w_i - q(w_i)) / U[i][i],  w_j -= err * U[i][j] for j > i,
 * where U is the upper Cholesky factor of H^-1 (H damped by 1% of its mean diagonal). Per output
 * channel scales and zero points are fixed beforehand (the method's per-channel ranges), so the
 * result is an ordinary per-channel int8 weight that the same integer kernels run.
 * Our weights are stored [in, out]: input dimension i is row i.
 */
import { roundHalfEven } from './round.ts';
import { levels } from './uniform.ts';

export const GPTQ_DAMP = 0.01;

/** Lower Cholesky factor of a symmetric positive definite n x n matrix (row-major, in place copy). */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j]!;
      const ri = i * n;
      const rj = j * n;
      for (let k = 0; k < j; k++) sum -= l[ri + k]! * l[rj + k]!;
      if (i === j) {
        if (!(sum > 0)) throw new Error('GPTQ: calibration Hessian is not positive definite');
        l[ri + i] = Math.sqrt(sum);
      } else {
        l[ri + j] = sum / l[rj + j]!;
      }
    }
  }
  return l;
}

/** H^-1 from its lower Cholesky factor L (H = L L^T): H^-1 = L^-T L^-1. */
function inverseFromCholesky(l: Float64Array, n: number): Float64Array {
  // M = L^-1 (lower triangular), by forward substitution column by column.
  const m = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    for (let i = c; i < n; i++) {
      let sum = i === c ? 1 : 0;
      for (let k = c; k < i; k++) sum -= l[i * n + k]! * m[k * n + c]!;
      m[i * n + c] = sum / l[i * n + i]!;
    }
  }
  // H^-1 = M^T M
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0;
      for (let k = i; k < n; k++) sum += m[k * n + i]! * m[k * n + j]!;
      inv[i * n + j] = sum;
      inv[j * n + i] = sum;
    }
  }
  return inv;
}

/**
 * GPTQ on a [rows = in, cols = out] weight with fixed per-column (output channel) grids.
 * `hessian` is X^T X ([in, in], float64), summed over the calibration inputs. Returns the codes
 * in [0, 2^b - 1], laid out [in, out] like the weight.
 */
export function gptqColumns(weight: Float32Array, rows: number, cols: number, hessian: Float64Array, scales: Float32Array, zeroPoints: Uint8Array, bits: number): Uint8Array {
  const qmax = levels(bits) - 1;
  const n = rows;
  const h = Float64Array.from(hessian);
  const w = Float64Array.from(weight);
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += h[i * n + i]!;
  meanDiag /= n;
  for (let i = 0; i < n; i++) {
    // An input that never varies (dead) carries no signal: its weights only need rounding.
    if (h[i * n + i] === 0) h[i * n + i] = 1;
    h[i * n + i] += GPTQ_DAMP * (meanDiag || 1);
  }
  const hinv = inverseFromCholesky(cholesky(h, n), n);
  // The upper factor U of H^-1 = U^T U is the transpose of its lower factor L2 (U[i][j] = L2[j][i]).
  const l2 = cholesky(hinv, n);
  const codes = new Uint8Array(rows * cols);
  const quant = (x: number, c: number) => {
    const q = roundHalfEven(x / scales[c]!) + zeroPoints[c]!;
    return q < 0 ? 0 : q > qmax ? qmax : q;
  };
  const err = new Float64Array(cols);
  for (let i = 0; i < n; i++) {
    const d = l2[i * n + i]!; // U[i][i]
    const row = i * cols;
    for (let c = 0; c < cols; c++) {
      const q = quant(w[row + c]!, c);
      codes[row + c] = q;
      err[c] = (w[row + c]! - scales[c]! * (q - zeroPoints[c]!)) / d;
    }
    for (let j = i + 1; j < n; j++) {
      const u = l2[j * n + i]!; // U[i][j] = L2[j][i]
      if (u === 0) continue;
      const rj = j * cols;
      for (let c = 0; c < cols; c++) w[rj + c] -= err[c]! * u;
    }
  }
  return codes;
}
