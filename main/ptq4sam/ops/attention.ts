/**
 * The two products inside every attention, by the builders' names `<attn>/qk/MatMul` and
 * `<attn>/av/MatMul`. PTQ4SAM quantizes q, k and v per tensor after the projection (before the
 * head split); a per-tensor quantizer commutes with the reshapes, transposes and the constant
 * 1/sqrt(d) scaling between there and the MatMul, so we quantize the MatMul inputs themselves.
 * Decoder keys take PTQ4SAM's key observer (the MSE search that BIG switches on).
 */
import { moduleOf } from './linear.ts';
import type { OpHandler, Target } from './types.ts';

export const qkHandler: OpHandler = {
  match(node, ctx): Target | null {
    if (node.opType !== 'MatMul' || !node.name?.endsWith('/qk/MatMul')) return null;
    const module = moduleOf(moduleOf(node.name));
    const [q, k] = node.input ?? [];
    if (!q || !k) return null;
    return {
      kind: 'qk', graph: ctx.graph, node: node.name, module,
      q: { id: `${module}:q`, graph: ctx.graph, tensor: q, module, observer: 'act' },
      k: { id: `${module}:k`, graph: ctx.graph, tensor: k, module, observer: ctx.graph === 'decoder' ? 'key' : 'act' },
    };
  },
};

export const avHandler: OpHandler = {
  match(node, ctx): Target | null {
    if (node.opType !== 'MatMul' || !node.name?.endsWith('/av/MatMul')) return null;
    const module = moduleOf(moduleOf(node.name));
    const [a, v] = node.input ?? [];
    if (!a || !v) return null;
    return {
      kind: 'av', graph: ctx.graph, node: node.name, module,
      probs: { id: `${module}:softmax`, graph: ctx.graph, tensor: a, module, observer: 'softmax' },
      v: { id: `${module}:v`, graph: ctx.graph, tensor: v, module, observer: 'act' },
    };
  },
};
