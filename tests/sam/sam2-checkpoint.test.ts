/**
 * SAM 2.1 checkpoints in: the fixture's real torch.save files read by our zip + pickle reader,
 * official variants recognised from tensor shapes, configs checked against the tensors.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../main/sam/checkpoint/index.ts';
import { buildSam2Decoder } from '../../main/sam/builders/sam2-decoder.ts';
import { buildSam2Encoder } from '../../main/sam/builders/hiera.ts';
import { detectSam2Config, hieraBlocks, OFFICIAL_SAM2, parseSam2Config, type Sam2Config } from '../../main/sam/builders/sam2-config.ts';
import { Weights, type NamedTensor } from '../../main/sam/builders/weights.ts';
import { importModel, readModelInfo, type ModelInfo } from '../../main/sam/model-dir.ts';
import { loadModel, saveModel } from '../../main/onnx/model-io.ts';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../main/onnx/tensor.ts';
import { SAM2_TINY_CONFIG, SAM2_TINY_FP16_PT, SAM2_TINY_PT } from '../helpers/sam2-tiny.ts';
import { readFileSync } from 'node:fs';
import { synthSam2StateDict } from '../../main/sam/sam2-synth.ts';

const tmp = mkdtempSync(join(tmpdir(), 'sam2-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The fixture imported once, shared by the tests that read the model directory. */
let importing: Promise<{ out: string; info: ModelInfo }> | undefined;
function imported(): Promise<{ out: string; info: ModelInfo }> {
  importing ??= (async () => {
    const out = join(tmp, 'model');
    mkdirSync(out);
    return { out, info: await importModel(SAM2_TINY_PT, out, { configPath: SAM2_TINY_CONFIG }) };
  })();
  return importing;
}

/** A state dict with the right shapes and no values: detection only reads shapes. */
function shapesOnly(cfg: Sam2Config): Weights {
  const t = new Map<string, NamedTensor>();
  const add = (key: string, shape: number[]) => t.set(key, { shape, data: new Float32Array(0) });
  add('image_encoder.trunk.patch_embed.proj.weight', [cfg.embed_dim, 3, 7, 7]);
  add('image_encoder.trunk.pos_embed', [1, cfg.embed_dim, ...cfg.window_pos_embed_bkg_spatial_size]);
  for (const b of hieraBlocks(cfg).blocks) {
    add(`image_encoder.trunk.blocks.${b.index}.attn.qkv.weight`, [3 * b.dimOut, b.dim]);
    if (b.dim !== b.dimOut) add(`image_encoder.trunk.blocks.${b.index}.proj.weight`, [b.dimOut, b.dim]);
  }
  cfg.backbone_channel_list.forEach((c, i) => add(`image_encoder.neck.convs.${i}.conv.weight`, [256, c, 1, 1]));
  add('sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight', [2048, 256]);
  return new Weights(t, 'shapes');
}

describe('SAM 2.1 checkpoint import', () => {
  it('reads the float16 checkpoint to the float32 values rounded to float16', async () => {
    const full = await readCheckpoint(SAM2_TINY_PT);
    const half = await readCheckpoint(SAM2_TINY_FP16_PT);
    expect(half.size).toBe(full.size);
    expect(full.size).toBe(300);
    for (const [key, t] of full) {
      const h = half.get(key)!;
      expect(h.dtype, key).toBe('float16');
      expect(h.shape, key).toEqual(t.shape);
      const rounded = float16BitsToFloat32(float32ToFloat16Bits(t.data));
      expect(Buffer.from(h.data.buffer, h.data.byteOffset, h.data.byteLength).equals(Buffer.from(rounded.buffer)), key).toBe(true);
    }
  });

  for (const [name, cfg] of Object.entries(OFFICIAL_SAM2)) {
    it(`recognises the official ${name} from tensor shapes alone`, () => {
      expect(detectSam2Config(shapesOnly(cfg)).architecture).toBe(name);
    });
  }

  it('makes a synthetic Hiera-T of the official shapes that is recognised and builds at full size', () => {
    const { config, dict } = synthSam2StateDict('hiera_t', 0);
    const w = new Weights(dict, 'synthetic hiera_t');
    expect(detectSam2Config(w)).toEqual({ config, architecture: 'hiera_t' });
    const encoder = buildSam2Encoder(w, config);
    // 12 blocks, each with one attention: 12 qk products, 12 softmaxes
    expect((encoder.graph!.node ?? []).filter((n) => n.name?.endsWith('/Softmax')).length).toBe(12);
    expect((encoder.graph!.output ?? []).map((o) => o.name)).toEqual(['image_embed', 'high_res_feats_0', 'high_res_feats_1']);
  });

  it('refuses the reduced fixture without --config, naming the file and the flag', async () => {
    const out = join(tmp, 'no-config');
    mkdirSync(out);
    await expect(importModel(SAM2_TINY_PT, out)).rejects.toThrow(/sam2\.1_tiny_random\.pt: not an official SAM 2\.1 .*--config/);
  });

  it('refuses a config that contradicts the tensors, naming the config file and the key', async () => {
    const raw = JSON.parse(readFileSync(SAM2_TINY_CONFIG, 'utf8'));
    raw.model.image_encoder.trunk.stages = [1, 2, 1, 1];
    const bad = join(tmp, 'bad-config.json');
    writeFileSync(bad, JSON.stringify(raw));
    const out = join(tmp, 'bad');
    mkdirSync(out);
    await expect(importModel(SAM2_TINY_PT, out, { configPath: bad })).rejects.toThrow(/bad-config\.json: says stages = \[1,2,1,1\] but sam2\.1_tiny_random\.pt's tensors say \[1,1,2,1\]/);
  });

  it('refuses a config whose flags the image path does not implement', () => {
    const raw = JSON.parse(readFileSync(SAM2_TINY_CONFIG, 'utf8'));
    raw.model.use_high_res_features_in_sam = false;
    expect(() => parseSam2Config(raw, 'x.json', 512)).toThrow(/x\.json: model\.use_high_res_features_in_sam = false is not supported/);
  });

  it('refuses values no Hiera can have, naming the key', () => {
    const cases: [(m: any) => void, string][] = [
      [(m) => { m.image_encoder.trunk.num_heads = -1; }, '"trunk.num_heads" is -1, outside 1..'],
      [(m) => { m.image_encoder.trunk.window_spec = [8, 4, 100000, 7]; }, '"trunk.window_spec[2]" is 100000, outside 1..64'],
      [(m) => { m.image_encoder.trunk.global_att_blocks = [99]; }, '"trunk.global_att_blocks[0]" is 99, outside 0..'],
      [(m) => { m.image_encoder.neck.fpn_top_down_levels = [2, 7]; }, '"neck.fpn_top_down_levels[1]" is 7, outside 0..3'],
      [(m) => { m.image_encoder.neck.d_model = 0; }, '"neck.d_model" is 0, outside 1..4096'],
    ];
    for (const [change, message] of cases) {
      const raw = JSON.parse(readFileSync(SAM2_TINY_CONFIG, 'utf8'));
      change(raw.model);
      expect(() => parseSam2Config(raw, 'x.json', 512)).toThrow(`x.json: ${message}`);
    }
    // the fixture's own values pass
    expect(parseSam2Config(JSON.parse(readFileSync(SAM2_TINY_CONFIG, 'utf8')), 'x.json', 512).num_heads).toBeGreaterThan(0);
  });

  it('builds graphs that hold no video-only tensor', async () => {
    const w = new Weights(await readCheckpoint(SAM2_TINY_PT), 'sam2.1_tiny_random.pt');
    const cfg = parseSam2Config(JSON.parse(readFileSync(SAM2_TINY_CONFIG, 'utf8')), 'config.json', 512);
    const names = [buildSam2Encoder(w, cfg), buildSam2Decoder(w, cfg)].flatMap((m) => (m.graph!.initializer ?? []).map((i) => i.name ?? ''));
    const video = /^(memory_attention|memory_encoder|maskmem|obj_ptr|no_obj|no_mem_pos_enc|mask_downsample)/;
    expect(names.filter((n) => video.test(n))).toEqual([]);
    expect(names).toContain('image_encoder.trunk.blocks.4.attn.qkv.weight');
    expect(names).toContain('sam_mask_decoder.transformer.final_attn_token_to_image.k_proj.bias');
  });

  it('writes a sam2.1 model.json with the config, the stretch preprocessing and the source hash', async () => {
    const { out, info } = await imported();
    const stored = readModelInfo(out);
    expect(stored).toEqual(info);
    expect(stored.family).toBe('sam2.1');
    expect(stored.architecture).toBe('custom');
    expect(stored.config).toMatchObject({ embed_dim: 24, stages: [1, 1, 2, 1], global_att_blocks: [3], decoder_mlp_dim: 512 });
    expect(stored.preprocessing).toMatchObject({ kind: 'sam2-stretch', encoderInput: 'image', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    expect(stored.source.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('imports its own SAM 2.1 ONNX pair back as the same sam2.1 model', async () => {
    const { out, info } = await imported();
    const again = join(tmp, 'reimported');
    mkdirSync(again);
    const back = await importModel(out, again);
    expect(back).toMatchObject({ id: info.id, family: 'sam2.1', masks: 4, preprocessing: { kind: 'sam2-stretch', encoderInput: 'image' } });
  });

  it('refuses a SAM 2 pair in another exporter\'s contract, naming the file and what it lacks', async () => {
    const { out } = await imported();
    const other = join(tmp, 'other-sam2');
    mkdirSync(other);
    const decoder = loadModel(join(out, 'decoder.onnx'));
    decoder.graph!.output = decoder.graph!.output!.filter((o) => o.name !== 'object_score_logits');
    saveModel(decoder, join(other, 'decoder.onnx'));
    saveModel(loadModel(join(out, 'encoder.onnx')), join(other, 'encoder.onnx'));
    const dest = join(tmp, 'other-dest');
    mkdirSync(dest);
    await expect(importModel(other, dest)).rejects.toThrow(/other-sam2\/decoder\.onnx: a SAM 2 ONNX pair in another exporter's contract \(lacks decoder output "object_score_logits"\); import the sam2\.1_hiera_\*\.pt checkpoint instead/);
  });
});
