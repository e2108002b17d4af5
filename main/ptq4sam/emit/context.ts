/**
 * What an op handler's `emit` works with (ops/): the scratch GraphBuilder, the calibrated
 * parameters, and the shared pieces of every rewrite: an activation's QuantizeLinear [-> Clip]
 * (shared by consumers with the same grid), fake quantization, a weight's int8 initializers,
 * the bias Add after a MatMul, and the integer product of two quantized activations.
 * Sub-8-bit grids: a b-bit code with zero point z is a subset of uint8 / int8, so clipping the
 * 8-bit QuantizeLinear's codes to [0, 2^b - 1] reproduces b-bit fake quantization exactly
 * inside the int8 kernel; weights are stored as their b-bit codes.
 */
import { MS_DOMAIN, toNumber, type GraphBuilder, type INodeProto, type ITensorProto } from '../../onnx/index.ts';
import type { AgqParams } from '../quantizers/log2.ts';
import { levels, type UniformParams } from '../quantizers/uniform.ts';
import type { PerChannelWeights } from '../quantizers/weight-search.ts';
import type { ActivationSite } from '../ops/types.ts';

export interface EmitParams {
  activations: Map<string, UniformParams>;
  /** softmax sites quantized with AGQ, by activation site id */
  agq: Map<string, AgqParams>;
  /** per-channel weight codes by weight initializer name */
  weights: Map<string, PerChannelWeights>;
}

export interface EmitContext {
  b: GraphBuilder;
  p: EmitParams;
  weightBits: number;
  /** 8-bit weights stored as uint8 codes with uint8 zero points (sam/int8-kernel.ts says why) */
  unsignedWeights: boolean;
  /**
   * The second operand of a product of two activations as int8 codes (q - 128, zero point
   * z - 128): where this machine's u8 x s8 kernel is exact (VNNI), it is the fast one, and the
   * u8 x u8 kernel is not (sam/int8-kernel.ts). The same products either way.
   */
  signedOperands: boolean;
  inits: Map<string, ITensorProto>;
  /** initializers replaced (undefined: dropped) when the builder is merged */
  replaced: Map<string, ITensorProto | undefined>;
  consumers: Map<string, INodeProto[]>;
  /** nodes of the float graph the rewrite removes (the matched node is already in it) */
  remove: Set<string>;
  quantCache: Map<string, { q: string; scale: string; zero: string }>;
}

function actParams(ctx: EmitContext, site: ActivationSite): UniformParams {
  const p = ctx.p.activations.get(site.id);
  if (!p) throw new Error(`no quantization parameters for ${site.id}`);
  return p;
}

/**
 * QuantizeLinear [-> Clip] for one activation tensor, shared by consumers with the same grid.
 * `signed`: the codes as int8, q - 128 with zero point z - 128 (the same grid; QuantizeLinear
 * saturates to [-128, 127] exactly where the uint8 one saturates to [0, 255]).
 */
export function quantize(ctx: EmitContext, site: ActivationSite, signed = false): { q: string; scale: string; zero: string } {
  const p = actParams(ctx, site);
  const key = `${site.tensor}|${p.scale}|${p.zeroPoint}|${p.bits}|${signed ? 's8' : 'u8'}`;
  const hit = ctx.quantCache.get(key);
  if (hit) return hit;
  const { b } = ctx;
  const codes = (v: number) => (signed ? new Int8Array([v - 128]) : new Uint8Array([v]));
  const suffix = signed ? '_s8' : '';
  const result = b.scope(`quant/${site.id}${suffix}`, () => {
    const scale = b.constF([p.scale]);
    const zero = b.init(`${site.id}/zero_point${suffix}`, [], codes(p.zeroPoint));
    const q = b.op('QuantizeLinear', [site.tensor, scale, zero]);
    if (p.bits >= 8) return { q, scale, zero };
    // A b-bit grid is the 8-bit grid's codes 0..2^b-1: QuantizeLinear saturates at 0 (the grid's
    // low end), and a Clip on the codes gives the top end, exactly what clipping the float input
    // to [lo, hi] first gives, in a pass over 1-byte instead of 4-byte values.
    const bottom = b.init(`${site.id}/code_min${suffix}`, [], codes(0));
    const top = b.init(`${site.id}/code_max${suffix}`, [], codes(levels(p.bits) - 1));
    return { q: b.op('Clip', [q, bottom, top]), scale, zero };
  });
  ctx.quantCache.set(key, result);
  return result;
}

export function fakeQuant(ctx: EmitContext, site: ActivationSite): string {
  const { q, scale, zero } = quantize(ctx, site);
  return ctx.b.op('DequantizeLinear', [q, scale, zero], {}, { name: `quant/${site.id}/DequantizeLinear` });
}

/**
 * A target's quantized weight as int8 initializers (codes, per-channel scales, zero points) and
 * the weight's dims. Storage: b <= 7 as q - z with zero point 0 (|q - z| < 128, so no pair of
 * u8 x s8 products can saturate 16 bits); b = 8 as q - 128 with zero point z - 128, or, with
 * `unsignedWeights`, as the uint8 codes q with zero point z.
 */
export function weightInitializers(ctx: EmitContext, name: string): { codes: string; scales: string; zeros: string; dims: number[] } {
  const bits = ctx.weightBits;
  const wInit = ctx.inits.get(name);
  const w = ctx.p.weights.get(name);
  if (!wInit || !w) throw new Error(`no quantized weight for ${name}`);
  const dims = (wInit.dims ?? []).map(toNumber);
  const { b } = ctx;
  if (bits >= 8 && ctx.unsignedWeights) {
    ctx.replaced.set(name, undefined);
    return {
      codes: b.init(`${name}/quantized`, dims, Uint8Array.from(w.codes)),
      scales: b.init(`${name}/scale`, [w.scales.length], w.scales),
      zeros: b.init(`${name}/zero_point`, [w.scales.length], Uint8Array.from(w.zeroPoints)),
      dims,
    };
  }
  const shift = (c: number) => (bits < 8 ? w.zeroPoints[c]! : 128);
  const channels = w.scales.length;
  const codes = new Int8Array(w.codes.length);
  const channelOf = dims.length === 2 ? (i: number) => i % channels : (i: number) => Math.floor(i / (w.codes.length / channels));
  for (let i = 0; i < codes.length; i++) codes[i] = w.codes[i]! - shift(channelOf(i));
  const zeros = Int8Array.from(w.zeroPoints, (z, c) => z - shift(c));
  ctx.replaced.set(name, undefined);
  return {
    codes: b.init(`${name}/quantized`, dims, codes),
    scales: b.init(`${name}/scale`, [channels], w.scales),
    zeros: b.init(`${name}/zero_point`, [channels], zeros),
    dims,
  };
}

/** The bias Add right after a linear's MatMul (`<module>/Add` with a 1-D constant of N values), if any. */
export function biasAddOf(ctx: EmitContext, matmulOutput: string, n: number): { node: INodeProto; bias: string } | null {
  const uses = ctx.consumers.get(matmulOutput) ?? [];
  if (uses.length !== 1 || uses[0]!.opType !== 'Add') return null;
  const add = uses[0]!;
  const bias = (add.input ?? []).find((i) => i !== matmulOutput);
  const t = bias ? ctx.inits.get(bias) : undefined;
  if (!bias || !t || (t.dims ?? []).length !== 1 || toNumber(t.dims![0]) !== n) return null;
  return { node: add, bias };
}

/**
 * QK^T and uniform A.V: both operands quantized per tensor, then com.microsoft
 * MatMulIntegerToFloat, which takes non-constant batched operands and applies both scales in
 * its epilogue. MatMulInteger -> Cast -> Mul would write the int32 product and then pass twice
 * more over it in float: over a ViT-B global attention map (12 x 4096 x 4096) those two passes
 * cost more than the integer product saves. The second operand is int8 with `signedOperands`.
 */
export function integerMatMul(ctx: EmitContext, a: ActivationSite, c: ActivationSite, outputName: string, nodeName: string): void {
  const qa = quantize(ctx, a);
  const qc = quantize(ctx, c, ctx.signedOperands);
  ctx.b.op('MatMulIntegerToFloat', [qa.q, qc.q, qa.scale, qc.scale, qa.zero, qc.zero], {}, { name: `${nodeName}/Integer`, domain: MS_DOMAIN, outputs: [outputName] });
}
