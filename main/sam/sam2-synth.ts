/**
 * Random-weight SAM 2.1 image models of the official shapes (Hiera tiny/small/base_plus/large),
 * for benchmarks: the same graphs as the real checkpoints, seeded weights, marked synthetic.
 * Only the image path's parameters exist (the builders never read the video modules).
 */
import type { NamedTensor } from './builders/weights.ts';
import { HIERA_MLP_RATIO, hieraBlocks, OFFICIAL_SAM2, type Sam2Architecture, type Sam2Config } from './builders/sam2-config.ts';
import { synthFromShapes } from './synth.ts';

export function sam2ParameterShapes(cfg: Sam2Config): Map<string, number[]> {
  const s = new Map<string, number[]>();
  const E = cfg.embed_dim;
  const T = 'image_encoder.trunk';
  s.set(`${T}.pos_embed`, [1, E, ...cfg.window_pos_embed_bkg_spatial_size]);
  s.set(`${T}.pos_embed_window`, [1, E, cfg.window_spec[0]!, cfg.window_spec[0]!]);
  s.set(`${T}.patch_embed.proj.weight`, [E, 3, 7, 7]); s.set(`${T}.patch_embed.proj.bias`, [E]);
  const linear = (p: string, out: number, inp: number) => { s.set(`${p}.weight`, [out, inp]); s.set(`${p}.bias`, [out]); };
  for (const b of hieraBlocks(cfg).blocks) {
    const p = `${T}.blocks.${b.index}`;
    s.set(`${p}.norm1.weight`, [b.dim]); s.set(`${p}.norm1.bias`, [b.dim]);
    linear(`${p}.attn.qkv`, 3 * b.dimOut, b.dim);
    linear(`${p}.attn.proj`, b.dimOut, b.dimOut);
    s.set(`${p}.norm2.weight`, [b.dimOut]); s.set(`${p}.norm2.bias`, [b.dimOut]);
    linear(`${p}.mlp.layers.0`, b.dimOut * HIERA_MLP_RATIO, b.dimOut);
    linear(`${p}.mlp.layers.1`, b.dimOut, b.dimOut * HIERA_MLP_RATIO);
    if (b.dim !== b.dimOut) linear(`${p}.proj`, b.dimOut, b.dim);
  }
  const C = cfg.d_model;
  cfg.backbone_channel_list.forEach((ch, i) => { s.set(`image_encoder.neck.convs.${i}.conv.weight`, [C, ch, 1, 1]); s.set(`image_encoder.neck.convs.${i}.conv.bias`, [C]); });
  s.set('no_mem_embed', [1, 1, C]);

  const PE = 'sam_prompt_encoder';
  s.set(`${PE}.pe_layer.positional_encoding_gaussian_matrix`, [2, C / 2]);
  for (let i = 0; i < 4; i++) s.set(`${PE}.point_embeddings.${i}.weight`, [1, C]);
  s.set(`${PE}.not_a_point_embed.weight`, [1, C]);
  s.set(`${PE}.mask_downscaling.0.weight`, [4, 1, 2, 2]); s.set(`${PE}.mask_downscaling.0.bias`, [4]);
  s.set(`${PE}.mask_downscaling.1.weight`, [4]); s.set(`${PE}.mask_downscaling.1.bias`, [4]);
  s.set(`${PE}.mask_downscaling.3.weight`, [16, 4, 2, 2]); s.set(`${PE}.mask_downscaling.3.bias`, [16]);
  s.set(`${PE}.mask_downscaling.4.weight`, [16]); s.set(`${PE}.mask_downscaling.4.bias`, [16]);
  s.set(`${PE}.mask_downscaling.6.weight`, [C, 16, 1, 1]); s.set(`${PE}.mask_downscaling.6.bias`, [C]);
  s.set(`${PE}.no_mask_embed.weight`, [1, C]);

  const MD = 'sam_mask_decoder';
  const attn = (p: string, internal: number) => {
    for (const n of ['q_proj', 'k_proj', 'v_proj']) linear(`${p}.${n}`, internal, C);
    linear(`${p}.out_proj`, C, internal);
  };
  for (let i = 0; i < 2; i++) {
    const p = `${MD}.transformer.layers.${i}`;
    attn(`${p}.self_attn`, C);
    attn(`${p}.cross_attn_token_to_image`, C / 2);
    attn(`${p}.cross_attn_image_to_token`, C / 2);
    for (let n = 1; n <= 4; n++) { s.set(`${p}.norm${n}.weight`, [C]); s.set(`${p}.norm${n}.bias`, [C]); }
    linear(`${p}.mlp.layers.0`, cfg.decoder_mlp_dim, C);
    linear(`${p}.mlp.layers.1`, C, cfg.decoder_mlp_dim);
  }
  attn(`${MD}.transformer.final_attn_token_to_image`, C / 2);
  s.set(`${MD}.transformer.norm_final_attn.weight`, [C]); s.set(`${MD}.transformer.norm_final_attn.bias`, [C]);
  s.set(`${MD}.iou_token.weight`, [1, C]);
  s.set(`${MD}.mask_tokens.weight`, [4, C]);
  s.set(`${MD}.obj_score_token.weight`, [1, C]);
  s.set(`${MD}.output_upscaling.0.weight`, [C, C / 4, 2, 2]); s.set(`${MD}.output_upscaling.0.bias`, [C / 4]);
  s.set(`${MD}.output_upscaling.1.weight`, [C / 4]); s.set(`${MD}.output_upscaling.1.bias`, [C / 4]);
  s.set(`${MD}.output_upscaling.3.weight`, [C / 4, C / 8, 2, 2]); s.set(`${MD}.output_upscaling.3.bias`, [C / 8]);
  s.set(`${MD}.conv_s0.weight`, [C / 8, C, 1, 1]); s.set(`${MD}.conv_s0.bias`, [C / 8]);
  s.set(`${MD}.conv_s1.weight`, [C / 4, C, 1, 1]); s.set(`${MD}.conv_s1.bias`, [C / 4]);
  const mlp3 = (p: string, outDim: number) => {
    linear(`${p}.layers.0`, C, C);
    linear(`${p}.layers.1`, C, C);
    linear(`${p}.layers.2`, outDim, C);
  };
  for (let i = 0; i < 4; i++) mlp3(`${MD}.output_hypernetworks_mlps.${i}`, C / 8);
  mlp3(`${MD}.iou_prediction_head`, 4);
  mlp3(`${MD}.pred_obj_score_head`, 1);
  return s;
}

export function synthSam2StateDict(arch: Exclude<Sam2Architecture, 'custom'>, seed: number): { config: Sam2Config; dict: Map<string, NamedTensor> } {
  const config = { ...OFFICIAL_SAM2[arch] };
  return { config, dict: synthFromShapes(sam2ParameterShapes(config), seed) };
}
