/**
 * SAM 2.1's prompt encoder + mask decoder as one ONNX graph (sam2/modeling/sam/prompt_encoder.py,
 * mask_decoder.py, as SAM2ImagePredictor._predict drives them). Inputs: `image_embed`,
 * `high_res_feats_0`, `high_res_feats_1` (the encoder's outputs), `point_coords` 1xNx2 in the
 * 1024x1024 frame (box corners first, labels 2/3), `point_labels` 1xN, `mask_input` 1x1x256x256,
 * `has_mask_input` [1], `orig_im_size` [H, W]. The graph itself appends the padding point, as
 * the SAM 2 prompt encoder always does (samexporter's SAM 2 decoder does the same).
 * Outputs, all four mask tokens (0 = single-mask token, 1..3 = multimask): `masks` (logits at
 * H x W), `iou_predictions` (sigmoid applied), `low_res_masks` (clamped to +-32 as the predictor
 * returns them) and `object_score_logits`.
 */
import { GraphBuilder } from '../../onnx/builder.ts';
import type { ModelProto } from '../../onnx/proto.ts';
import { attention, densePositionalEncoding, torchBilinearResize, twoWayBlock, type TwoWayNames } from './decoder.ts';
import { conv2d, convTranspose2d, gelu, layerNorm, layerNorm2d, linear, mlp } from './layers.ts';
import { SAM2_IMAGE_SIZE, type Sam2Config } from './sam2-config.ts';
import type { Weights } from './weights.ts';

const NUM_MASK_TOKENS = 4;
const DECODER_DEPTH = 2;
const TRANSFORMER_LN_EPS = 1e-5;
const PE = 'sam_prompt_encoder';
const MD = 'sam_mask_decoder';
/** SAM2ImagePredictor clamps the low-res logits it returns (and users feed back) to this. */
const LOW_RES_CLAMP = 32;

const SAM2_TWO_WAY: TwoWayNames = { transformer: `${MD}.transformer`, mlp: ['mlp.layers.0', 'mlp.layers.1'] };

export function buildSam2Decoder(w: Weights, cfg: Sam2Config): ModelProto {
  const b = new GraphBuilder();
  const C = cfg.d_model;
  const grid = SAM2_IMAGE_SIZE / 16;
  const lowRes = grid * 4;
  const s0 = w.shape(`${MD}.conv_s0.weight`)[0]!;
  const s1 = w.shape(`${MD}.conv_s1.weight`)[0]!;
  const imageEmbed = b.input('image_embed', 'float32', [1, C, grid, grid]);
  const feat0 = b.input('high_res_feats_0', 'float32', [1, s0, grid * 4, grid * 4]);
  const feat1 = b.input('high_res_feats_1', 'float32', [1, s1, grid * 2, grid * 2]);
  const pointCoords = b.input('point_coords', 'float32', [1, 'num_points', 2]);
  const pointLabels = b.input('point_labels', 'float32', [1, 'num_points']);
  const maskInput = b.input('mask_input', 'float32', [1, 1, lowRes, lowRes]);
  const hasMaskInput = b.input('has_mask_input', 'float32', [1]);
  const origImSize = b.input('orig_im_size', 'float32', [2]);

  const gaussian = w.get(`${PE}.pe_layer.positional_encoding_gaussian_matrix`, [2, C / 2]);

  // PromptEncoder._embed_points(pad=True): +0.5, one (0,0) point labelled -1 appended, Fourier
  // features of coords / 1024, label embeddings added
  const sparse = b.scope(PE, () => {
    const shifted = b.op('Add', [pointCoords, b.constF([0.5])]);
    const coords = b.op('Concat', [shifted, b.constF([0, 0], [1, 1, 2])], { axis: 1 });
    const allLabels = b.op('Concat', [pointLabels, b.constF([-1], [1, 1])], { axis: 1 });
    const norm = b.op('Div', [coords, b.constF([SAM2_IMAGE_SIZE])]);
    const centred = b.op('Sub', [b.op('Mul', [norm, b.constF([2])]), b.constF([1])]);
    const g = b.init(`${PE}.pe_layer.positional_encoding_gaussian_matrix`, [2, C / 2], gaussian);
    const proj = b.op('Mul', [b.op('MatMul', [centred, g]), b.constF([Math.fround(2 * Math.PI)])]);
    const pe = b.op('Concat', [b.op('Sin', [proj]), b.op('Cos', [proj])], { axis: -1 });
    const labels = b.op('Unsqueeze', [allLabels, b.constI64([-1])]);
    const isPad = b.op('Cast', [b.op('Equal', [labels, b.constF([-1])])], { to: 1 });
    const notPad = b.op('Cast', [b.op('Not', [b.op('Equal', [labels, b.constF([-1])])])], { to: 1 });
    let emb = b.op('Mul', [pe, notPad]);
    const notAPoint = b.init(`${PE}.not_a_point_embed.weight`, [1, C], w.get(`${PE}.not_a_point_embed.weight`, [1, C]));
    emb = b.op('Add', [emb, b.op('Mul', [notAPoint, isPad])]);
    for (let i = 0; i < 4; i++) {
      const e = b.init(`${PE}.point_embeddings.${i}.weight`, [1, C], w.get(`${PE}.point_embeddings.${i}.weight`, [1, C]));
      const isI = b.op('Cast', [b.op('Equal', [labels, b.constF([i])])], { to: 1 });
      emb = b.op('Add', [emb, b.op('Mul', [e, isI])]);
    }
    return emb;
  });

  // _embed_masks, blended with no_mask_embed by has_mask_input (the SAM ONNX convention)
  const dense = b.scope(`${PE}.mask_downscaling`, () => {
    let m = conv2d(b, w, `${PE}.mask_downscaling.0`, maskInput, { kernel: 2, stride: 2 });
    m = gelu(b, layerNorm2d(b, w, `${PE}.mask_downscaling.1`, m));
    m = conv2d(b, w, `${PE}.mask_downscaling.3`, m, { kernel: 2, stride: 2 });
    m = gelu(b, layerNorm2d(b, w, `${PE}.mask_downscaling.4`, m));
    m = conv2d(b, w, `${PE}.mask_downscaling.6`, m, { kernel: 1 });
    const noMask = b.init(`${PE}.no_mask_embed.weight`, [1, C, 1, 1], w.get(`${PE}.no_mask_embed.weight`, [1, C]));
    const withMask = b.op('Mul', [hasMaskInput, m]);
    return b.op('Add', [withMask, b.op('Mul', [b.op('Sub', [b.constF([1]), hasMaskInput]), noMask])]);
  });

  // MaskDecoder.predict_masks with pred_obj_scores: tokens [obj_score, iou, 4 masks, prompts]
  const outputTokens = new Float32Array((2 + NUM_MASK_TOKENS) * C);
  outputTokens.set(w.get(`${MD}.obj_score_token.weight`, [1, C]), 0);
  outputTokens.set(w.get(`${MD}.iou_token.weight`, [1, C]), C);
  outputTokens.set(w.get(`${MD}.mask_tokens.weight`, [NUM_MASK_TOKENS, C]), 2 * C);
  const tokens = b.op('Concat', [b.init(`${MD}.output_tokens`, [1, 2 + NUM_MASK_TOKENS, C], outputTokens), sparse], { axis: 1 });
  const src = b.op('Add', [imageEmbed, dense]);
  const keys0 = b.op('Transpose', [b.op('Reshape', [src, b.constI64([1, C, grid * grid])])], { perm: [0, 2, 1] });
  const keyPe = b.init(`${MD}.image_pe`, [1, grid * grid, C], densePositionalEncoding(gaussian, grid));

  let queries = tokens;
  let keys = keys0;
  for (let i = 0; i < DECODER_DEPTH; i++) [queries, keys] = twoWayBlock(b, w, i, queries, keys, tokens, keyPe, SAM2_TWO_WAY);
  const finalAttn = `${MD}.transformer.final_attn_token_to_image`;
  const qFinal = b.op('Add', [queries, tokens]);
  const kFinal = b.op('Add', [keys, keyPe]);
  queries = b.op('Add', [queries, attention(b, w, finalAttn, qFinal, kFinal, keys)]);
  const hs = layerNorm(b, w, `${MD}.transformer.norm_final_attn`, queries, TRANSFORMER_LN_EPS);

  // output_upscaling with the high-resolution features: act(LN(dc1(src) + s1)), act(dc2(.) + s0)
  const srcImage = b.op('Reshape', [b.op('Transpose', [keys], { perm: [0, 2, 1] }), b.constI64([1, C, grid, grid])]);
  const upscaled = b.scope(`${MD}.output_upscaling`, () => {
    let u = convTranspose2d(b, w, `${MD}.output_upscaling.0`, srcImage, { kernel: 2, stride: 2 });
    u = gelu(b, layerNorm2d(b, w, `${MD}.output_upscaling.1`, b.op('Add', [u, feat1])));
    u = convTranspose2d(b, w, `${MD}.output_upscaling.3`, u, { kernel: 2, stride: 2 });
    return gelu(b, b.op('Add', [u, feat0]));
  });
  const upC = w.shape(`${MD}.output_upscaling.3.weight`)[1]!;
  const hyper: string[] = [];
  for (let i = 0; i < NUM_MASK_TOKENS; i++) {
    const token = b.op('Gather', [hs, b.constI64([2 + i], [])], { axis: 1 });
    hyper.push(b.op('Unsqueeze', [mlp(b, w, `${MD}.output_hypernetworks_mlps.${i}`, token, 3), b.constI64([1])]));
  }
  const hyperIn = b.op('Concat', hyper, { axis: 1 });
  const flatUp = b.op('Reshape', [upscaled, b.constI64([1, upC, lowRes * lowRes])]);
  const lowResMasks = b.op('Reshape', [b.op('MatMul', [hyperIn, flatUp], {}, { name: `${MD}/hypernetwork/MatMul` }), b.constI64([1, NUM_MASK_TOKENS, lowRes, lowRes])]);
  const iouLogits = mlp(b, w, `${MD}.iou_prediction_head`, b.op('Gather', [hs, b.constI64([1], [])], { axis: 1 }), 3);
  const iouPred = b.op('Sigmoid', [iouLogits], {}, { name: `${MD}.iou_prediction_head/Sigmoid` });
  const objToken = b.op('Gather', [hs, b.constI64([0], [])], { axis: 1 });
  // pred_obj_scores_mlp: a 3-layer MLP; without it a single Linear
  const objScore = w.has(`${MD}.pred_obj_score_head.weight`)
    ? linear(b, w, `${MD}.pred_obj_score_head`, objToken)
    : mlp(b, w, `${MD}.pred_obj_score_head`, objToken, 3);

  // SAM2Transforms.postprocess_masks: bilinear 256x256 -> H x W directly (no crop: no padding)
  const masks = b.scope('postprocess', () => torchBilinearResize(b, lowResMasks, b.constI64([lowRes, lowRes]), origImSize));
  b.identity(masks, 'masks');
  b.identity(iouPred, 'iou_predictions');
  b.identity(b.op('Clip', [lowResMasks, b.constF([-LOW_RES_CLAMP]), b.constF([LOW_RES_CLAMP])]), 'low_res_masks');
  b.identity(objScore, 'object_score_logits');
  b.output('masks', 'float32', [1, NUM_MASK_TOKENS, 'height', 'width']);
  b.output('iou_predictions', 'float32', [1, NUM_MASK_TOKENS]);
  b.output('low_res_masks', 'float32', [1, NUM_MASK_TOKENS, lowRes, lowRes]);
  b.output('object_score_logits', 'float32', [1, 1]);
  return b.build('sam2_mask_decoder', { docString: 'SAM 2.1 prompt encoder + mask decoder (4 masks, object score), built by PTQ4SAM Studio' });
}
