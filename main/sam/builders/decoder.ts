/**
 * SAM's prompt encoder + mask decoder + postprocessing as one ONNX graph in the standard SAM
 * ONNX decoder contract (segment_anything/utils/onnx.py SamOnnxModel, return_single_mask=False):
 * inputs image_embeddings, point_coords (1024 frame), point_labels, mask_input, has_mask_input,
 * orig_im_size; outputs masks (logits at the original size), iou_predictions, low_res_masks.
 */
import { GraphBuilder } from '../../onnx/builder.ts';
import type { ModelProto } from '../../onnx/proto.ts';
import type { SamConfig } from './config.ts';
import { conv2d, convTranspose2d, gelu, layerNorm, layerNorm2d, linear, mlp } from './layers.ts';
import type { Weights } from './weights.ts';

const NUM_MASK_TOKENS = 4;
const DECODER_HEADS = 8;
const DECODER_DEPTH = 2;
const TRANSFORMER_LN_EPS = 1e-5; // nn.LayerNorm default in TwoWayTransformer

/**
 * PositionEmbeddingRandom.get_dense_pe() for the embedding grid, as [tokens, C] (row-major
 * y, x). Each step is rounded to float32 as PyTorch computes it.
 */
export function densePositionalEncoding(gaussian: Float32Array, grid: number): Float32Array {
  const half = gaussian.length / 2;
  const f = Math.fround;
  const twoPi = f(2 * Math.PI);
  const out = new Float32Array(grid * grid * half * 2);
  for (let y = 0; y < grid; y++) {
    for (let x = 0; x < grid; x++) {
      const cx = f(f(2 * f(f(x + 1 - 0.5) / grid)) - 1);
      const cy = f(f(2 * f(f(y + 1 - 0.5) / grid)) - 1);
      const base = (y * grid + x) * half * 2;
      for (let j = 0; j < half; j++) {
        const proj = f(f(cx * gaussian[j]!) + f(cy * gaussian[half + j]!));
        const arg = f(twoPi * proj);
        out[base + j] = Math.sin(arg);
        out[base + half + j] = Math.cos(arg);
      }
    }
  }
  return out;
}

/**
 * 1-D source indices and weights of F.interpolate(mode="bilinear", align_corners=False) for an
 * axis, computed in float32 with PyTorch's operation order: scale = in / out,
 * src = max(scale * (dst + 0.5) - 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, in - 1).
 */
function bilinearAxis(b: GraphBuilder, inSize: string, outSize: string): { i0: string; i1: string; w0: string; w1: string } {
  const inF = b.op('Cast', [inSize], { to: 1 });
  const scale = b.op('Div', [inF, outSize]);
  const dst = b.op('Range', [b.constF([0]), outSize, b.constF([1])]);
  const src = b.op('Max', [b.op('Sub', [b.op('Mul', [scale, b.op('Add', [dst, b.constF([0.5])])]), b.constF([0.5])]), b.constF([0])]);
  const floor = b.op('Floor', [src]);
  const i0 = b.op('Cast', [floor], { to: 7 });
  const i1 = b.op('Min', [b.op('Add', [i0, b.constI64([1], [])]), b.op('Sub', [inSize, b.constI64([1], [])])]);
  const w1 = b.op('Sub', [src, floor]);
  const w0 = b.op('Sub', [b.constF([1]), w1]);
  return { i0, i1, w0, w1 };
}

/**
 * The final resize to the original image size, written out with Gather so that it reproduces
 * PyTorch's float32 source coordinates (scale = in/out, not ONNX Resize's out/in): on a
 * 1024x768 -> 320x240 resize the two differ by up to 1.3e-4 in logits.
 */
export function torchBilinearResize(b: GraphBuilder, x: string, inHW: string, outHW: string): string {
  return b.scope('resize_to_original', () => {
    const pick = (t: string, i: number, dtype: 'f' | 'i') =>
      b.op('Squeeze', [b.op('Slice', [t, b.constI64([i]), b.constI64([i + 1])]), b.constI64([0])], {}, { name: `${b.path}/${dtype}${i}` });
    const h = bilinearAxis(b, pick(inHW, 0, 'i'), pick(outHW, 0, 'f'));
    const w = bilinearAxis(b, pick(inHW, 1, 'i'), pick(outHW, 1, 'f'));
    const column = (t: string) => b.op('Unsqueeze', [t, b.constI64([1])]);
    const blendColumns = (rows: string) => b.op('Add', [
      b.op('Mul', [b.op('Gather', [rows, w.i0], { axis: 3 }), w.w0]),
      b.op('Mul', [b.op('Gather', [rows, w.i1], { axis: 3 }), w.w1]),
    ]);
    const top = blendColumns(b.op('Gather', [x, h.i0], { axis: 2 }));
    const bottom = blendColumns(b.op('Gather', [x, h.i1], { axis: 2 }));
    return b.op('Add', [b.op('Mul', [top, column(h.w0)]), b.op('Mul', [bottom, column(h.w1)])]);
  });
}

export function attention(b: GraphBuilder, w: Weights, module: string, q: string, k: string, v: string): string {
  return b.scope(module, () => {
    const [internal] = w.shape(`${module}.q_proj.weight`) as [number];
    const headDim = internal / DECODER_HEADS;
    const qp = linear(b, w, `${module}.q_proj`, q);
    const kp = linear(b, w, `${module}.k_proj`, k);
    const vp = linear(b, w, `${module}.v_proj`, v);
    const split = b.constI64([0, -1, DECODER_HEADS, headDim]);
    const qh = b.op('Transpose', [b.op('Reshape', [qp, split])], { perm: [0, 2, 1, 3] }, { name: `${module}/q/Transpose` });
    const khT = b.op('Transpose', [b.op('Reshape', [kp, split])], { perm: [0, 2, 3, 1] }, { name: `${module}/k/Transpose` });
    const vh = b.op('Transpose', [b.op('Reshape', [vp, split])], { perm: [0, 2, 1, 3] }, { name: `${module}/v/Transpose` });
    const logits = b.op('MatMul', [qh, khT], {}, { name: `${module}/qk/MatMul` });
    const scaled = b.op('Div', [logits, b.constF([Math.sqrt(headDim)])], {}, { name: `${module}/qk_scale` });
    const probs = b.op('Softmax', [scaled], { axis: -1 }, { name: `${module}/Softmax` });
    const out = b.op('MatMul', [probs, vh], {}, { name: `${module}/av/MatMul` });
    const merged = b.op('Reshape', [b.op('Transpose', [out], { perm: [0, 2, 1, 3] }), b.constI64([0, -1, internal])]);
    return linear(b, w, `${module}.out_proj`, merged);
  });
}

/** Where a two-way transformer's weights live: SAM's names, or SAM 2.1's (sam2-decoder.ts). */
export interface TwoWayNames { transformer: string; mlp: [string, string] }
const SAM_TWO_WAY: TwoWayNames = { transformer: 'mask_decoder.transformer', mlp: ['mlp.lin1', 'mlp.lin2'] };

/** One layer of the two-way transformer, the same module in SAM and SAM 2.1 but for its names. */
export function twoWayBlock(
  b: GraphBuilder, w: Weights, index: number, queries: string, keys: string, queryPe: string, keyPe: string, names: TwoWayNames = SAM_TWO_WAY,
): [string, string] {
  const m = `${names.transformer}.layers.${index}`;
  return b.scope(m, () => {
    let q: string;
    if (index === 0) {
      q = attention(b, w, `${m}.self_attn`, queries, queries, queries); // skip_first_layer_pe
    } else {
      const qpe = b.op('Add', [queries, queryPe]);
      q = b.op('Add', [queries, attention(b, w, `${m}.self_attn`, qpe, qpe, queries)]);
    }
    q = layerNorm(b, w, `${m}.norm1`, q, TRANSFORMER_LN_EPS);
    let qWithPe = b.op('Add', [q, queryPe]);
    let kWithPe = b.op('Add', [keys, keyPe]);
    q = b.op('Add', [q, attention(b, w, `${m}.cross_attn_token_to_image`, qWithPe, kWithPe, keys)]);
    q = layerNorm(b, w, `${m}.norm2`, q, TRANSFORMER_LN_EPS);
    const hidden = b.op('Relu', [linear(b, w, `${m}.${names.mlp[0]}`, q)], {}, { name: `${m}.mlp/Relu` });
    q = b.op('Add', [q, linear(b, w, `${m}.${names.mlp[1]}`, hidden)]);
    q = layerNorm(b, w, `${m}.norm3`, q, TRANSFORMER_LN_EPS);
    qWithPe = b.op('Add', [q, queryPe]);
    kWithPe = b.op('Add', [keys, keyPe]);
    let k = b.op('Add', [keys, attention(b, w, `${m}.cross_attn_image_to_token`, kWithPe, qWithPe, q)]);
    k = layerNorm(b, w, `${m}.norm4`, k, TRANSFORMER_LN_EPS);
    return [q, k];
  });
}

export function buildDecoder(w: Weights, cfg: SamConfig): ModelProto {
  const b = new GraphBuilder();
  const C = cfg.prompt_embed_dim;
  const grid = cfg.img_size / cfg.patch_size;
  const lowRes = grid * 4;
  const imageEmbeddings = b.input('image_embeddings', 'float32', [1, C, grid, grid]);
  const pointCoords = b.input('point_coords', 'float32', [1, 'num_points', 2]);
  const pointLabels = b.input('point_labels', 'float32', [1, 'num_points']);
  const maskInput = b.input('mask_input', 'float32', [1, 1, lowRes, lowRes]);
  const hasMaskInput = b.input('has_mask_input', 'float32', [1]);
  const origImSize = b.input('orig_im_size', 'float32', [2]);

  const gaussian = w.get('prompt_encoder.pe_layer.positional_encoding_gaussian_matrix', [2, C / 2]);

  // _embed_points: Fourier features of (coords + 0.5) / img_size, then label embeddings
  const sparse = b.scope('prompt_encoder', () => {
    const norm = b.op('Div', [b.op('Add', [pointCoords, b.constF([0.5])]), b.constF([cfg.img_size])]);
    const centred = b.op('Sub', [b.op('Mul', [norm, b.constF([2])]), b.constF([1])]);
    const g = b.init('prompt_encoder.pe_layer.positional_encoding_gaussian_matrix', [2, C / 2], gaussian);
    const proj = b.op('Mul', [b.op('MatMul', [centred, g]), b.constF([Math.fround(2 * Math.PI)])]);
    const pe = b.op('Concat', [b.op('Sin', [proj]), b.op('Cos', [proj])], { axis: -1 });
    const labels = b.op('Unsqueeze', [pointLabels, b.constI64([-1])]);
    const isPad = b.op('Cast', [b.op('Equal', [labels, b.constF([-1])])], { to: 1 });
    const notPad = b.op('Cast', [b.op('Not', [b.op('Equal', [labels, b.constF([-1])])])], { to: 1 });
    let emb = b.op('Mul', [pe, notPad]);
    const notAPoint = b.init('prompt_encoder.not_a_point_embed.weight', [1, C], w.get('prompt_encoder.not_a_point_embed.weight', [1, C]));
    emb = b.op('Add', [emb, b.op('Mul', [notAPoint, isPad])]);
    for (let i = 0; i < 4; i++) {
      const e = b.init(`prompt_encoder.point_embeddings.${i}.weight`, [1, C], w.get(`prompt_encoder.point_embeddings.${i}.weight`, [1, C]));
      const isI = b.op('Cast', [b.op('Equal', [labels, b.constF([i])])], { to: 1 });
      emb = b.op('Add', [emb, b.op('Mul', [e, isI])]);
    }
    return emb;
  });

  // _embed_masks: blend of the downscaled mask and no_mask_embed by has_mask_input
  const dense = b.scope('prompt_encoder.mask_downscaling', () => {
    let m = conv2d(b, w, 'prompt_encoder.mask_downscaling.0', maskInput, { kernel: 2, stride: 2 });
    m = gelu(b, layerNorm2d(b, w, 'prompt_encoder.mask_downscaling.1', m));
    m = conv2d(b, w, 'prompt_encoder.mask_downscaling.3', m, { kernel: 2, stride: 2 });
    m = gelu(b, layerNorm2d(b, w, 'prompt_encoder.mask_downscaling.4', m));
    m = conv2d(b, w, 'prompt_encoder.mask_downscaling.6', m, { kernel: 1 });
    const noMask = b.init('prompt_encoder.no_mask_embed.weight', [1, C, 1, 1], w.get('prompt_encoder.no_mask_embed.weight', [1, C]));
    const withMask = b.op('Mul', [hasMaskInput, m]);
    return b.op('Add', [withMask, b.op('Mul', [b.op('Sub', [b.constF([1]), hasMaskInput]), noMask])]);
  });

  // predict_masks
  const iouToken = w.get('mask_decoder.iou_token.weight', [1, C]);
  const maskTokens = w.get('mask_decoder.mask_tokens.weight', [NUM_MASK_TOKENS, C]);
  const outputTokens = new Float32Array((1 + NUM_MASK_TOKENS) * C);
  outputTokens.set(iouToken, 0);
  outputTokens.set(maskTokens, C);
  const tokens = b.op('Concat', [b.init('mask_decoder.output_tokens', [1, 1 + NUM_MASK_TOKENS, C], outputTokens), sparse], { axis: 1 });
  const src = b.op('Add', [imageEmbeddings, dense]);
  const keys0 = b.op('Transpose', [b.op('Reshape', [src, b.constI64([1, C, grid * grid])])], { perm: [0, 2, 1] });
  const keyPe = b.init('mask_decoder.image_pe', [1, grid * grid, C], densePositionalEncoding(gaussian, grid));

  let queries = tokens;
  let keys = keys0;
  for (let i = 0; i < DECODER_DEPTH; i++) [queries, keys] = twoWayBlock(b, w, i, queries, keys, tokens, keyPe);
  const finalAttn = 'mask_decoder.transformer.final_attn_token_to_image';
  const qFinal = b.op('Add', [queries, tokens]);
  const kFinal = b.op('Add', [keys, keyPe]);
  queries = b.op('Add', [queries, attention(b, w, finalAttn, qFinal, kFinal, keys)]);
  const hs = layerNorm(b, w, 'mask_decoder.transformer.norm_final_attn', queries, TRANSFORMER_LN_EPS);

  const iouTokenOut = b.op('Gather', [hs, b.constI64([0], [])], { axis: 1 });
  const srcImage = b.op('Reshape', [b.op('Transpose', [keys], { perm: [0, 2, 1] }), b.constI64([1, C, grid, grid])]);
  const upscaled = b.scope('mask_decoder.output_upscaling', () => {
    let u = convTranspose2d(b, w, 'mask_decoder.output_upscaling.0', srcImage, { kernel: 2, stride: 2 });
    u = gelu(b, layerNorm2d(b, w, 'mask_decoder.output_upscaling.1', u));
    u = convTranspose2d(b, w, 'mask_decoder.output_upscaling.3', u, { kernel: 2, stride: 2 });
    return gelu(b, u);
  });
  const upC = w.shape('mask_decoder.output_upscaling.3.weight')[1]!;
  const hyper: string[] = [];
  for (let i = 0; i < NUM_MASK_TOKENS; i++) {
    const token = b.op('Gather', [hs, b.constI64([1 + i], [])], { axis: 1 });
    const h = mlp(b, w, `mask_decoder.output_hypernetworks_mlps.${i}`, token, 3);
    hyper.push(b.op('Unsqueeze', [h, b.constI64([1])]));
  }
  const hyperIn = b.op('Concat', hyper, { axis: 1 });
  const flatUp = b.op('Reshape', [upscaled, b.constI64([1, upC, lowRes * lowRes])]);
  const lowResMasks = b.op('Reshape', [b.op('MatMul', [hyperIn, flatUp], {}, { name: 'mask_decoder/hypernetwork/MatMul' }), b.constI64([1, NUM_MASK_TOKENS, lowRes, lowRes])]);
  const iouPred = mlp(b, w, 'mask_decoder.iou_prediction_head', iouTokenOut, 3);

  // mask_postprocessing: upsample to img_size, crop the pre-padding size, resize to the original
  const masks = b.scope('postprocess', () => {
    const resizeAttrs = { mode: 'linear', coordinate_transformation_mode: 'half_pixel' };
    const full = b.op('Resize', [lowResMasks, '', '', b.constI64([1, NUM_MASK_TOKENS, cfg.img_size, cfg.img_size])], resizeAttrs);
    const longSide = b.op('ReduceMax', [origImSize], { keepdims: 1 });
    const scale = b.op('Div', [b.constF([cfg.img_size]), longSide]);
    const prepadded = b.op('Cast', [b.op('Floor', [b.op('Add', [b.op('Mul', [origImSize, scale]), b.constF([0.5])])])], { to: 7 });
    const cropped = b.op('Slice', [full, b.constI64([0, 0]), prepadded, b.constI64([2, 3])]);
    return torchBilinearResize(b, cropped, prepadded, origImSize);
  });
  b.identity(masks, 'masks');
  b.identity(iouPred, 'iou_predictions');
  b.identity(lowResMasks, 'low_res_masks');
  b.output('masks', 'float32', [1, NUM_MASK_TOKENS, 'height', 'width']);
  b.output('iou_predictions', 'float32', [1, NUM_MASK_TOKENS]);
  b.output('low_res_masks', 'float32', [1, NUM_MASK_TOKENS, lowRes, lowRes]);
  return b.build('sam_mask_decoder', { docString: 'Segment Anything prompt encoder + mask decoder (SAM ONNX decoder contract, 4 masks), built by PTQ4SAM Studio' });
}
