/**
 * segment_anything's ImageEncoderViT as an ONNX graph: input `input_image` (1x3x1024x1024,
 * normalised and padded), output `image_embeddings` (1x256x64x64). Activations stay NHWC as
 * in the PyTorch module; windowed blocks pad to a multiple of the window and batch windows.
 */
import { GraphBuilder } from '../../onnx/builder.ts';
import type { ModelProto } from '../../onnx/proto.ts';
import type { SamConfig } from './config.ts';
import { conv2d, gelu, layerNorm, layerNorm2d, linear } from './layers.ts';
import type { Weights } from './weights.ts';

/** rel_pos [2S-1, C] → R^T [S, C, S] with R[q][k] = rel_pos[q - k + S - 1] (get_rel_pos for q = k = S). */
function relPosTable(relPos: Float32Array, size: number, channels: number, file: string, key: string): Float32Array {
  if (relPos.length !== (2 * size - 1) * channels) throw new Error(`${file}: ${key} does not have ${2 * size - 1} rows (interpolated relative positions are not supported)`);
  const out = new Float32Array(size * channels * size);
  for (let q = 0; q < size; q++) {
    for (let k = 0; k < size; k++) {
      const row = q - k + size - 1;
      for (let c = 0; c < channels; c++) out[(q * channels + c) * size + k] = relPos[row * channels + c]!;
    }
  }
  return out;
}

function attention(b: GraphBuilder, w: Weights, cfg: SamConfig, module: string, x: string, batch: number, size: number): string {
  const dim = cfg.encoder_embed_dim;
  const heads = cfg.encoder_num_heads;
  const headDim = dim / heads;
  const tokens = size * size;
  return b.scope(module, () => {
    const qkv = linear(b, w, `${module}.qkv`, x, { bias: cfg.qkv_bias, shape: [3 * dim, dim] });
    // qkv.reshape(B, HW, 3, nh, hd).permute(2, 0, 3, 1, 4).reshape(3, B*nh, HW, hd)
    const r = b.op('Reshape', [qkv, b.constI64([batch, tokens, 3, heads, headDim])]);
    const t = b.op('Transpose', [r], { perm: [2, 0, 3, 1, 4] });
    const flat = b.op('Reshape', [t, b.constI64([3, batch * heads, tokens, headDim])]);
    const [q3, k3, v3] = b.opMulti('Split', [flat, b.constI64([1, 1, 1])], { axis: 0 }, { outputs: [`${module}/q`, `${module}/k`, `${module}/v`] });
    const q = b.op('Squeeze', [q3!, b.constI64([0])], {}, { name: `${module}/q/Squeeze` });
    const k = b.op('Squeeze', [k3!, b.constI64([0])], {}, { name: `${module}/k/Squeeze` });
    const v = b.op('Squeeze', [v3!, b.constI64([0])], {}, { name: `${module}/v/Squeeze` });
    const qScaled = b.op('Mul', [q, b.constF([headDim ** -0.5])], {}, { name: `${module}/q_scale` });
    const kT = b.op('Transpose', [k], { perm: [0, 2, 1] }, { name: `${module}/k/Transpose` });
    let attn = b.op('MatMul', [qScaled, kT], {}, { name: `${module}/qk/MatMul` });
    if (cfg.use_rel_pos) {
      const bh = batch * heads;
      const rh = b.init(`${module}.rel_pos_h.table`, [size, headDim, size], relPosTable(w.get(`${module}.rel_pos_h`), size, headDim, w.source, `${module}.rel_pos_h`));
      const rw = b.init(`${module}.rel_pos_w.table`, [size, headDim, size], relPosTable(w.get(`${module}.rel_pos_w`), size, headDim, w.source, `${module}.rel_pos_w`));
      const rq = b.op('Reshape', [q, b.constI64([bh, size, size, headDim])]);
      // einsum("bhwc,hkc->bhwk"): batched over the h axis
      const relH = b.op('MatMul', [rq, rh], {}, { name: `${module}/rel_h/MatMul` });
      // einsum("bhwc,wkc->bhwk"): move w in front, batch over it, move back
      const rqT = b.op('Transpose', [rq], { perm: [0, 2, 1, 3] });
      const relW = b.op('Transpose', [b.op('MatMul', [rqT, rw], {}, { name: `${module}/rel_w/MatMul` })], { perm: [0, 2, 1, 3] });
      const a5 = b.op('Reshape', [attn, b.constI64([bh, size, size, size, size])]);
      const withH = b.op('Add', [a5, b.op('Reshape', [relH, b.constI64([bh, size, size, size, 1])])]);
      const withW = b.op('Add', [withH, b.op('Reshape', [relW, b.constI64([bh, size, size, 1, size])])]);
      attn = b.op('Reshape', [withW, b.constI64([bh, tokens, tokens])]);
    }
    const probs = b.op('Softmax', [attn], { axis: -1 }, { name: `${module}/Softmax` });
    const out = b.op('MatMul', [probs, v], {}, { name: `${module}/av/MatMul` });
    // (attn @ v).view(B, nh, H, W, hd).permute(0, 2, 3, 1, 4).reshape(B, H, W, C)
    const o5 = b.op('Reshape', [out, b.constI64([batch, heads, size, size, headDim])]);
    const merged = b.op('Reshape', [b.op('Transpose', [o5], { perm: [0, 2, 3, 1, 4] }), b.constI64([batch, size, size, dim])]);
    return linear(b, w, `${module}.proj`, merged, { shape: [dim, dim] });
  });
}

function block(b: GraphBuilder, w: Weights, cfg: SamConfig, index: number, x: string, grid: number): string {
  const module = `image_encoder.blocks.${index}`;
  const dim = cfg.encoder_embed_dim;
  const windowed = !cfg.encoder_global_attn_indexes.includes(index);
  return b.scope(module, () => {
    let h = layerNorm(b, w, `${module}.norm1`, x, cfg.layer_norm_eps);
    if (windowed) {
      const ws = cfg.window_size;
      const n = Math.ceil(grid / ws);
      const padded = n * ws;
      if (padded !== grid) h = b.op('Pad', [h, b.constI64([0, 0, 0, 0, 0, padded - grid, padded - grid, 0])]);
      const r = b.op('Reshape', [h, b.constI64([1, n, ws, n, ws, dim])]);
      const wins = b.op('Reshape', [b.op('Transpose', [r], { perm: [0, 1, 3, 2, 4, 5] }), b.constI64([n * n, ws, ws, dim])]);
      const a = attention(b, w, cfg, `${module}.attn`, wins, n * n, ws);
      const u = b.op('Reshape', [a, b.constI64([1, n, n, ws, ws, dim])]);
      h = b.op('Reshape', [b.op('Transpose', [u], { perm: [0, 1, 3, 2, 4, 5] }), b.constI64([1, padded, padded, dim])]);
      if (padded !== grid) h = b.op('Slice', [h, b.constI64([0, 0]), b.constI64([grid, grid]), b.constI64([1, 2])]);
    } else {
      h = attention(b, w, cfg, `${module}.attn`, h, 1, grid);
    }
    const x1 = b.op('Add', [x, h], {}, { name: `${module}/residual1` });
    const n2 = layerNorm(b, w, `${module}.norm2`, x1, cfg.layer_norm_eps);
    const hidden = w.shape(`${module}.mlp.lin1.weight`)[0]!;
    const m = linear(b, w, `${module}.mlp.lin2`, gelu(b, linear(b, w, `${module}.mlp.lin1`, n2, { shape: [hidden, dim] })), { shape: [dim, hidden] });
    return b.op('Add', [x1, m], {}, { name: `${module}/residual2` });
  });
}

export function buildEncoder(w: Weights, cfg: SamConfig): ModelProto {
  const b = new GraphBuilder();
  const grid = cfg.img_size / cfg.patch_size;
  const dim = cfg.encoder_embed_dim;
  const input = b.input('input_image', 'float32', [1, 3, cfg.img_size, cfg.img_size]);
  let x = conv2d(b, w, 'image_encoder.patch_embed.proj', input, { kernel: cfg.patch_size, stride: cfg.patch_size, shape: [dim, 3, cfg.patch_size, cfg.patch_size] });
  x = b.op('Transpose', [x], { perm: [0, 2, 3, 1] }, { name: 'image_encoder.patch_embed/Transpose' });
  const pos = b.init('image_encoder.pos_embed', [1, grid, grid, dim], w.get('image_encoder.pos_embed', [1, grid, grid, dim]));
  x = b.op('Add', [x, pos], {}, { name: 'image_encoder/pos_embed/Add' });
  for (let i = 0; i < cfg.encoder_depth; i++) x = block(b, w, cfg, i, x, grid);
  // neck: 1x1 conv (a per-pixel linear, kept NHWC), LayerNorm2d, 3x3 conv, LayerNorm2d
  const out = cfg.out_chans;
  const neck0 = w.get('image_encoder.neck.0.weight', [out, dim, 1, 1]);
  const neck0T = new Float32Array(dim * out);
  for (let o = 0; o < out; o++) for (let i = 0; i < dim; i++) neck0T[i * out + o] = neck0[o * dim + i]!;
  x = b.op('MatMul', [x, b.init('image_encoder.neck.0.weight', [dim, out], neck0T)], {}, { name: 'image_encoder.neck.0/MatMul' });
  x = b.op('Transpose', [x], { perm: [0, 3, 1, 2] }, { name: 'image_encoder.neck/Transpose' });
  x = layerNorm2d(b, w, 'image_encoder.neck.1', x);
  x = conv2d(b, w, 'image_encoder.neck.2', x, { kernel: 3, pad: 1, bias: false, shape: [out, out, 3, 3] });
  x = layerNorm2d(b, w, 'image_encoder.neck.3', x);
  b.identity(x, 'image_embeddings');
  b.output('image_embeddings', 'float32', [1, out, grid, grid]);
  return b.build('sam_image_encoder', { docString: 'Segment Anything image encoder (ImageEncoderViT), built by PTQ4SAM Studio' });
}
