/**
 * The two pieces of scipy that PTQ4SAM's bimodality test uses (PTQ4SAM.md section 1):
 * gaussian_kde with Scott's bandwidth evaluated on an even grid, and find_peaks with `height`
 * and `distance`.
 */

export interface KdeCurve {
  /** grid points, evenly spaced on [min, max] of the data */
  x: Float64Array;
  /** density at each grid point */
  y: Float64Array;
  bandwidth: number;
}

/**
 * scipy.stats.gaussian_kde(data)(linspace(min, max, points)): bandwidth = n^(-1/5) * std(ddof=1)
 * (Scott's factor times the data's standard deviation). Contributions beyond 9 bandwidths
 * (relative weight below 3e-18) are skipped after sorting, which changes nothing at float64
 * precision but makes 500k-sample tensors cheap.
 */
export function gaussianKde(data: ArrayLike<number>, points = 128): KdeCurve {
  const n = data.length;
  if (n < 2) throw new Error('KDE needs at least 2 values');
  const sorted = Float64Array.from(data as ArrayLike<number>).sort();
  let mean = 0;
  for (let i = 0; i < n; i++) mean += sorted[i]!;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (sorted[i]! - mean) ** 2;
  const std = Math.sqrt(ss / (n - 1));
  const bandwidth = n ** (-1 / 5) * std;
  const lo = sorted[0]!;
  const hi = sorted[n - 1]!;
  const x = new Float64Array(points);
  const y = new Float64Array(points);
  if (bandwidth === 0) throw new Error('KDE of constant data is singular');
  const norm = 1 / (n * bandwidth * Math.sqrt(2 * Math.PI));
  const reach = 9 * bandwidth;
  let start = 0;
  for (let g = 0; g < points; g++) {
    // numpy.linspace: lo + g * step, with the last point exactly hi.
    const xg = g === points - 1 ? hi : lo + (g * (hi - lo)) / (points - 1);
    x[g] = xg;
    while (start < n && sorted[start]! < xg - reach) start++;
    let sum = 0;
    for (let i = start; i < n; i++) {
      const d = sorted[i]! - xg;
      if (d > reach) break;
      const z = d / bandwidth;
      sum += Math.exp(-0.5 * z * z);
    }
    y[g] = sum * norm;
  }
  return { x, y, bandwidth };
}

/**
 * scipy.signal.find_peaks(y, height=minHeight, distance=minDistance): strict local maxima
 * (a flat top counts once, at its middle sample rounded down; edges never count), then the
 * height filter, then distance pruning that visits peaks from tallest to lowest and removes
 * neighbours closer than `distance` samples. Ties in height are visited in index order from
 * the highest index (scipy's argsort is not stable; we fix this choice).
 */
export function findPeaks(y: ArrayLike<number>, opts: { height?: number; distance?: number } = {}): number[] {
  let peaks: number[] = [];
  const last = y.length - 1;
  let i = 1;
  while (i < last) {
    if (y[i - 1]! < y[i]!) {
      let ahead = i + 1;
      while (ahead < last && y[ahead] === y[i]) ahead++;
      if (y[ahead]! < y[i]!) {
        peaks.push(Math.floor((i + ahead - 1) / 2));
        i = ahead;
      }
    }
    i++;
  }
  if (opts.height !== undefined) peaks = peaks.filter((p) => y[p]! >= opts.height!);
  if (opts.distance !== undefined && opts.distance > 1 && peaks.length > 1) {
    const distance = Math.ceil(opts.distance);
    const keep = peaks.map(() => true);
    const order = peaks.map((_, k) => k).sort((a, b) => y[peaks[a]!]! - y[peaks[b]!]! || a - b);
    for (let r = order.length - 1; r >= 0; r--) {
      const j = order[r]!;
      if (!keep[j]) continue;
      for (let k = j - 1; k >= 0 && peaks[j]! - peaks[k]! < distance; k--) keep[k] = false;
      for (let k = j + 1; k < peaks.length && peaks[k]! - peaks[j]! < distance; k++) keep[k] = false;
    }
    peaks = peaks.filter((_, k) => keep[k]);
  }
  return peaks;
}

/** A KDE bimodality test's constants: grid size, minimum peak height (fraction of the density sum), minimum peak distance in samples. */
export interface BimodalTestSettings {
  gridPoints: number;
  heightFraction: number;
  distance: number;
  /** also require the two peaks on opposite sides of zero (what a sign fold can merge) */
  oppositeSigns: boolean;
}

/** PTQ4SAM's constants: 128 grid points, peaks at least 1% of the density sum, 32 samples apart. */
export const BIMODAL_TEST: BimodalTestSettings = { gridPoints: 128, heightFraction: 0.01, distance: 32, oppositeSigns: false };

/**
 * The same test on the per-channel centres of K (big.ts): the paper's grid and distance, peaks
 * on both sides of zero, and half the paper's height. With the mass split between two modes
 * that span the grid, each mode peaks near the grid's mean density (1% of the sum is 1.28
 * times it), so the smaller mode of an uneven sign split fails 1%: sam-tiny's layer 1 has 56
 * negative against 72 positive channels and its negative mode peaks at 0.92-0.96% on some
 * images, with a gap of empty bins between the modes.
 */
export const CENTRE_BIMODAL_TEST: BimodalTestSettings = { gridPoints: 128, heightFraction: 0.005, distance: 32, oppositeSigns: true };

export interface BimodalVerdict {
  bimodal: boolean;
  peaks: number[];
  curve: KdeCurve;
}

/** Bimodal <=> exactly two peaks pass the height and distance constraints (and straddle zero, if asked). */
export function bimodalTest(values: ArrayLike<number>, settings: BimodalTestSettings = BIMODAL_TEST): BimodalVerdict {
  const curve = gaussianKde(values, settings.gridPoints);
  let total = 0;
  for (const v of curve.y) total += v;
  const peaks = findPeaks(curve.y, { height: settings.heightFraction * total, distance: settings.distance });
  const straddles = peaks.length === 2 && curve.x[peaks[0]!]! < 0 && curve.x[peaks[1]!]! > 0;
  return { bimodal: peaks.length === 2 && (!settings.oppositeSigns || straddles), peaks, curve };
}
