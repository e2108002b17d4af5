/**
 * The neck's convolutions (image_encoder.neck.*): int8 per-output-channel weight,
 * DequantizeLinear -> float Conv, input in float. No integer kernel applies here (QLinearConv
 * would need a quantized output, and the output feeds a LayerNorm), so fake-quantizing the
 * input would only add error: on sam-tiny it was the largest single source of embedding error
 * (1.5% of the 3.2% at w8a8). The weight still ships as int8 codes, a quarter of its float size.
 */
import { weightInitializers } from '../emit/context.ts';
import { moduleOf } from './linear.ts';
import type { OpHandler, Target, WeightSite } from './types.ts';

interface ConvTarget extends Target {
  weight: WeightSite;
}

export const convHandler: OpHandler<ConvTarget> = {
  kind: 'conv',
  match(node, ctx) {
    if (node.opType !== 'Conv' || ctx.graph !== 'encoder') return null;
    const [x, w] = node.input ?? [];
    const module = moduleOf(node.name ?? '');
    if (!x || !w || !ctx.constants.has(w) || !/^image_encoder\.neck\./.test(module)) return null;
    return { kind: 'conv', graph: ctx.graph, node: node.name ?? '', module, activations: [], weight: { name: w, channelAxis: 0 } };
  },

  emit(ctx, t, node) {
    const { b } = ctx;
    const { codes, scales, zeros } = weightInitializers(ctx, t.weight.name);
    const wDq = b.op('DequantizeLinear', [codes, scales, zeros], { axis: 0 }, { name: `${t.module}/weight/DequantizeLinear` });
    b.nodes.push({ ...node, input: [(node.input ?? [])[0]!, wDq, ...(node.input ?? []).slice(2)] });
    return false;
  },
};
