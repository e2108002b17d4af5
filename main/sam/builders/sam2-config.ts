/**
 * SAM 2.1 hyper-parameters. The four official checkpoints (sam2.1_hiera_{tiny,small,base_plus,
 * large}.pt) are recognised from tensor shapes; a Hiera's head counts, global-attention blocks
 * and window sizes are not recorded in any tensor, so other sizes need `--config` with the
 * official yaml's `model` section as JSON (tests/fixtures/sam2.1-tiny-random/config.json).
 * Whatever the tensors do record (embed dim, stage depths, neck channels, pos-embed size) is
 * read from them and a config must agree with it.
 */
import type { Weights } from './weights.ts';

export interface Sam2Config {
  embed_dim: number;
  num_heads: number;
  stages: number[];
  global_att_blocks: number[];
  window_spec: number[];
  window_pos_embed_bkg_spatial_size: [number, number];
  backbone_channel_list: number[];
  fpn_top_down_levels: number[];
  /** neck output channels = the mask decoder's transformer dim */
  d_model: number;
  /** the two-way transformer's MLP width (2048 in every official model) */
  decoder_mlp_dim: number;
}

export type Sam2Architecture = 'hiera_t' | 'hiera_s' | 'hiera_b+' | 'hiera_l' | 'custom';

/** Hiera's constructor defaults, which the official yaml files only partly override. */
const Q_POOL = 3;
const DIM_MUL = 2;
const HEAD_MUL = 2;
const MLP_RATIO = 4;
export const SAM2_IMAGE_SIZE = 1024;

function official(embed: number, heads: number, stages: number[], globals: number[], windows: number[], bkg: number): Sam2Config {
  const dims = stages.map((_, i) => embed * DIM_MUL ** i);
  return {
    embed_dim: embed, num_heads: heads, stages, global_att_blocks: globals, window_spec: windows,
    window_pos_embed_bkg_spatial_size: [bkg, bkg], backbone_channel_list: dims.reverse(), fpn_top_down_levels: [2, 3],
    d_model: 256, decoder_mlp_dim: 2048,
  };
}

/** sam2/configs/sam2.1/sam2.1_hiera_{t,s,b+,l}.yaml (facebookresearch/sam2 @ 2b90b9f). */
export const OFFICIAL_SAM2: Record<Exclude<Sam2Architecture, 'custom'>, Sam2Config> = {
  hiera_t: official(96, 1, [1, 2, 7, 2], [5, 7, 9], [8, 4, 14, 7], 7),
  hiera_s: official(96, 1, [1, 2, 11, 2], [7, 10, 13], [8, 4, 14, 7], 7),
  'hiera_b+': official(112, 2, [2, 3, 16, 3], [12, 16, 20], [8, 4, 14, 7], 14),
  hiera_l: official(144, 2, [2, 6, 36, 4], [23, 33, 43], [8, 4, 16, 8], 7),
};

/** One Hiera block as hieradet.Hiera.__init__ lays them out. */
export interface HieraBlock {
  index: number;
  dim: number;
  dimOut: number;
  heads: number;
  /** 0 = global attention */
  window: number;
  /** 2x2 max-pooling of q and of the shortcut (first block of stages 2..4) */
  qPool: boolean;
}

export function hieraBlocks(cfg: Sam2Config): { blocks: HieraBlock[]; stageEnds: number[] } {
  const stageEnds = cfg.stages.map((_, i) => cfg.stages.slice(0, i + 1).reduce((a, b) => a + b, 0) - 1);
  const qPoolBlocks = stageEnds.slice(0, -1).map((e) => e + 1).slice(0, Q_POOL);
  const blocks: HieraBlock[] = [];
  let dim = cfg.embed_dim;
  let heads = cfg.num_heads;
  let stage = 1;
  const depth = stageEnds[stageEnds.length - 1]! + 1;
  for (let i = 0; i < depth; i++) {
    // The window lags one block behind the stage: a stage's first block still uses the
    // previous stage's window (Hiera.__init__ reads window_spec before bumping cur_stage).
    let window = cfg.window_spec[stage - 1]!;
    if (cfg.global_att_blocks.includes(i)) window = 0;
    let dimOut = dim;
    if (stageEnds.includes(i - 1)) {
      dimOut = dim * DIM_MUL;
      heads *= HEAD_MUL;
      stage++;
    }
    blocks.push({ index: i, dim, dimOut, heads, window, qPool: qPoolBlocks.includes(i) });
    dim = dimOut;
  }
  return { blocks, stageEnds };
}

export const HIERA_MLP_RATIO = MLP_RATIO;

export function sam2ArchitectureOf(c: Sam2Config): Sam2Architecture {
  for (const [name, o] of Object.entries(OFFICIAL_SAM2)) {
    if (JSON.stringify({ ...o, decoder_mlp_dim: c.decoder_mlp_dim }) === JSON.stringify(c)) return name as Sam2Architecture;
  }
  return 'custom';
}

/** Whether a state dict is SAM 2 / 2.1 (its modules are named sam_mask_decoder, image_encoder.trunk). */
export function isSam2StateDict(w: Weights): boolean {
  return w.has('image_encoder.trunk.patch_embed.proj.weight') && w.has('sam_mask_decoder.iou_token.weight');
}

/** What the tensors record; the rest (heads, windows, globals) is left for an official match or a config. */
function fromTensors(w: Weights): Pick<Sam2Config, 'embed_dim' | 'stages' | 'window_pos_embed_bkg_spatial_size' | 'backbone_channel_list' | 'd_model' | 'decoder_mlp_dim'> {
  const patch = w.shape('image_encoder.trunk.patch_embed.proj.weight');
  if (patch.length !== 4 || patch[1] !== 3 || patch[2] !== 7) throw new Error(`${w.source}: image_encoder.trunk.patch_embed.proj.weight has shape [${patch.join(', ')}], not a Hiera 7x7 patch embedding`);
  let depth = 0;
  while (w.has(`image_encoder.trunk.blocks.${depth}.attn.qkv.weight`)) depth++;
  if (depth === 0) throw new Error(`${w.source}: no image_encoder.trunk.blocks found`);
  // A block that changes the width has a shortcut projection; it opens a new stage.
  const stages: number[] = [];
  let count = 0;
  for (let i = 0; i < depth; i++) {
    if (i > 0 && w.has(`image_encoder.trunk.blocks.${i}.proj.weight`)) { stages.push(count); count = 0; }
    count++;
  }
  stages.push(count);
  const pos = w.shape('image_encoder.trunk.pos_embed');
  let convs = 0;
  while (w.has(`image_encoder.neck.convs.${convs}.conv.weight`)) convs++;
  const channels = Array.from({ length: convs }, (_, i) => w.shape(`image_encoder.neck.convs.${i}.conv.weight`)[1]!);
  return {
    embed_dim: patch[0]!,
    stages,
    window_pos_embed_bkg_spatial_size: [pos[2]!, pos[3]!],
    backbone_channel_list: channels,
    d_model: w.shape('image_encoder.neck.convs.0.conv.weight')[0]!,
    decoder_mlp_dim: w.shape('sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight')[0]!,
  };
}

/**
 * The model of a SAM 2 / 2.1 checkpoint: an official variant matched by its tensors, or the
 * given config checked against them. Throws naming the checkpoint when neither applies.
 */
export function detectSam2Config(w: Weights, given?: Sam2Config, configFile?: string): { config: Sam2Config; architecture: Sam2Architecture } {
  const seen = fromTensors(w);
  if (given) {
    for (const [key, value] of Object.entries(seen)) {
      const theirs = given[key as keyof Sam2Config];
      if (JSON.stringify(theirs) !== JSON.stringify(value)) {
        throw new Error(`${configFile ?? 'config'}: says ${key} = ${JSON.stringify(theirs)} but ${w.source}'s tensors say ${JSON.stringify(value)}`);
      }
    }
    checkBlocks(given, w);
    return { config: given, architecture: sam2ArchitectureOf(given) };
  }
  for (const [name, o] of Object.entries(OFFICIAL_SAM2)) {
    const cfg = { ...o, decoder_mlp_dim: seen.decoder_mlp_dim };
    if (Object.entries(seen).every(([k, v]) => JSON.stringify(cfg[k as keyof Sam2Config]) === JSON.stringify(v))) {
      checkBlocks(cfg, w);
      return { config: cfg, architecture: name as Sam2Architecture };
    }
  }
  throw new Error(`${w.source}: not an official SAM 2.1 Hiera tiny/small/base_plus/large (embed ${seen.embed_dim}, stages [${seen.stages.join(', ')}]); pass --config with its model config (the official yaml's "model" section as JSON)`);
}

/** Every block's widths must match the checkpoint's qkv shapes. */
function checkBlocks(cfg: Sam2Config, w: Weights): void {
  for (const b of hieraBlocks(cfg).blocks) {
    const key = `image_encoder.trunk.blocks.${b.index}.attn.qkv.weight`;
    const shape = w.shape(key);
    if (shape[0] !== 3 * b.dimOut || shape[1] !== b.dim) throw new Error(`${w.source}: ${key} has shape [${shape.join(', ')}], the config implies [${3 * b.dimOut}, ${b.dim}]`);
    if (b.dimOut % b.heads !== 0) throw new Error(`${w.source}: block ${b.index} has width ${b.dimOut}, not divisible by its ${b.heads} heads`);
  }
}

/**
 * Values no Hiera can have: they would build graphs that fail in onnxruntime at the first image
 * (a negative head count) or pad a stage to a huge window. Stage s sees a 256 / 2^s grid.
 */
function checkRanges(cfg: Sam2Config, file: string): void {
  const within = (v: number, min: number, max: number, path: string) => {
    if (v < min || v > max) throw new Error(`${file}: "${path}" is ${v}, outside ${min}..${max}`);
  };
  within(cfg.embed_dim, 1, 4096, 'trunk.embed_dim');
  within(cfg.num_heads, 1, cfg.embed_dim, 'trunk.num_heads');
  cfg.stages.forEach((n, s) => within(n, 1, 128, `trunk.stages[${s}]`));
  const blocks = cfg.stages.reduce((a, b) => a + b, 0);
  cfg.global_att_blocks.forEach((b, i) => within(b, 0, blocks - 1, `trunk.global_att_blocks[${i}]`));
  cfg.window_spec.forEach((n, s) => within(n, 1, 256 >> s, `trunk.window_spec[${s}]`));
  cfg.window_pos_embed_bkg_spatial_size.forEach((n, i) => within(n, 1, 256, `trunk.window_pos_embed_bkg_spatial_size[${i}]`));
  if (cfg.backbone_channel_list.length !== 4) throw new Error(`${file}: "neck.backbone_channel_list" must list 4 widths`);
  cfg.backbone_channel_list.forEach((n, i) => within(n, 1, 16384, `neck.backbone_channel_list[${i}]`));
  cfg.fpn_top_down_levels.forEach((n, i) => within(n, 0, 3, `neck.fpn_top_down_levels[${i}]`));
  within(cfg.d_model, 1, 4096, 'neck.d_model');
}

type Json = Record<string, unknown>;

function obj(v: unknown, file: string, path: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${file}: "${path}" must be an object`);
  return v as Json;
}

function ints(v: unknown, file: string, path: string): number[] {
  if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x))) throw new Error(`${file}: "${path}" must be a list of integers`);
  return v as number[];
}

function int(v: unknown, file: string, path: string): number {
  if (!Number.isInteger(v)) throw new Error(`${file}: "${path}" must be an integer`);
  return v as number;
}

/**
 * Flags the image path hard-codes: a config that turns one of them off describes a model this
 * builder would silently get wrong, so it is refused.
 */
const REQUIRED_FLAGS: [string, unknown][] = [
  ['use_high_res_features_in_sam', true], ['directly_add_no_mem_embed', true], ['iou_prediction_use_sigmoid', true],
  ['pred_obj_scores', true], ['image_size', SAM2_IMAGE_SIZE],
];

/**
 * Reads a config in the official yaml's layout as JSON: `{"model": {"image_encoder": {"trunk":
 * ..., "neck": ...}, ...}}` (a bare model section is accepted too). `decoder_mlp_dim` always
 * comes from the checkpoint (the yaml does not have it).
 */
export function parseSam2Config(raw: unknown, file: string, decoderMlpDim: number): Sam2Config {
  const root = obj(raw, file, '(top level)');
  const model = 'model' in root ? obj(root.model, file, 'model') : root;
  const encoder = obj(model.image_encoder, file, 'model.image_encoder');
  const trunk = obj(encoder.trunk, file, 'model.image_encoder.trunk');
  const neck = obj(encoder.neck, file, 'model.image_encoder.neck');
  for (const [key, value] of REQUIRED_FLAGS) {
    if (key in model && model[key] !== value) throw new Error(`${file}: model.${key} = ${JSON.stringify(model[key])} is not supported (the SAM 2.1 image path needs ${JSON.stringify(value)})`);
  }
  if ('scalp' in encoder && encoder.scalp !== 1) throw new Error(`${file}: model.image_encoder.scalp must be 1`);
  if ('fpn_interp_model' in neck && neck.fpn_interp_model !== 'nearest') throw new Error(`${file}: model.image_encoder.neck.fpn_interp_model "${String(neck.fpn_interp_model)}" is not supported (only nearest)`);
  const bkg = ints(trunk.window_pos_embed_bkg_spatial_size ?? [14, 14], file, 'trunk.window_pos_embed_bkg_spatial_size');
  const stages = ints(trunk.stages ?? [2, 3, 16, 3], file, 'trunk.stages');
  if (stages.length !== 4) throw new Error(`${file}: trunk.stages must list 4 stages`);
  const cfg: Sam2Config = {
    embed_dim: int(trunk.embed_dim ?? 96, file, 'trunk.embed_dim'),
    num_heads: int(trunk.num_heads ?? 1, file, 'trunk.num_heads'),
    stages,
    global_att_blocks: ints(trunk.global_att_blocks ?? [12, 16, 20], file, 'trunk.global_att_blocks'),
    window_spec: ints(trunk.window_spec ?? [8, 4, 14, 7], file, 'trunk.window_spec'),
    window_pos_embed_bkg_spatial_size: [bkg[0]!, bkg[1]!],
    backbone_channel_list: ints(neck.backbone_channel_list, file, 'neck.backbone_channel_list'),
    fpn_top_down_levels: ints(neck.fpn_top_down_levels ?? [0, 1, 2, 3], file, 'neck.fpn_top_down_levels'),
    d_model: int(neck.d_model, file, 'neck.d_model'),
    decoder_mlp_dim: decoderMlpDim,
  };
  if (cfg.window_spec.length !== 4) throw new Error(`${file}: trunk.window_spec must have 4 entries`);
  checkRanges(cfg, file);
  return cfg;
}
