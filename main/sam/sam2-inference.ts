/**
 * What differs for SAM 2.1 models (family `sam2.1`) on the inference path: three feature maps
 * instead of one embedding, prompts in the stretched 1024x1024 frame, the predictor's
 * single-mask rule (stability fallback), and masks resized straight from 256x256 to H x W.
 * The three maps travel through the engine, worker and cache as ONE Float32Array in the order
 * of SAM2_FEATURES, so every layer that passes "an embedding" around carries them unchanged.
 */
import * as ort from 'onnxruntime-node';
import type { SegmentPrompt } from './engine-api.ts';

export const SAM2_FEATURES = [
  { name: 'image_embed', shape: [1, 256, 64, 64] },
  { name: 'high_res_feats_0', shape: [1, 32, 256, 256] },
  { name: 'high_res_feats_1', shape: [1, 64, 128, 128] },
] as const;

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
/** Values in the concatenated feature array (4,194,304: 16 MB float32, 8 MB as fp16). */
export const SAM2_FEATURES_LENGTH = SAM2_FEATURES.reduce((n, f) => n + sizeOf(f.shape), 0);

const LOW = 256;
const FRAME = 1024;
/** build_sam2's dynamic_multimask_stability_delta / _thresh */
const STABILITY_DELTA = 0.05;
const STABILITY_THRESH = 0.98;

/** The encoder's three outputs, checked and concatenated in SAM2_FEATURES order. */
export function concatSam2Features(out: Record<string, ort.Tensor>, file: string): Float32Array {
  const all = new Float32Array(SAM2_FEATURES_LENGTH);
  let offset = 0;
  for (const f of SAM2_FEATURES) {
    const t = out[f.name];
    if (!t) throw new Error(`${file}: encoder has no output "${f.name}" (not a SAM 2.1 encoder)`);
    if (t.dims.length !== f.shape.length || t.dims.some((d, i) => d !== f.shape[i])) throw new Error(`${file}: encoder output ${f.name} has shape [${t.dims.join(',')}], expected [${f.shape.join(',')}]`);
    all.set(t.data as Float32Array, offset);
    offset += sizeOf(f.shape);
  }
  return all;
}

/** Views of the three maps inside a concatenated feature array. */
export function splitSam2Features(features: Float32Array): Record<(typeof SAM2_FEATURES)[number]['name'], Float32Array> {
  if (features.length !== SAM2_FEATURES_LENGTH) throw new Error(`SAM 2.1 features have ${features.length} values, expected ${SAM2_FEATURES_LENGTH} (image_embed + high_res_feats_0 + high_res_feats_1)`);
  const out: Record<string, Float32Array> = {};
  let offset = 0;
  for (const f of SAM2_FEATURES) {
    const n = sizeOf(f.shape);
    out[f.name] = features.subarray(offset, offset + n);
    offset += n;
  }
  return out as Record<(typeof SAM2_FEATURES)[number]['name'], Float32Array>;
}

/**
 * Decoder feeds as SAM2ImagePredictor._predict builds them: coordinates normalised by the
 * original W, H and scaled to 1024 (no aspect handling: the image was stretched), box corners
 * first (labels 2, 3), then the clicks. No padding point: the graph appends it.
 */
export function sam2DecoderFeeds(features: Float32Array, prompt: SegmentPrompt, width: number, height: number): Record<string, ort.Tensor> {
  const sx = FRAME / width;
  const sy = FRAME / height;
  const coords: number[] = [];
  const labels: number[] = [];
  if (prompt.box) {
    const [x0, y0, x1, y1] = prompt.box;
    coords.push(x0 * sx, y0 * sy, x1 * sx, y1 * sy);
    labels.push(2, 3);
  }
  for (const p of prompt.points) { coords.push(p.x * sx, p.y * sy); labels.push(p.label); }
  const n = labels.length;
  const maps = splitSam2Features(features);
  const feeds: Record<string, ort.Tensor> = {};
  for (const f of SAM2_FEATURES) feeds[f.name] = new ort.Tensor('float32', maps[f.name], [...f.shape]);
  return {
    ...feeds,
    point_coords: new ort.Tensor('float32', Float32Array.from(coords), [1, n, 2]),
    point_labels: new ort.Tensor('float32', Float32Array.from(labels), [1, n]),
    mask_input: new ort.Tensor('float32', prompt.maskInput ?? new Float32Array(LOW * LOW), [1, 1, LOW, LOW]),
    has_mask_input: new ort.Tensor('float32', Float32Array.of(prompt.maskInput ? 1 : 0), [1]),
    orig_im_size: new ort.Tensor('float32', Float32Array.of(height, width), [2]),
  };
}

/** MaskDecoder._get_stability_scores for one 256x256 logit plane. */
export function stabilityScore(logits: Float32Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > STABILITY_DELTA) inter++;
    if (v > -STABILITY_DELTA) union++;
  }
  return union > 0 ? inter / union : 1;
}

/**
 * The token SAM2ImagePredictor.predict(multimask_output=False) returns
 * (MaskDecoder._dynamic_multimask_via_stability): token 0 when its low-res logits are stable,
 * else the multimask token (1..3) with the highest predicted IoU.
 */
export function sam2BestMaskIndex(lowResMasks: Float32Array, iou: ArrayLike<number>): number {
  if (stabilityScore(lowResMasks.subarray(0, LOW * LOW)) >= STABILITY_THRESH) return 0;
  let best = 1;
  for (let k = 2; k < iou.length; k++) if (iou[k]! > iou[best]!) best = k;
  return best;
}

