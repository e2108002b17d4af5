/**
 * The quantization plan: which nodes of the two graphs the registered ops (ops/index.ts) target,
 * which of those stay float by default, and every activation quantizer they read.
 */
import { toNumber, type ModelProto } from '../onnx/index.ts';
import { opHandlers } from './ops/index.ts';
import type { ActivationSite, GraphKind, Target } from './ops/types.ts';

/**
 * The mask decoder's token-only ops, kept in float unless asked for: every product whose
 * operands are only the ~7 prompt and output tokens (the self-attentions whole, the MLPs, the
 * token-side q/out projections of token-to-image and k/v projections of image-to-token). They
 * hold about 1.5% of the two-way transformer's multiply-adds (ViT-B decoder: ~21 M of ~1.4 G per
 * prompt), so quantizing them saves no measurable time, yet they cost most of the decoder's
 * fidelity: one per-tensor grid spans output tokens that can be an order of magnitude smaller
 * than a prompt token, and layer 0's self-attention, with no residual, is where what tells the
 * four masks apart lives (README, PTQ4SAM section: sam-tiny mean IoU 0.94 -> 0.98). Their
 * weights are stored as float16 like every float part (storeFloatPartsAsHalf; 2.9 M parameters
 * in ViT-B's decoder: +3 MB over int8; int8 weights alone, even with float activations, brought
 * sam-tiny back to 0.935). The image-to-token attentions' two products stay float too: their
 * keys and values are token-only tensors (the float k/v projections' outputs), and one per-tensor
 * grid over them crushes the small output tokens again; the products are only 4096 x ~7 x 128
 * multiply-adds each. Re-decided on the trained sam-shapes model, on validation images that are
 * neither calibration nor held-out (README, PTQ4SAM section): w8a8 point-prompt mean IoU vs fp32
 * 0.926 -> 0.979; quantizing the decoder alone loses what the whole model loses (0.927; the
 * encoder alone 0.995), and keeping the token-to-image attentions float instead does not help
 * (0.924). Every product over the 4096 image tokens' own values (projections, token-to-image
 * attention) stays quantized, with BIG and AGQ as specified.
 */
const DECODER_TOKEN_SIDE = {
  // SAM: mask_decoder.*, mlp.lin1/lin2; SAM 2.1: sam_mask_decoder.*, mlp.layers.0/1
  linear: /^(sam_)?mask_decoder\.transformer\.(layers\.\d+\.(self_attn\.\w+|mlp\.(lin\d|layers\.\d+)|cross_attn_token_to_image\.(q_proj|out_proj)|cross_attn_image_to_token\.(k_proj|v_proj))|final_attn_token_to_image\.(q_proj|out_proj))$/,
  attention: /^(sam_)?mask_decoder\.transformer\.layers\.\d+\.(self_attn|cross_attn_image_to_token)$/,
};

function isDecoderTokenSide(t: Target): boolean {
  return t.graph === 'decoder' && (DECODER_TOKEN_SIDE.linear.test(t.module) || DECODER_TOKEN_SIDE.attention.test(t.module));
}

export interface PlanOptions {
  /** quantize the decoder's token-only ops too (the spec's full set; see DECODER_TOKEN_SIDE) */
  decoderTokenSide?: boolean;
}

export interface QuantPlan {
  targets: Target[];
  /** modules that matched a handler but stay float (see DECODER_TOKEN_SIDE) */
  keptFloat: string[];
  /** every activation quantizer, deduplicated by id */
  activations: ActivationSite[];
}

function planGraph(model: ModelProto, graph: GraphKind): Target[] {
  const g = model.graph!;
  const constants = new Map((g.initializer ?? []).map((t) => [t.name ?? '', (t.dims ?? []).map(toNumber)]));
  const ctx = { graph, constants };
  const targets: Target[] = [];
  for (const node of g.node ?? []) {
    for (const h of opHandlers()) {
      const t = h.match(node, ctx);
      if (t) { targets.push(t); break; }
    }
  }
  return targets;
}

export function planQuantization(encoder: ModelProto, decoder: ModelProto, opts: PlanOptions = {}): QuantPlan {
  const all = [...planGraph(encoder, 'encoder'), ...planGraph(decoder, 'decoder')];
  const floatTarget = (t: Target) => !opts.decoderTokenSide && isDecoderTokenSide(t);
  const targets = all.filter((t) => !floatTarget(t));
  const keptFloat = [...new Set(all.filter(floatTarget).map((t) => t.module))];
  const byId = new Map<string, ActivationSite>();
  for (const t of targets) for (const a of t.activations) if (!byId.has(a.id)) byId.set(a.id, a);
  return { targets, keptFloat, activations: [...byId.values()] };
}
