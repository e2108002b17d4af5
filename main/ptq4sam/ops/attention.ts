/**
 * The two products inside every attention, by the builders' names `<attn>/qk/MatMul` and
 * `<attn>/av/MatMul`. PTQ4SAM quantizes q, k and v per tensor after the projection (before the
 * head split); a per-tensor quantizer commutes with the reshapes, transposes and the constant
 * 1/sqrt(d) scaling between there and the MatMul, so we quantize the MatMul inputs themselves.
 * Decoder keys take PTQ4SAM's key observer (the MSE search that BIG switches on).
 */
import { DataType } from '../../onnx/index.ts';
import { fakeQuant, integerMatMul, type EmitContext } from '../emit/context.ts';
import { agqTable, agqZeroCode, type AgqParams } from '../quantizers/log2.ts';
import { moduleOf } from './linear.ts';
import type { ActivationSite, OpHandler, Target } from './types.ts';

interface QkTarget extends Target {
  q: ActivationSite;
  k: ActivationSite;
}

interface AvTarget extends Target {
  attention: { probs: ActivationSite; v: ActivationSite };
}

/** Q.K^T with both operands quantized per tensor: an integer MatMul (see integerMatMul). */
export const qkHandler: OpHandler<QkTarget> = {
  kind: 'qk',
  match(node, ctx) {
    if (node.opType !== 'MatMul' || !node.name?.endsWith('/qk/MatMul')) return null;
    const module = moduleOf(moduleOf(node.name));
    const [qTensor, kTensor] = node.input ?? [];
    if (!qTensor || !kTensor) return null;
    const q: ActivationSite = { id: `${module}:q`, graph: ctx.graph, tensor: qTensor, module, observer: 'act' };
    const k: ActivationSite = { id: `${module}:k`, graph: ctx.graph, tensor: kTensor, module, observer: ctx.graph === 'decoder' ? 'key' : 'act' };
    return { kind: 'qk', graph: ctx.graph, node: node.name, module, q, k, activations: [q, k] };
  },

  emit(ctx, t, node) {
    integerMatMul(ctx, t.q, t.k, node.output![0]!, t.node);
    return true;
  },
};

/**
 * AGQ's log2 grid: code = clamp(round(ln(A) * (-tau / ln 2) + tau * log2 s), 0, zero code),
 * A^ = Gather(level table, code), then a float MatMul with dequantized V. There is no integer
 * kernel for a log2 grid, so these are standard float ops.
 */
function emitAgqAv(ctx: EmitContext, t: AvTarget, agq: AgqParams, outputName: string): void {
  const { b } = ctx;
  const { probs, v } = t.attention;
  b.scope(`${t.module}/agq`, () => {
    const lnA = b.op('Log', [probs.tensor]);
    const k = b.op('Round', [b.op('Add', [b.op('Mul', [lnA, b.constF([-agq.tau / Math.LN2])]), b.constF([agq.tau * Math.log2(agq.scale)])])]);
    // ln 0 = -inf gives +inf, clipped to the zero code: exactly the quantizer's k >= L branch.
    const code = b.op('Cast', [b.op('Clip', [k, b.constF([0]), b.constF([agqZeroCode(agq)])])], { to: DataType.INT64 });
    const aq = b.op('Gather', [b.init(`${t.module}/agq/levels`, [agqZeroCode(agq) + 1], agqTable(agq)), code], { axis: 0 });
    b.op('MatMul', [aq, fakeQuant(ctx, v)], {}, { name: t.node, outputs: [outputName] });
  });
}

/** A.V: the softmax output by AGQ (float ops) or a uniform grid (integer MatMul), V per tensor. */
export const avHandler: OpHandler<AvTarget> = {
  kind: 'av',
  match(node, ctx) {
    if (node.opType !== 'MatMul' || !node.name?.endsWith('/av/MatMul')) return null;
    const module = moduleOf(moduleOf(node.name));
    const [a, vTensor] = node.input ?? [];
    if (!a || !vTensor) return null;
    const probs: ActivationSite = { id: `${module}:softmax`, graph: ctx.graph, tensor: a, module, observer: 'softmax' };
    const v: ActivationSite = { id: `${module}:v`, graph: ctx.graph, tensor: vTensor, module, observer: 'act' };
    return { kind: 'av', graph: ctx.graph, node: node.name, module, activations: [probs, v], attention: { probs, v } };
  },

  emit(ctx, t, node) {
    const out = node.output![0]!;
    const agq = ctx.p.agq.get(t.attention.probs.id);
    if (agq) {
      emitAgqAv(ctx, t, agq, out);
      return false;
    }
    integerMatMul(ctx, t.attention.probs, t.attention.v, out, t.node);
    return true;
  },
};
