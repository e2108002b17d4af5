/**
 * Rewrites a float graph into its quantized form, one handler per target kind, in one pass
 * through a scratch GraphBuilder (see merge.ts):
 * - linear: x -> [Clip] -> QuantizeLinear(uint8) -> MatMulIntegerToFloat with int8 weight codes,
 *   per-output-channel scales and zero points, and the bias (see emitLinear for why explicit).
 * - conv: per-channel int8 weight dequantized into the float Conv; the input stays float (see
 *   emitConv).
 * - qk, and av with a uniform softmax quantizer: both operands -> [Clip] -> QuantizeLinear ->
 *   MatMulIntegerToFloat (both scales in its epilogue): an integer kernel whatever the neighbours.
 * - av with AGQ: code = clamp(round(ln(A) * (-tau / ln 2) + tau * log2 s), 0, zero code),
 *   A^ = Gather(level table, code), then a float MatMul with dequantized V. There is no integer
 *   kernel for a log2 grid, so these are standard float ops.
 * Sub-8-bit grids: a b-bit code with zero point z is a subset of uint8 / int8, so clipping x to
 * [s (0 - z), s (2^b - 1 - z)] before the 8-bit QuantizeLinear reproduces b-bit fake
 * quantization exactly inside the int8 kernel; weights are stored as their b-bit codes.
 */
import { consumers, DataType, float32ToFloat16Bits, GraphBuilder, MS_DOMAIN, tensorToFloat32, toNumber, type INodeProto, type ITensorProto, type ModelProto } from '../../onnx/index.ts';
import { agqTable, agqZeroCode, type AgqParams } from '../quantizers/log2.ts';
import { levels, type UniformParams } from '../quantizers/uniform.ts';
import type { PerChannelWeights } from '../quantizers/weight-search.ts';
import type { ActivationSite, AvTarget, ConvTarget, LinearTarget, QkTarget, Target } from '../ops/types.ts';
import { mergeBuilder } from './merge.ts';

export interface EmitParams {
  activations: Map<string, UniformParams>;
  /** softmax sites quantized with AGQ, by activation site id */
  agq: Map<string, AgqParams>;
  /** per-channel weight codes by weight initializer name */
  weights: Map<string, PerChannelWeights>;
}

interface EmitContext {
  b: GraphBuilder;
  p: EmitParams;
  inits: Map<string, ITensorProto>;
  replaced: Map<string, ITensorProto | undefined>;
  consumers: Map<string, INodeProto[]>;
  remove: Set<string>;
  quantCache: Map<string, { q: string; scale: string; zero: string }>;
}

function actParams(ctx: EmitContext, site: ActivationSite): UniformParams {
  const p = ctx.p.activations.get(site.id);
  if (!p) throw new Error(`no quantization parameters for ${site.id}`);
  return p;
}

/** [Clip] -> QuantizeLinear for one activation tensor, shared by consumers with the same grid. */
function quantize(ctx: EmitContext, site: ActivationSite): { q: string; scale: string; zero: string } {
  const p = actParams(ctx, site);
  const key = `${site.tensor}|${p.scale}|${p.zeroPoint}|${p.bits}`;
  const hit = ctx.quantCache.get(key);
  if (hit) return hit;
  const { b } = ctx;
  const result = b.scope(`quant/${site.id}`, () => {
    const scale = b.constF([p.scale]);
    const zero = b.init(`${site.id}/zero_point`, [], new Uint8Array([p.zeroPoint]));
    let x = site.tensor;
    if (p.bits < 8) {
      const lo = Math.fround(p.scale * -p.zeroPoint);
      const hi = Math.fround(p.scale * (levels(p.bits) - 1 - p.zeroPoint));
      x = b.op('Clip', [x, b.constF([lo]), b.constF([hi])]);
    }
    return { q: b.op('QuantizeLinear', [x, scale, zero]), scale, zero };
  });
  ctx.quantCache.set(key, result);
  return result;
}

function fakeQuant(ctx: EmitContext, site: ActivationSite): string {
  const { q, scale, zero } = quantize(ctx, site);
  return ctx.b.op('DequantizeLinear', [q, scale, zero], {}, { name: `quant/${site.id}/DequantizeLinear` });
}

/**
 * A target's quantized weight as int8 initializers (codes, per-channel scales, zero points) and
 * the weight's dims. Storage: b <= 7 as q - z with zero point 0; b = 8 as q - 128 with zero
 * point z - 128.
 */
function weightInitializers(ctx: EmitContext, name: string, bits: number): { codes: string; scales: string; zeros: string; dims: number[] } {
  const wInit = ctx.inits.get(name);
  const w = ctx.p.weights.get(name);
  if (!wInit || !w) throw new Error(`no quantized weight for ${name}`);
  const dims = (wInit.dims ?? []).map(toNumber);
  const shift = (c: number) => (bits < 8 ? w.zeroPoints[c]! : 128);
  const channels = w.scales.length;
  const codes = new Int8Array(w.codes.length);
  const channelOf = dims.length === 2 ? (i: number) => i % channels : (i: number) => Math.floor(i / (w.codes.length / channels));
  for (let i = 0; i < codes.length; i++) codes[i] = w.codes[i]! - shift(channelOf(i));
  const zeros = Int8Array.from(w.zeroPoints, (z, c) => z - shift(c));
  const { b } = ctx;
  ctx.replaced.set(name, undefined);
  return {
    codes: b.init(`${name}/quantized`, dims, codes),
    scales: b.init(`${name}/scale`, [channels], w.scales),
    zeros: b.init(`${name}/zero_point`, [channels], zeros),
    dims,
  };
}

/** The bias Add right after a linear's MatMul (`<module>/Add` with a 1-D constant of N values), if any. */
function biasAddOf(ctx: EmitContext, matmulOutput: string, n: number): { node: INodeProto; bias: string } | null {
  const uses = ctx.consumers.get(matmulOutput) ?? [];
  if (uses.length !== 1 || uses[0]!.opType !== 'Add') return null;
  const add = uses[0]!;
  const bias = (add.input ?? []).find((i) => i !== matmulOutput);
  const t = bias ? ctx.inits.get(bias) : undefined;
  if (!bias || !t || (t.dims ?? []).length !== 1 || toNumber(t.dims![0]) !== n) return null;
  return { node: add, bias };
}

/**
 * Linear: QuantizeLinear(x) -> com.microsoft MatMulIntegerToFloat(x_q, W_q, s_x, s_w, z_x, z_w,
 * bias), written explicitly rather than left to the QDQ fusion: onnxruntime 1.30's
 * MatMulAddFusion turns DQ -> MatMul -> Add on 3-D/4-D inputs into a float Gemm before the
 * QDQ fusion can see it, which silently runs the layer in float.
 */
function emitLinear(ctx: EmitContext, t: LinearTarget, node: INodeProto, bits: number): void {
  const { b } = ctx;
  const { codes, scales, zeros, dims } = weightInitializers(ctx, t.weight, bits);
  const x = quantize(ctx, t.input);
  const add = biasAddOf(ctx, node.output![0]!, dims[1]!);
  if (add) ctx.remove.add(add.node.name ?? '');
  b.op('MatMulIntegerToFloat', [x.q, codes, x.scale, scales, x.zero, zeros, ...(add ? [add.bias] : [])], {}, {
    name: `${t.module}/MatMulIntegerToFloat`, domain: MS_DOMAIN, outputs: [add ? add.node.output![0]! : node.output![0]!],
  });
}

/**
 * Conv (the neck's 3x3): int8 per-channel weight, DequantizeLinear -> float Conv, input in float.
 * No integer kernel applies here (QLinearConv would need a quantized output, and the output
 * feeds a LayerNorm), so fake-quantizing the input would only add error: on sam-tiny it was
 * the largest single source of embedding error (1.5% of the 3.2% at w8a8). The weight still
 * ships as int8 codes, a quarter of its float size.
 */
function emitConv(ctx: EmitContext, t: ConvTarget, node: INodeProto, bits: number): void {
  const { b } = ctx;
  const { codes, scales, zeros } = weightInitializers(ctx, t.weight, bits);
  const wDq = b.op('DequantizeLinear', [codes, scales, zeros], { axis: 0 }, { name: `${t.module}/weight/DequantizeLinear` });
  b.nodes.push({ ...node, input: [(node.input ?? [])[0]!, wDq, ...(node.input ?? []).slice(2)] });
}

/**
 * QK^T and uniform A.V: both operands quantized per tensor, then com.microsoft
 * MatMulIntegerToFloat, which takes non-constant batched operands and applies both scales in
 * its epilogue. MatMulInteger -> Cast -> Mul would write the int32 product and then pass twice
 * more over it in float: over a ViT-B global attention map (12 x 4096 x 4096) those two passes
 * cost more than the integer product saves.
 */
function integerMatMul(ctx: EmitContext, a: ActivationSite, c: ActivationSite, outputName: string, nodeName: string): void {
  const qa = quantize(ctx, a);
  const qc = quantize(ctx, c);
  ctx.b.op('MatMulIntegerToFloat', [qa.q, qc.q, qa.scale, qc.scale, qa.zero, qc.zero], {}, { name: `${nodeName}/Integer`, domain: MS_DOMAIN, outputs: [outputName] });
}

function emitAgqAv(ctx: EmitContext, t: AvTarget, agq: AgqParams, outputName: string): void {
  const { b } = ctx;
  b.scope(`${t.module}/agq`, () => {
    const lnA = b.op('Log', [t.probs.tensor]);
    const k = b.op('Round', [b.op('Add', [b.op('Mul', [lnA, b.constF([-agq.tau / Math.LN2])]), b.constF([agq.tau * Math.log2(agq.scale)])])]);
    // ln 0 = -inf gives +inf, clipped to the zero code: exactly the quantizer's k >= L branch.
    const code = b.op('Cast', [b.op('Clip', [k, b.constF([0]), b.constF([agqZeroCode(agq)])])], { to: DataType.INT64 });
    const aq = b.op('Gather', [b.init(`${t.module}/agq/levels`, [agqZeroCode(agq) + 1], agqTable(agq)), code], { axis: 0 });
    b.op('MatMul', [aq, fakeQuant(ctx, t.v)], {}, { name: t.node, outputs: [outputName] });
  });
}

/** Float parameters at least this large are stored as float16 (see storeFloatPartsAsHalf). */
export const HALF_STORAGE_MIN_ELEMENTS = 4096;

/**
 * The parts the spec keeps float (patch embedding, positional tables, prompt encoder, mask head,
 * and the decoder's token-only linears) are stored as float16 with a Cast: onnxruntime folds the
 * Cast when it loads the model, so they still run in float32, at no cost in speed, and the file
 * is smaller (ViT-B: pos_embed alone is 12.6 MB in float32). Only the model's own parameters
 * (checkpoint names) of at least HALF_STORAGE_MIN_ELEMENTS values: the builders' index and
 * interpolation tables stay exact. Rounding to float16 is a relative error of 2^-11, well
 * below the 8-bit grids around them.
 */
function storeFloatPartsAsHalf(ctx: EmitContext): void {
  const { b } = ctx;
  for (const [name, t] of ctx.inits) {
    if (ctx.replaced.has(name) || t.dataType !== DataType.FLOAT || !/^(image_encoder|(sam_)?prompt_encoder|(sam_)?mask_decoder)\./.test(name)) continue;
    const dims = (t.dims ?? []).map(toNumber);
    if (dims.reduce((n, d) => n * d, 1) < HALF_STORAGE_MIN_ELEMENTS) continue;
    ctx.replaced.set(name, undefined);
    const half = b.init(`${name}/float16`, dims, float32ToFloat16Bits(tensorToFloat32(t)), { float16: true });
    b.op('Cast', [half], { to: DataType.FLOAT }, { name: `${name}/Cast`, outputs: [name] });
  }
}

export interface EmitResult {
  model: ModelProto;
  /** node names of the integer products we wrote (for checking the optimized graph) */
  integerNodes: string[];
}

export function emitQuantizedGraph(model: ModelProto, targets: Target[], p: EmitParams, weightBits: number): EmitResult {
  const g = model.graph!;
  const ctx: EmitContext = {
    b: new GraphBuilder(), p, inits: new Map((g.initializer ?? []).map((t) => [t.name ?? '', t])), replaced: new Map(), quantCache: new Map(),
    consumers: consumers(g), remove: new Set(),
  };
  const nodes = new Map((g.node ?? []).map((n) => [n.name ?? '', n]));
  const remove = ctx.remove;
  const integerNodes: string[] = [];
  const handlers: { [K in Target['kind']]: (t: Extract<Target, { kind: K }>) => void } = {
    linear: (t) => { emitLinear(ctx, t, nodes.get(t.node)!, weightBits); integerNodes.push(t.node); },
    conv: (t) => emitConv(ctx, t, nodes.get(t.node)!, weightBits),
    qk: (t: QkTarget) => {
      integerMatMul(ctx, t.q, t.k, nodes.get(t.node)!.output![0]!, t.node);
      integerNodes.push(t.node);
    },
    av: (t: AvTarget) => {
      const out = nodes.get(t.node)!.output![0]!;
      const agq = p.agq.get(t.probs.id);
      if (agq) emitAgqAv(ctx, t, agq, out);
      else { integerMatMul(ctx, t.probs, t.v, out, t.node); integerNodes.push(t.node); }
    },
  };
  for (const t of targets) {
    remove.add(t.node);
    (handlers[t.kind] as (x: Target) => void)(t);
  }
  storeFloatPartsAsHalf(ctx);
  return { model: mergeBuilder(model, ctx.b, 'ptq4sam', { remove, initializers: ctx.replaced }), integerNodes };
}

/** Float view of a weight initializer, for the weight search. */
export function weightValues(model: ModelProto, name: string): { data: Float32Array; dims: number[] } {
  const t = (model.graph?.initializer ?? []).find((i) => i.name === name);
  if (!t) throw new Error(`weight ${name} not found`);
  return { data: tensorToFloat32(t), dims: (t.dims ?? []).map(toNumber) };
}
