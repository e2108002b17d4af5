/**
 * Linear layers: MatMul(x, W) with a constant 2-D W stored [in, out]. Our builders name them
 * `<module>/MatMul` with initializer `<module>.weight`; for imported ONNX any MatMul with a
 * constant 2-D second input counts (module = node name). Which linears are quantized follows
 * PTQ4SAM section 3.1: every linear of the image encoder's blocks and neck, and of the mask
 * decoder's two-way transformer; the prompt encoder and the mask head stay float.
 */
import { MS_DOMAIN } from '../../onnx/index.ts';
import { biasAddOf, quantize, weightInitializers } from '../emit/context.ts';
import type { ActivationSite, OpHandler, Target, WeightSite } from './types.ts';

const QUANTIZED_SCOPES: Record<string, RegExp> = {
  // SAM's ViT blocks, or SAM 2.1's Hiera blocks (image_encoder.trunk.blocks.*)
  encoder: /^image_encoder\.(blocks\.\d+\.|trunk\.blocks\.\d+\.|neck\.)/,
  // SAM 2.1 names the module sam_mask_decoder
  decoder: /^(sam_)?mask_decoder\.transformer\./,
};

export function moduleOf(nodeName: string): string {
  const slash = nodeName.lastIndexOf('/');
  return slash > 0 ? nodeName.slice(0, slash) : nodeName;
}

interface LinearTarget extends Target {
  input: ActivationSite;
  weight: WeightSite;
}

export const linearHandler: OpHandler<LinearTarget> = {
  kind: 'linear',
  match(node, ctx) {
    if (node.opType !== 'MatMul') return null;
    const [x, w] = node.input ?? [];
    const dims = w ? ctx.constants.get(w) : undefined;
    if (!x || !w || !dims || dims.length !== 2) return null;
    const module = moduleOf(node.name ?? '');
    if (!QUANTIZED_SCOPES[ctx.graph]!.test(module)) return null;
    const input: ActivationSite = { id: `${module}:input`, graph: ctx.graph, tensor: x, module, observer: 'act' };
    return { kind: 'linear', graph: ctx.graph, node: node.name ?? '', module, input, activations: [input], weight: { name: w, channelAxis: 1, input } };
  },

  /**
   * QuantizeLinear(x) -> com.microsoft MatMulIntegerToFloat(x_q, W_q, s_x, s_w, z_x, z_w, bias),
   * written explicitly rather than left to the QDQ fusion: onnxruntime 1.30's MatMulAddFusion
   * turns DQ -> MatMul -> Add on 3-D/4-D inputs into a float Gemm before the QDQ fusion can see
   * it, which silently runs the layer in float.
   */
  emit(ctx, t, node) {
    const { codes, scales, zeros, dims } = weightInitializers(ctx, t.weight.name);
    const x = quantize(ctx, t.input);
    const add = biasAddOf(ctx, node.output![0]!, dims[1]!);
    if (add) ctx.remove.add(add.node.name ?? '');
    ctx.b.op('MatMulIntegerToFloat', [x.q, codes, x.scale, scales, x.zero, zeros, ...(add ? [add.bias] : [])], {}, {
      name: `${t.module}/MatMulIntegerToFloat`, domain: MS_DOMAIN, outputs: [add ? add.node.output![0]! : node.output![0]!],
    });
    return true;
  },
};
