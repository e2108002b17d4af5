/**
 * PyTorch modules of segment_anything expressed as ONNX ops. Naming convention (the quantizer
 * relies on it): a Linear `<module>` is MatMul `<module>/MatMul` with initializer
 * `<module>.weight` stored as [in, out], then Add `<module>/Add` with `<module>.bias`.
 */
import { float, type GraphBuilder } from '../../onnx/builder.ts';
import { transpose2d, type Weights } from './weights.ts';

/**
 * `shape`: the weight's [out, in] where the caller knows it (the input's width comes from the
 * config): a mismatch is named here instead of failing in onnxruntime.
 */
export function linear(b: GraphBuilder, w: Weights, module: string, x: string, opts: { bias?: boolean; shape?: [number, number] } = {}): string {
  const [out, inp] = w.shape(`${module}.weight`) as [number, number];
  const weightT = b.init(`${module}.weight`, [inp, out], transpose2d(w.get(`${module}.weight`, opts.shape), out, inp));
  let y = b.op('MatMul', [x, weightT], {}, { name: `${module}/MatMul` });
  if (opts.bias ?? true) {
    const bias = b.init(`${module}.bias`, [out], w.get(`${module}.bias`, [out]));
    y = b.op('Add', [y, bias], {}, { name: `${module}/Add` });
  }
  return y;
}

/** nn.LayerNorm over the last axis. */
export function layerNorm(b: GraphBuilder, w: Weights, module: string, x: string, eps: number): string {
  const [dim] = w.shape(`${module}.weight`) as [number];
  const scale = b.init(`${module}.weight`, [dim], w.get(`${module}.weight`, [dim]));
  const bias = b.init(`${module}.bias`, [dim], w.get(`${module}.bias`, [dim]));
  return b.op('LayerNormalization', [x, scale, bias], { axis: -1, epsilon: float(eps) }, { name: `${module}/LayerNorm` });
}

/**
 * segment_anything's LayerNorm2d: normalises over the channel axis of NCHW, computed as the
 * module does (mean, then mean of squared deviations). The channel means are products with a
 * row of 1/C (exact: C is a power of two in SAM) on the [C, H*W] view: onnxruntime's ReduceMean
 * over a strided axis took 30% of the decoder's time.
 */
export function layerNorm2d(b: GraphBuilder, w: Weights, module: string, x: string, eps = 1e-6): string {
  const [dim] = w.shape(`${module}.weight`) as [number];
  return b.scope(module, () => {
    const shape = b.op('Shape', [x]);
    const flat = b.op('Reshape', [x, b.constI64([dim, -1])]);
    const averager = b.constF(new Float32Array(dim).fill(1 / dim), [1, dim]);
    const u = b.op('MatMul', [averager, flat], {}, { name: `${module}/mean/MatMul` });
    const d = b.op('Sub', [flat, u]);
    const s = b.op('MatMul', [averager, b.op('Mul', [d, d])], {}, { name: `${module}/var/MatMul` });
    const n = b.op('Div', [d, b.op('Sqrt', [b.op('Add', [s, b.constF([eps])])])]);
    const scale = b.init(`${module}.weight`, [dim, 1], w.get(`${module}.weight`, [dim]));
    const bias = b.init(`${module}.bias`, [dim, 1], w.get(`${module}.bias`, [dim]));
    return b.op('Reshape', [b.op('Add', [b.op('Mul', [n, scale]), bias]), shape]);
  });
}

/** Exact (erf) GELU, as nn.GELU(); onnxruntime fuses this pattern into one Gelu kernel. */
export function gelu(b: GraphBuilder, x: string): string {
  const e = b.op('Erf', [b.op('Div', [x, b.constF([Math.SQRT2])])]);
  return b.op('Mul', [b.op('Mul', [x, b.op('Add', [e, b.constF([1])])]), b.constF([0.5])]);
}

/** `shape`: the weight's [out, in, kernel, kernel] where the caller knows it, checked as `linear`'s. */
export function conv2d(
  b: GraphBuilder, w: Weights, module: string, x: string,
  opts: { kernel: number; stride?: number; pad?: number; bias?: boolean; shape?: number[] },
): string {
  const shape = w.shape(`${module}.weight`);
  const weight = b.init(`${module}.weight`, shape, w.get(`${module}.weight`, opts.shape));
  const inputs = [x, weight];
  if (opts.bias ?? true) inputs.push(b.init(`${module}.bias`, [shape[0]!], w.get(`${module}.bias`, [shape[0]!])));
  const p = opts.pad ?? 0;
  const s = opts.stride ?? 1;
  return b.op('Conv', inputs, { kernel_shape: [opts.kernel, opts.kernel], strides: [s, s], pads: [p, p, p, p] }, { name: `${module}/Conv` });
}

export function convTranspose2d(b: GraphBuilder, w: Weights, module: string, x: string, opts: { kernel: number; stride: number }): string {
  const shape = w.shape(`${module}.weight`);
  const weight = b.init(`${module}.weight`, shape, w.get(`${module}.weight`));
  const bias = b.init(`${module}.bias`, [shape[1]!], w.get(`${module}.bias`, [shape[1]!]));
  return b.op('ConvTranspose', [x, weight, bias], { kernel_shape: [opts.kernel, opts.kernel], strides: [opts.stride, opts.stride] }, { name: `${module}/ConvTranspose` });
}

/** segment_anything's MLP: Linear layers with ReLU between them. */
export function mlp(b: GraphBuilder, w: Weights, module: string, x: string, numLayers: number): string {
  let y = x;
  for (let i = 0; i < numLayers; i++) {
    y = linear(b, w, `${module}.layers.${i}`, y);
    if (i < numLayers - 1) y = b.op('Relu', [y], {}, { name: `${module}.layers.${i}/Relu` });
  }
  return y;
}
