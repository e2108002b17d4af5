/**
 * Linear layers: MatMul(x, W) with a constant 2-D W stored [in, out]. Our builders name them
 * `<module>/MatMul` with initializer `<module>.weight`; for imported ONNX any MatMul with a
 * constant 2-D second input counts (module = node name). Which linears are quantized follows
 * PTQ4SAM section 3.1: every linear of the image encoder's blocks and neck, and of the mask
 * decoder's two-way transformer; the prompt encoder and the mask head stay float.
 */
import type { OpHandler, Target } from './types.ts';

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

export const linearHandler: OpHandler = {
  match(node, ctx): Target | null {
    if (node.opType !== 'MatMul') return null;
    const [x, w] = node.input ?? [];
    const dims = w ? ctx.constants.get(w) : undefined;
    if (!x || !w || !dims || dims.length !== 2) return null;
    const module = moduleOf(node.name ?? '');
    if (!QUANTIZED_SCOPES[ctx.graph]!.test(module)) return null;
    return {
      kind: 'linear', graph: ctx.graph, node: node.name ?? '', module, weight: w,
      input: { id: `${module}:input`, graph: ctx.graph, tensor: x, module, observer: 'act' },
    };
  },
};
