/**
 * SAM 2.1's image side as one ONNX graph: the Hiera trunk (sam2/modeling/backbones/hieradet.py),
 * the FpnNeck, `no_mem_embed` and the mask decoder's conv_s0/conv_s1, i.e. what
 * SAM2ImagePredictor.set_image leaves in `_features`. Input `image` 1x3x1024x1024 (stretched,
 * ImageNet-normalised); outputs `image_embed` 1x256x64x64, `high_res_feats_0` 1x32x256x256,
 * `high_res_feats_1` 1x64x128x128 (the names samexporter's SAM 2 encoders use).
 * Activations stay NHWC as in the PyTorch module; windowed blocks batch their windows.
 */
import { GraphBuilder } from '../../onnx/builder.ts';
import type { ModelProto } from '../../onnx/proto.ts';
import { conv2d, gelu, layerNorm, linear } from './layers.ts';
import { HIERA_MLP_RATIO, hieraBlocks, SAM2_IMAGE_SIZE, type HieraBlock, type Sam2Config } from './sam2-config.ts';
import type { Weights } from './weights.ts';

const TRUNK = 'image_encoder.trunk';
const HIERA_LN_EPS = 1e-6;
const PATCH_STRIDE = 4;
const CUBIC_A = -0.75;

/**
 * F.interpolate(mode="bicubic", align_corners=False) along one axis as an [out, in] matrix:
 * src = (dst + 0.5) * in / out - 0.5 (not clamped, as PyTorch's cubic path), taps at
 * floor(src) - 1 .. + 2 clamped to the edge. A matrix keeps the 7x7 `pos_embed` itself in the
 * graph (a tiny initializer under its checkpoint name) instead of a baked 256x256xC table.
 */
export function bicubicMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  const near = (x: number) => ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1;
  const far = (x: number) => ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;
  for (let o = 0; o < outSize; o++) {
    const src = (o + 0.5) * scale - 0.5;
    const i0 = Math.floor(src);
    const t = src - i0;
    const weights = [far(t + 1), near(t), near(1 - t), far(2 - t)];
    for (let k = 0; k < 4; k++) {
      const i = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      m[o * inSize + i] += weights[k]!;
    }
  }
  return m;
}

/** Hiera._get_pos_embed: bicubic pos_embed to the patch grid plus the tiled window embedding, NHWC. */
function positionalEmbedding(b: GraphBuilder, w: Weights, cfg: Sam2Config, grid: number): string {
  return b.scope(`${TRUNK}.pos_embed`, () => {
    const C = cfg.embed_dim;
    const [bh, bw] = cfg.window_pos_embed_bkg_spatial_size;
    const pos = b.init(`${TRUNK}.pos_embed`, [1, C, bh, bw], w.get(`${TRUNK}.pos_embed`, [1, C, bh, bw]));
    const colsT = b.constF(transposeMatrix(bicubicMatrix(bw, grid), grid, bw), [bw, grid]);
    const rows = b.constF(bicubicMatrix(bh, grid), [grid, bh]);
    const resized = b.op('MatMul', [rows, b.op('MatMul', [pos, colsT], {}, { name: `${TRUNK}/pos_embed/cols` })], {}, { name: `${TRUNK}/pos_embed/rows` });
    const win = cfg.window_spec[0]!;
    if (grid % win !== 0) throw new Error(`${w.source}: window ${win} does not tile the ${grid}x${grid} patch grid`);
    const winEmbed = b.init(`${TRUNK}.pos_embed_window`, [1, C, win, win], w.get(`${TRUNK}.pos_embed_window`, [1, C, win, win]));
    const tiled = b.op('Tile', [winEmbed, b.constI64([1, 1, grid / win, grid / win])]);
    return b.op('Transpose', [b.op('Add', [resized, tiled])], { perm: [0, 2, 3, 1] });
  });
}

function transposeMatrix(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

/** nn.MaxPool2d(2, 2) on an NHWC tensor (do_pool). */
function pool2x2(b: GraphBuilder, x: string, name: string): string {
  const nchw = b.op('Transpose', [x], { perm: [0, 3, 1, 2] });
  const pooled = b.op('MaxPool', [nchw], { kernel_shape: [2, 2], strides: [2, 2] }, { name });
  return b.op('Transpose', [pooled], { perm: [0, 2, 3, 1] });
}

/**
 * MultiScaleAttention on [B, size, size, dim] (B windows): q pooled 2x2 at a stage's first
 * block; returns [B, size', size', dimOut].
 */
function attention(b: GraphBuilder, w: Weights, blk: HieraBlock, module: string, x: string, batch: number, size: number): string {
  return b.scope(module, () => {
    const heads = blk.heads;
    const headDim = blk.dimOut / heads;
    const tokens = size * size;
    const qkv = b.op('Reshape', [linear(b, w, `${module}.qkv`, x), b.constI64([batch, tokens, 3, blk.dimOut])]);
    const [q3, k3, v3] = b.opMulti('Split', [qkv, b.constI64([1, 1, 1])], { axis: 2 }, { outputs: [`${module}/q`, `${module}/k`, `${module}/v`] });
    let q = q3!;
    let qSize = size;
    if (blk.qPool) {
      q = pool2x2(b, b.op('Reshape', [q, b.constI64([batch, size, size, blk.dimOut])]), `${module}/q_pool/MaxPool`);
      qSize = size / 2;
    }
    const qh = b.op('Transpose', [b.op('Reshape', [q, b.constI64([batch, qSize * qSize, heads, headDim])])], { perm: [0, 2, 1, 3] }, { name: `${module}/q/Transpose` });
    const khT = b.op('Transpose', [b.op('Reshape', [k3!, b.constI64([batch, tokens, heads, headDim])])], { perm: [0, 2, 3, 1] }, { name: `${module}/k/Transpose` });
    const vh = b.op('Transpose', [b.op('Reshape', [v3!, b.constI64([batch, tokens, heads, headDim])])], { perm: [0, 2, 1, 3] }, { name: `${module}/v/Transpose` });
    // F.scaled_dot_product_attention's default scale, 1/sqrt(head dim)
    const qScaled = b.op('Mul', [qh, b.constF([headDim ** -0.5])], {}, { name: `${module}/q_scale` });
    const logits = b.op('MatMul', [qScaled, khT], {}, { name: `${module}/qk/MatMul` });
    const probs = b.op('Softmax', [logits], { axis: -1 }, { name: `${module}/Softmax` });
    const out = b.op('MatMul', [probs, vh], {}, { name: `${module}/av/MatMul` });
    const merged = b.op('Reshape', [b.op('Transpose', [out], { perm: [0, 2, 1, 3] }), b.constI64([batch, qSize, qSize, blk.dimOut])]);
    return linear(b, w, `${module}.proj`, merged);
  });
}

/** MultiScaleBlock.forward on [1, grid, grid, dim]; returns [1, grid', grid', dimOut]. */
function block(b: GraphBuilder, w: Weights, blk: HieraBlock, x: string, grid: number): { x: string; grid: number } {
  const module = `${TRUNK}.blocks.${blk.index}`;
  return b.scope(module, () => {
    const normed = layerNorm(b, w, `${module}.norm1`, x, HIERA_LN_EPS);
    let shortcut = x;
    // The widening shortcut projects the *normalised* input, then pools it like q.
    if (blk.dim !== blk.dimOut) {
      shortcut = linear(b, w, `${module}.proj`, normed);
      if (blk.qPool) shortcut = pool2x2(b, shortcut, `${module}/shortcut_pool/MaxPool`);
    }
    const outGrid = blk.qPool ? grid / 2 : grid;
    let h: string;
    if (blk.window > 0) {
      // window_partition: zero padding whose tokens are attended to (not masked), as in hieradet
      const ws = blk.window;
      const n = Math.ceil(grid / ws);
      const padded = n * ws;
      let p = normed;
      if (padded !== grid) p = b.op('Pad', [p, b.constI64([0, 0, 0, 0, 0, padded - grid, padded - grid, 0])]);
      const r = b.op('Reshape', [p, b.constI64([1, n, ws, n, ws, blk.dim])]);
      const wins = b.op('Reshape', [b.op('Transpose', [r], { perm: [0, 1, 3, 2, 4, 5] }), b.constI64([n * n, ws, ws, blk.dim])]);
      const a = attention(b, w, blk, `${module}.attn`, wins, n * n, ws);
      // window_unpartition with the pooled window over the shortcut's padded size
      const wsOut = blk.qPool ? ws / 2 : ws;
      const nOut = Math.ceil(outGrid / wsOut);
      if (nOut !== n || !Number.isInteger(wsOut)) throw new Error(`${w.source}: block ${blk.index}: window ${ws} on a ${grid}x${grid} grid does not survive q-pooling`);
      const u = b.op('Reshape', [a, b.constI64([1, n, n, wsOut, wsOut, blk.dimOut])]);
      h = b.op('Reshape', [b.op('Transpose', [u], { perm: [0, 1, 3, 2, 4, 5] }), b.constI64([1, n * wsOut, n * wsOut, blk.dimOut])]);
      if (n * wsOut !== outGrid) h = b.op('Slice', [h, b.constI64([0, 0]), b.constI64([outGrid, outGrid]), b.constI64([1, 2])]);
    } else {
      h = attention(b, w, blk, `${module}.attn`, normed, 1, grid);
    }
    const x1 = b.op('Add', [shortcut, h], {}, { name: `${module}/residual1` });
    const n2 = layerNorm(b, w, `${module}.norm2`, x1, HIERA_LN_EPS);
    const hidden = w.shape(`${module}.mlp.layers.0.weight`)[0]!;
    if (hidden !== blk.dimOut * HIERA_MLP_RATIO) throw new Error(`${w.source}: ${module}.mlp.layers.0 has ${hidden} outputs, expected ${blk.dimOut * HIERA_MLP_RATIO}`);
    const m = linear(b, w, `${module}.mlp.layers.1`, gelu(b, linear(b, w, `${module}.mlp.layers.0`, n2)));
    return { x: b.op('Add', [x1, m], {}, { name: `${module}/residual2` }), grid: outGrid };
  });
}

export function buildSam2Encoder(w: Weights, cfg: Sam2Config): ModelProto {
  const b = new GraphBuilder();
  const input = b.input('image', 'float32', [1, 3, SAM2_IMAGE_SIZE, SAM2_IMAGE_SIZE]);
  let grid = SAM2_IMAGE_SIZE / PATCH_STRIDE;
  let x = conv2d(b, w, `${TRUNK}.patch_embed.proj`, input, { kernel: 7, stride: PATCH_STRIDE, pad: 3 });
  x = b.op('Transpose', [x], { perm: [0, 2, 3, 1] }, { name: `${TRUNK}.patch_embed/Transpose` });
  x = b.op('Add', [x, positionalEmbedding(b, w, cfg, grid)], {}, { name: `${TRUNK}/pos_embed/Add` });
  const { blocks, stageEnds } = hieraBlocks(cfg);
  // trunk outputs, NCHW, highest resolution first (Hiera.forward with return_interm_layers)
  const levels: { x: string; grid: number; dim: number }[] = [];
  for (const blk of blocks) {
    ({ x, grid } = block(b, w, blk, x, grid));
    if (stageEnds.includes(blk.index)) levels.push({ x: b.op('Transpose', [x], { perm: [0, 3, 1, 2] }, { name: `${TRUNK}/stage${levels.length + 1}/Transpose` }), grid, dim: blk.dimOut });
  }
  const n = levels.length - 1;
  if (cfg.backbone_channel_list.length !== levels.length) throw new Error(`${w.source}: the neck has ${cfg.backbone_channel_list.length} convs for ${levels.length} trunk stages`);
  // FpnNeck.forward: from the coarsest level down; convs[n - i] serves level i; a top-down
  // level adds the nearest-x2 upsampled previous level. scalp=1 then drops the coarsest.
  const neck: string[] = new Array(levels.length);
  let prev: string | undefined;
  for (let i = n; i >= 0; i--) {
    const lateral = conv2d(b, w, `image_encoder.neck.convs.${n - i}.conv`, levels[i]!.x, { kernel: 1 });
    if (prev !== undefined && cfg.fpn_top_down_levels.includes(i)) {
      const up = b.op('Resize', [prev, '', b.constF([1, 1, 2, 2])], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, { name: `image_encoder.neck/top_down_${i}/Resize` });
      prev = b.op('Add', [lateral, up], {}, { name: `image_encoder.neck/top_down_${i}/Add` });
    } else {
      prev = lateral;
    }
    neck[i] = prev;
  }
  const C = cfg.d_model;
  const noMem = b.init('no_mem_embed', [1, C, 1, 1], w.get('no_mem_embed', [1, 1, C]));
  b.identity(b.op('Add', [neck[2]!, noMem], {}, { name: 'no_mem_embed/Add' }), 'image_embed');
  // SAM2Base.forward_image: the mask decoder's 1x1 convs are applied once per image
  b.identity(conv2d(b, w, 'sam_mask_decoder.conv_s0', neck[0]!, { kernel: 1 }), 'high_res_feats_0');
  b.identity(conv2d(b, w, 'sam_mask_decoder.conv_s1', neck[1]!, { kernel: 1 }), 'high_res_feats_1');
  const s0 = w.shape('sam_mask_decoder.conv_s0.weight')[0]!;
  const s1 = w.shape('sam_mask_decoder.conv_s1.weight')[0]!;
  b.output('image_embed', 'float32', [1, C, levels[2]!.grid, levels[2]!.grid]);
  b.output('high_res_feats_0', 'float32', [1, s0, levels[0]!.grid, levels[0]!.grid]);
  b.output('high_res_feats_1', 'float32', [1, s1, levels[1]!.grid, levels[1]!.grid]);
  return b.build('sam2_image_encoder', { docString: 'SAM 2.1 image encoder (Hiera + FpnNeck + no_mem_embed + conv_s0/s1), built by PTQ4SAM Studio' });
}
