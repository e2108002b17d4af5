/**
 * Random-weight SAM state dicts of the official shapes, for benchmarks: the same graphs as a
 * real ViT-B/L/H, with seeded weights. Never a stand-in for a trained model in tests of
 * fidelity; model.json marks them synthetic.
 */
import type { NamedTensor } from './builders/weights.ts';
import { OFFICIAL, type SamConfig } from './builders/config.ts';

/** Every parameter of segment_anything's Sam for a config, with its PyTorch shape. */
export function officialParameterShapes(cfg: SamConfig): Map<string, number[]> {
  const s = new Map<string, number[]>();
  const D = cfg.encoder_embed_dim;
  const hd = D / cfg.encoder_num_heads;
  const grid = cfg.img_size / cfg.patch_size;
  const mlpDim = Math.round(D * cfg.mlp_ratio);
  const C = cfg.prompt_embed_dim;
  s.set('image_encoder.pos_embed', [1, grid, grid, D]);
  s.set('image_encoder.patch_embed.proj.weight', [D, 3, cfg.patch_size, cfg.patch_size]);
  s.set('image_encoder.patch_embed.proj.bias', [D]);
  for (let i = 0; i < cfg.encoder_depth; i++) {
    const p = `image_encoder.blocks.${i}`;
    const size = cfg.encoder_global_attn_indexes.includes(i) ? grid : cfg.window_size;
    s.set(`${p}.norm1.weight`, [D]); s.set(`${p}.norm1.bias`, [D]);
    s.set(`${p}.attn.rel_pos_h`, [2 * size - 1, hd]); s.set(`${p}.attn.rel_pos_w`, [2 * size - 1, hd]);
    s.set(`${p}.attn.qkv.weight`, [3 * D, D]);
    if (cfg.qkv_bias) s.set(`${p}.attn.qkv.bias`, [3 * D]);
    s.set(`${p}.attn.proj.weight`, [D, D]); s.set(`${p}.attn.proj.bias`, [D]);
    s.set(`${p}.norm2.weight`, [D]); s.set(`${p}.norm2.bias`, [D]);
    s.set(`${p}.mlp.lin1.weight`, [mlpDim, D]); s.set(`${p}.mlp.lin1.bias`, [mlpDim]);
    s.set(`${p}.mlp.lin2.weight`, [D, mlpDim]); s.set(`${p}.mlp.lin2.bias`, [D]);
  }
  const out = cfg.out_chans;
  s.set('image_encoder.neck.0.weight', [out, D, 1, 1]);
  s.set('image_encoder.neck.1.weight', [out]); s.set('image_encoder.neck.1.bias', [out]);
  s.set('image_encoder.neck.2.weight', [out, out, 3, 3]);
  s.set('image_encoder.neck.3.weight', [out]); s.set('image_encoder.neck.3.bias', [out]);

  s.set('prompt_encoder.pe_layer.positional_encoding_gaussian_matrix', [2, C / 2]);
  for (let i = 0; i < 4; i++) s.set(`prompt_encoder.point_embeddings.${i}.weight`, [1, C]);
  s.set('prompt_encoder.not_a_point_embed.weight', [1, C]);
  s.set('prompt_encoder.mask_downscaling.0.weight', [4, 1, 2, 2]); s.set('prompt_encoder.mask_downscaling.0.bias', [4]);
  s.set('prompt_encoder.mask_downscaling.1.weight', [4]); s.set('prompt_encoder.mask_downscaling.1.bias', [4]);
  s.set('prompt_encoder.mask_downscaling.3.weight', [16, 4, 2, 2]); s.set('prompt_encoder.mask_downscaling.3.bias', [16]);
  s.set('prompt_encoder.mask_downscaling.4.weight', [16]); s.set('prompt_encoder.mask_downscaling.4.bias', [16]);
  s.set('prompt_encoder.mask_downscaling.6.weight', [C, 16, 1, 1]); s.set('prompt_encoder.mask_downscaling.6.bias', [C]);
  s.set('prompt_encoder.no_mask_embed.weight', [1, C]);

  const attn = (p: string, internal: number) => {
    for (const n of ['q_proj', 'k_proj', 'v_proj']) { s.set(`${p}.${n}.weight`, [internal, C]); s.set(`${p}.${n}.bias`, [internal]); }
    s.set(`${p}.out_proj.weight`, [C, internal]); s.set(`${p}.out_proj.bias`, [C]);
  };
  for (let i = 0; i < 2; i++) {
    const p = `mask_decoder.transformer.layers.${i}`;
    attn(`${p}.self_attn`, C);
    attn(`${p}.cross_attn_token_to_image`, C / 2);
    attn(`${p}.cross_attn_image_to_token`, C / 2);
    for (let n = 1; n <= 4; n++) { s.set(`${p}.norm${n}.weight`, [C]); s.set(`${p}.norm${n}.bias`, [C]); }
    s.set(`${p}.mlp.lin1.weight`, [cfg.decoder_mlp_dim, C]); s.set(`${p}.mlp.lin1.bias`, [cfg.decoder_mlp_dim]);
    s.set(`${p}.mlp.lin2.weight`, [C, cfg.decoder_mlp_dim]); s.set(`${p}.mlp.lin2.bias`, [C]);
  }
  attn('mask_decoder.transformer.final_attn_token_to_image', C / 2);
  s.set('mask_decoder.transformer.norm_final_attn.weight', [C]); s.set('mask_decoder.transformer.norm_final_attn.bias', [C]);
  s.set('mask_decoder.iou_token.weight', [1, C]);
  s.set('mask_decoder.mask_tokens.weight', [4, C]);
  s.set('mask_decoder.output_upscaling.0.weight', [C, C / 4, 2, 2]); s.set('mask_decoder.output_upscaling.0.bias', [C / 4]);
  s.set('mask_decoder.output_upscaling.1.weight', [C / 4]); s.set('mask_decoder.output_upscaling.1.bias', [C / 4]);
  s.set('mask_decoder.output_upscaling.3.weight', [C / 4, C / 8, 2, 2]); s.set('mask_decoder.output_upscaling.3.bias', [C / 8]);
  const mlp3 = (p: string, outDim: number) => {
    s.set(`${p}.layers.0.weight`, [C, C]); s.set(`${p}.layers.0.bias`, [C]);
    s.set(`${p}.layers.1.weight`, [C, C]); s.set(`${p}.layers.1.bias`, [C]);
    s.set(`${p}.layers.2.weight`, [outDim, C]); s.set(`${p}.layers.2.bias`, [outDim]);
  };
  for (let i = 0; i < 4; i++) mlp3(`mask_decoder.output_hypernetworks_mlps.${i}`, C / 8);
  mlp3('mask_decoder.iou_prediction_head', 4);
  return s;
}

/** A seeded PRNG (mulberry32), uniform in [0, 1): the same seed gives the same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in [-1, 1) from mulberry32: the same seed gives the same model (the scaling is exact). */
function uniformSource(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() * 2 - 1;
}

/**
 * Weights that keep activations in a realistic range: LayerNorm scale 1 and shift 0, other
 * weights uniform with variance 1/fan_in so each layer roughly preserves variance (uniform, not
 * normal: a ViT-H has 640 M parameters and this is four times faster).
 */
export function synthStateDict(cfg: SamConfig, seed: number): Map<string, NamedTensor> {
  return synthFromShapes(officialParameterShapes(cfg), seed);
}

/** Seeded weights for any parameter list (SAM and SAM 2.1 share the rule above). */
export function synthFromShapes(shapes: Map<string, number[]>, seed: number): Map<string, NamedTensor> {
  const uniform = uniformSource(seed);
  const SQRT3 = Math.sqrt(3);
  const dict = new Map<string, NamedTensor>();
  for (const [key, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNorm = /\.norm\d?\.|norm_final_attn|neck\.[13]\.|mask_downscaling\.[14]\.|output_upscaling\.1\./.test(key);
    if (isNorm) data.fill(key.endsWith('.weight') ? 1 : 0);
    else {
      const fanIn = shape.length >= 2 ? shape.slice(1).reduce((a, b) => a * b, 1) : shape[0]!;
      const std = key.endsWith('.bias') ? 0.02 : key.includes('pos') || key.includes('embed') || key.includes('token') ? 0.5 : 1 / Math.sqrt(fanIn);
      const half = std * SQRT3;
      for (let i = 0; i < n; i++) data[i] = uniform() * half;
    }
    dict.set(key, { shape, data });
  }
  return dict;
}

/** An official architecture cut to its first `depth` blocks (global attention kept where the official index < depth). */
export function synthConfig(arch: keyof typeof OFFICIAL, depth?: number): SamConfig {
  const base = OFFICIAL[arch];
  if (depth === undefined) return { ...base };
  if (!Number.isInteger(depth) || depth < 1 || depth > base.encoder_depth) throw new Error(`--depth must be an integer in [1, ${base.encoder_depth}] for ${arch}`);
  return { ...base, encoder_depth: depth, encoder_global_attn_indexes: base.encoder_global_attn_indexes.filter((i) => i < depth) };
}
