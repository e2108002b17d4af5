/** The model builders produce the official parameter shapes of ViT-B/L/H (reduced depth). */
import { describe, expect, it } from 'vitest';
import { OFFICIAL } from '../../main/sam/builders/config.ts';
import { buildDecoder } from '../../main/sam/builders/decoder.ts';
import { buildEncoder } from '../../main/sam/builders/encoder.ts';
import { detectConfig } from '../../main/sam/builders/config.ts';
import { Weights } from '../../main/sam/builders/weights.ts';
import { officialParameterShapes, synthConfig, synthStateDict } from '../../main/sam/synth.ts';
import { toNumber } from '../../main/onnx/proto.ts';

const official = {
  vit_b: { dim: 768, depth: 12, heads: 12, globals: [2, 5, 8, 11] },
  vit_l: { dim: 1024, depth: 24, heads: 16, globals: [5, 11, 17, 23] },
  vit_h: { dim: 1280, depth: 32, heads: 16, globals: [7, 15, 23, 31] },
} as const;

function initializerShapes(model: ReturnType<typeof buildEncoder>): Map<string, number[]> {
  return new Map((model.graph!.initializer ?? []).map((t) => [t.name!, (t.dims ?? []).map((d) => toNumber(d))]));
}

describe('official SAM parameter shapes', () => {
  for (const [arch, o] of Object.entries(official)) {
    it(`lists the ${arch} checkpoint's tensors with their published shapes`, () => {
      const shapes = officialParameterShapes(OFFICIAL[arch as keyof typeof OFFICIAL]);
      const hd = o.dim / o.heads;
      expect(shapes.get('image_encoder.patch_embed.proj.weight')).toEqual([o.dim, 3, 16, 16]);
      expect(shapes.get('image_encoder.pos_embed')).toEqual([1, 64, 64, o.dim]);
      expect(shapes.get(`image_encoder.blocks.${o.depth - 1}.attn.qkv.weight`)).toEqual([3 * o.dim, o.dim]);
      expect(shapes.get(`image_encoder.blocks.${o.depth}.attn.qkv.weight`)).toBeUndefined();
      expect(shapes.get(`image_encoder.blocks.0.attn.rel_pos_h`)).toEqual([27, hd]);
      expect(shapes.get(`image_encoder.blocks.${o.globals[0]}.attn.rel_pos_w`)).toEqual([127, hd]);
      expect(shapes.get('image_encoder.blocks.0.mlp.lin1.weight')).toEqual([4 * o.dim, o.dim]);
      expect(shapes.get('image_encoder.neck.0.weight')).toEqual([256, o.dim, 1, 1]);
      expect(shapes.get('mask_decoder.transformer.layers.1.mlp.lin1.weight')).toEqual([2048, 256]);
      expect(shapes.get('mask_decoder.transformer.final_attn_token_to_image.k_proj.weight')).toEqual([128, 256]);
      expect(shapes.get('mask_decoder.output_upscaling.0.weight')).toEqual([256, 64, 2, 2]);
      expect(shapes.get('mask_decoder.output_hypernetworks_mlps.3.layers.2.weight')).toEqual([32, 256]);
      expect(shapes.get('prompt_encoder.mask_downscaling.6.weight')).toEqual([256, 16, 1, 1]);
    });
  }
});

describe('graphs built from synthetic official-shape weights', () => {
  for (const [arch, o] of Object.entries(official)) {
    // ViT-B up to its first global-attention block; L and H one block (their shapes per block are checked above)
    const depth = arch === 'vit_b' ? o.globals[0] + 1 : 1;
    it(`builds ${arch} (first ${depth} blocks) with transposed linear weights and detects its architecture back`, () => {
      const cfg = synthConfig(arch as keyof typeof OFFICIAL, depth);
      expect(cfg.encoder_global_attn_indexes).toEqual(arch === 'vit_b' ? [o.globals[0]] : []);
      const dict = synthStateDict(cfg, 1);
      const w = new Weights(dict, arch);
      expect(detectConfig(w)).toEqual(cfg);
      const enc = initializerShapes(buildEncoder(w, cfg));
      const hd = o.dim / o.heads;
      expect(enc.get('image_encoder.blocks.0.attn.qkv.weight')).toEqual([o.dim, 3 * o.dim]);
      expect(enc.get('image_encoder.blocks.0.attn.rel_pos_h.table')).toEqual([14, hd, 14]);
      if (arch === 'vit_b') expect(enc.get(`image_encoder.blocks.${o.globals[0]}.attn.rel_pos_h.table`)).toEqual([64, hd, 64]);
      expect(enc.get(`image_encoder.blocks.${depth - 1}.mlp.lin2.weight`)).toEqual([4 * o.dim, o.dim]);
      expect(enc.get('image_encoder.neck.0.weight')).toEqual([o.dim, 256]);
      const dec = initializerShapes(buildDecoder(w, cfg));
      expect(dec.get('mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight')).toEqual([256, 128]);
      expect(dec.get('mask_decoder.transformer.layers.0.mlp.lin1.weight')).toEqual([256, 2048]);
      expect(dec.get('mask_decoder.image_pe')).toEqual([1, 4096, 256]);
    });
  }

  it('refuses a depth beyond the official one', () => {
    expect(() => synthConfig('vit_b', 13)).toThrow(/\[1, 12\]/);
  });
});
