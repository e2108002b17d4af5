/** The sam2.1-tiny-random fixture: paths, manifest, a model directory imported once per test file. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importModel } from '../../main/sam/model-dir.ts';
import { readNpy, readNpyFloat32 } from '../../main/sam/npy.ts';
import type { SegmentPrompt } from '../../main/sam/engine-api.ts';

export const SAM2_TINY = join(import.meta.dirname, '../fixtures/sam2.1-tiny-random');
export const SAM2_TINY_PT = join(SAM2_TINY, 'sam2.1_tiny_random.pt');
export const SAM2_TINY_FP16_PT = join(SAM2_TINY, 'sam2.1_tiny_random_fp16.pt');
export const SAM2_TINY_CONFIG = join(SAM2_TINY, 'config.json');

export interface Sam2Case {
  id: string;
  prompt: { points?: [number, number][]; labels?: number[]; box?: [number, number, number, number] };
  decoder_inputs: { point_coords: string; point_labels: string; mask_input?: { from: string; case0_best_multimask_index: number } };
  decoder_outputs: { iou_predictions: string; object_score_logits: string; low_res_masks?: string };
  single_output_token: number;
  predictor_multimask: { scores: string; masks_png: string[] };
  predictor_single: { scores: string; mask_png: string };
}
export interface Sam2Image {
  image: string;
  width: number;
  height: number;
  set_image: { image_embed?: string; input_sub8?: { file: string }; high_res_feats_sub4?: { file: string }[] };
  cases: Sam2Case[];
}

export function sam2Manifest(): { images: Sam2Image[] } {
  return JSON.parse(readFileSync(join(SAM2_TINY, 'manifest.json'), 'utf8'));
}

export const sam2Fixture = (name: string) => join(SAM2_TINY, name);
export const readF32 = (name: string) => readNpyFloat32(sam2Fixture(name));
export const readInt = (name: string) => readNpy(sam2Fixture(name));

/** Imports sam2.1_tiny_random.pt (with its config: a reduced Hiera) into a fresh model directory. */
export async function sam2TinyModelDir(): Promise<{ dir: string; cleanup: () => void }> {
  const root = mkdtempSync(join(tmpdir(), 'sam2-tiny-'));
  const dir = join(root, 'model');
  mkdirSync(dir);
  await importModel(SAM2_TINY_PT, dir, { configPath: SAM2_TINY_CONFIG });
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** A manifest prompt as the engine takes it (original-image pixels). */
export function sam2PromptOf(c: Sam2Case['prompt']): SegmentPrompt {
  return {
    points: (c.points ?? []).map(([x, y], i) => ({ x, y, label: c.labels![i] as 0 | 1 })),
    ...(c.box ? { box: c.box } : {}),
  };
}

/** The row/column sub-grid the fixture stores (`*.sub8`, `*.sub4`): 0, step, ..., and the last index. */
export function subGrid(full: Float32Array, channels: number, size: number, step: number): Float32Array {
  const idx: number[] = [];
  for (let i = 0; i < size; i += step) idx.push(i);
  if (idx[idx.length - 1] !== size - 1) idx.push(size - 1);
  const n = idx.length;
  const out = new Float32Array(channels * n * n);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) out[(c * n + y) * n + x] = full[(c * size + idx[y]!) * size + idx[x]!]!;
  }
  return out;
}
