/**
 * SAM hyper-parameters: the keys of the sam-tiny config.json. Official ViT-B/L/H are detected
 * from tensor shapes; everything a checkpoint does record (dims, depth, window size, head dim)
 * is read from it, and a config file supplies or confirms the rest.
 */
import type { Weights } from './weights.ts';

export interface SamConfig {
  encoder_embed_dim: number;
  encoder_depth: number;
  encoder_num_heads: number;
  encoder_global_attn_indexes: number[];
  window_size: number;
  patch_size: number;
  img_size: number;
  prompt_embed_dim: number;
  mlp_ratio: number;
  decoder_mlp_dim: number;
  use_rel_pos: boolean;
  qkv_bias: boolean;
  layer_norm_eps: number;
  out_chans: number;
}

export type Architecture = 'vit_b' | 'vit_l' | 'vit_h' | 'custom';

export const OFFICIAL: Record<Exclude<Architecture, 'custom'>, SamConfig> = {
  vit_b: official(768, 12, 12, [2, 5, 8, 11]),
  vit_l: official(1024, 24, 16, [5, 11, 17, 23]),
  vit_h: official(1280, 32, 16, [7, 15, 23, 31]),
};

function official(dim: number, depth: number, heads: number, globals: number[]): SamConfig {
  return {
    encoder_embed_dim: dim, encoder_depth: depth, encoder_num_heads: heads, encoder_global_attn_indexes: globals,
    window_size: 14, patch_size: 16, img_size: 1024, prompt_embed_dim: 256, mlp_ratio: 4, decoder_mlp_dim: 2048,
    use_rel_pos: true, qkv_bias: true, layer_norm_eps: 1e-6, out_chans: 256,
  };
}

export function architectureOf(c: SamConfig): Architecture {
  for (const [name, o] of Object.entries(OFFICIAL)) {
    if (o.encoder_embed_dim === c.encoder_embed_dim && o.encoder_depth === c.encoder_depth) return name as Architecture;
  }
  return 'custom';
}

const requiredKeys: (keyof SamConfig)[] = [
  'encoder_embed_dim', 'encoder_depth', 'encoder_num_heads', 'encoder_global_attn_indexes', 'window_size',
  'patch_size', 'img_size', 'prompt_embed_dim', 'mlp_ratio', 'use_rel_pos', 'qkv_bias', 'layer_norm_eps', 'out_chans',
];

/** Validates a parsed config.json; `decoder_mlp_dim` may be absent (read from lin1's shape). */
export function parseConfig(raw: unknown, file: string): Partial<SamConfig> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${file}: config must be a JSON object`);
  const obj = raw as Record<string, unknown>;
  for (const key of requiredKeys) if (!(key in obj)) throw new Error(`${file}: config lacks "${key}"`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'encoder_global_attn_indexes') {
      if (!Array.isArray(value) || value.some((v) => !Number.isInteger(v))) throw new Error(`${file}: "${key}" must be a list of integers`);
    } else if (key === 'use_rel_pos' || key === 'qkv_bias') {
      if (typeof value !== 'boolean') throw new Error(`${file}: "${key}" must be true or false`);
    } else if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new Error(`${file}: "${key}" must be a number`);
    }
    out[key] = value;
  }
  if (!obj.use_rel_pos) throw new Error(`${file}: use_rel_pos false is not supported (every SAM checkpoint uses relative positions)`);
  // a LayerNorm's epsilon keeps its square root real: zero or less gives NaN for a flat row
  const eps = obj.layer_norm_eps;
  if (eps !== undefined && !((eps as number) > 0 && (eps as number) < 1)) throw new Error(`${file}: "layer_norm_eps" must be a small positive number, got ${String(eps)}`);
  return out as Partial<SamConfig>;
}

/** Reads the architecture from tensor shapes; a config, if given, must agree with them. */
export function detectConfig(w: Weights, given?: Partial<SamConfig>): SamConfig {
  const patch = w.shape('image_encoder.patch_embed.proj.weight');
  if (patch.length !== 4 || patch[1] !== 3) throw new Error(`${w.source}: image_encoder.patch_embed.proj.weight has shape [${patch.join(', ')}], not a SAM image encoder`);
  const dim = patch[0]!;
  const patchSize = patch[2]!;
  let depth = 0;
  while (w.has(`image_encoder.blocks.${depth}.attn.qkv.weight`)) depth++;
  if (depth === 0) throw new Error(`${w.source}: no image_encoder.blocks found`);
  const pos = w.shape('image_encoder.pos_embed');
  const grid = pos[1]!;
  const globals: number[] = [];
  let window = 0;
  let headDim = 0;
  for (let i = 0; i < depth; i++) {
    const rel = w.shape(`image_encoder.blocks.${i}.attn.rel_pos_h`);
    headDim = rel[1]!;
    const size = (rel[0]! + 1) / 2;
    if (size === grid) globals.push(i);
    else window = size;
  }
  const lin1 = w.shape('image_encoder.blocks.0.mlp.lin1.weight');
  const neck = w.shape('image_encoder.neck.0.weight');
  const decLin1 = w.shape('mask_decoder.transformer.layers.0.mlp.lin1.weight');
  const detected: SamConfig = {
    encoder_embed_dim: dim,
    encoder_depth: depth,
    encoder_num_heads: dim / headDim,
    encoder_global_attn_indexes: globals,
    window_size: window || given?.window_size || 14,
    patch_size: patchSize,
    img_size: grid * patchSize,
    prompt_embed_dim: w.shape('prompt_encoder.no_mask_embed.weight')[1]!,
    mlp_ratio: lin1[0]! / dim,
    decoder_mlp_dim: decLin1[0]!,
    use_rel_pos: true,
    qkv_bias: w.has('image_encoder.blocks.0.attn.qkv.bias'),
    layer_norm_eps: given?.layer_norm_eps ?? 1e-6,
    out_chans: neck[0]!,
  };
  if (!Number.isInteger(detected.encoder_num_heads)) throw new Error(`${w.source}: head dimension ${headDim} does not divide embed dim ${dim}`);
  if (given) {
    for (const [key, value] of Object.entries(given)) {
      const mine = detected[key as keyof SamConfig];
      if (mine !== undefined && JSON.stringify(mine) !== JSON.stringify(value)) {
        throw new Error(`${w.source}: config says ${key} = ${JSON.stringify(value)} but the checkpoint's tensors say ${JSON.stringify(mine)}`);
      }
    }
  }
  if (detected.img_size !== 1024) throw new Error(`${w.source}: image size ${detected.img_size} is not supported (SAM uses 1024)`);
  return detected;
}
