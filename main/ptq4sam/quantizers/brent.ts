/**
 * Bounded Brent minimization with the semantics of scipy.optimize.minimize_scalar(method="bounded")
 * (scipy's _minimize_scalar_bounded, i.e. fminbound): golden-section steps with parabolic
 * interpolation, xatol 1e-5, at most 500 evaluations, first point at the golden section of the
 * interval. PTQ4SAM searches AGQ scales and the decoder key ranges with it.
 */

export interface BoundedResult {
  x: number;
  fun: number;
  evaluations: number;
}

const SQRT_EPS = Math.sqrt(2.2e-16);
const GOLDEN_MEAN = 0.5 * (3 - Math.sqrt(5));

export function minimizeScalarBounded(f: (x: number) => number, lower: number, upper: number, opts: { xatol?: number; maxiter?: number } = {}): BoundedResult {
  const xatol = opts.xatol ?? 1e-5;
  const maxfun = opts.maxiter ?? 500;
  if (!(lower <= upper)) throw new Error(`bounded search: lower bound ${lower} above upper bound ${upper}`);
  let a = lower;
  let b = upper;
  let fulc = a + GOLDEN_MEAN * (b - a);
  let nfc = fulc;
  let xf = fulc;
  let rat = 0;
  let e = 0;
  let x = xf;
  let fx = f(x);
  let num = 1;
  let ffulc = fx;
  let fnfc = fx;
  let xm = 0.5 * (a + b);
  let tol1 = SQRT_EPS * Math.abs(xf) + xatol / 3;
  let tol2 = 2 * tol1;
  const sign = (v: number) => (v > 0 ? 1 : v < 0 ? -1 : 0);

  while (Math.abs(xf - xm) > tol2 - 0.5 * (b - a)) {
    let golden = true;
    if (Math.abs(e) > tol1) {
      golden = false;
      let r = (xf - nfc) * (fx - ffulc);
      let q = (xf - fulc) * (fx - fnfc);
      let p = (xf - fulc) * q - (xf - nfc) * r;
      q = 2 * (q - r);
      if (q > 0) p = -p;
      q = Math.abs(q);
      r = e;
      e = rat;
      if (Math.abs(p) < Math.abs(0.5 * q * r) && p > q * (a - xf) && p < q * (b - xf)) {
        rat = p / q;
        x = xf + rat;
        if (x - a < tol2 || b - x < tol2) rat = tol1 * (sign(xm - xf) + (xm - xf === 0 ? 1 : 0));
      } else {
        golden = true;
      }
    }
    if (golden) {
      e = xf >= xm ? a - xf : b - xf;
      rat = GOLDEN_MEAN * e;
    }
    const si = sign(rat) + (rat === 0 ? 1 : 0);
    x = xf + si * Math.max(Math.abs(rat), tol1);
    const fu = f(x);
    num += 1;
    if (fu <= fx) {
      if (x >= xf) a = xf; else b = xf;
      fulc = nfc; ffulc = fnfc;
      nfc = xf; fnfc = fx;
      xf = x; fx = fu;
    } else {
      if (x < xf) a = x; else b = x;
      if (fu <= fnfc || nfc === xf) {
        fulc = nfc; ffulc = fnfc;
        nfc = x; fnfc = fu;
      } else if (fu <= ffulc || fulc === xf || fulc === nfc) {
        fulc = x; ffulc = fu;
      }
    }
    xm = 0.5 * (a + b);
    tol1 = SQRT_EPS * Math.abs(xf) + xatol / 3;
    tol2 = 2 * tol1;
    if (num >= maxfun) break;
  }
  return { x: xf, fun: fx, evaluations: num };
}
