/**
 * Fidelity and speed of a model against a reference model on the same images and prompts:
 * IoU of each model's own `best` mask (the single-mask export rule) per prompt, overall and per
 * prompt kind (points, boxes), the relative Frobenius error of the embeddings, median encoder /
 * decoder latency of both (the decoder's: a prompt's chosen mask at the image size, as `bestMask`
 * makes it), measured alternately in the same run, and whether the images were
 * held out from the model's calibration (by content sha256, against its report.json).
 * With ground-truth masks both models are also prompted per object, with its box and with one
 * click at its most interior pixel, and scored against the masks: mean IoU and COCO mask AP.
 */
import { fileSha256 } from '../base/index.ts';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { mostInteriorPixel, maskBbox, type BinaryMask } from '../masks/index.ts';
import { loadSam, releaseSam, runBestDecoder, runEncoder, type LoadedSam } from '../sam/inference.ts';
import type { SegmentPrompt } from '../sam/engine-api.ts';
import { decodeImage, type RgbImage } from '../sam/image/index.ts';
import { maskAp, type ApImage } from './mask-ap.ts';
import { toSegmentPrompt, type Prompt } from './prompts.ts';

import type { EvalResult, GtModelScores, GtScores, KindResult } from '../../preload/contract/types.ts';

// eval.json's shape is part of the app's contract (the report view reads it).
export type { EvalResult, GtModelScores, GtScores, KindResult };

/**
 * The default prompt set, per image, in fractions of its size: single clicks, clicks with
 * negatives (2 and 3 points: the decoder's single-mask output), and boxes.
 */
export function evaluationPrompts(width: number, height: number): Prompt[] {
  const at = (fx: number, fy: number): [number, number] => [fx * width, fy * height];
  const box = (x0: number, y0: number, x1: number, y1: number): Prompt => ({ box: [x0 * width, y0 * height, x1 * width, y1 * height] });
  return [
    { points: [at(0.5, 0.5)], labels: [1] },
    { points: [at(0.25, 0.7)], labels: [1] },
    { points: [at(0.3, 0.35), at(0.7, 0.65)], labels: [1, 0] },
    { points: [at(0.7, 0.65), at(0.75, 0.7), at(0.3, 0.35)], labels: [1, 1, 0] },
    box(0.2, 0.2, 0.8, 0.75),
    box(0.55, 0.1, 0.95, 0.5),
    box(0.05, 0.5, 0.45, 0.95),
  ];
}

export type PromptKind = 'points' | 'boxes';
export function promptKind(p: Prompt): PromptKind {
  return p.box ? 'boxes' : 'points';
}

/**
 * The calibration images a model directory's report.json records (content sha256s): an empty
 * set for a model without a report (never calibrated: fp32, float16), null when the report does
 * not record them.
 */
export function calibrationImagesOf(modelDir: string): Set<string> | null {
  const path = join(modelDir, 'report.json');
  if (!existsSync(path)) return new Set();
  let report: { calibration?: { image_sha256?: unknown } };
  try {
    report = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: cannot read the quantization report (${(err as Error).message})`);
  }
  const recorded = report.calibration?.image_sha256;
  if (!Array.isArray(recorded)) return null;
  return new Set(recorded.filter((h): h is string => typeof h === 'string'));
}

/**
 * Which of `images` a model was calibrated on (by content, whatever their names), and whether
 * the images are held out: none of them, and the model's report says what it was calibrated on.
 */
export function calibrationOverlap(modelDir: string, images: string[]): { heldOut: boolean; overlap: string[] } {
  const calibration = calibrationImagesOf(modelDir);
  const overlap = calibration ? images.filter((p) => calibration.has(fileSha256(p))).map((p) => basename(p)) : [];
  return { heldOut: calibration !== null && overlap.length === 0, overlap };
}

/** Ground-truth object masks per image file name (the evaluated image's base name). */
export type GroundTruth = Map<string, BinaryMask[]>;

export function maskIou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    inter += x & y;
    union += x | y;
  }
  return union === 0 ? 1 : inter / union;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : 0;
}

export interface EvalOptions {
  /** prompts per image file name; default: the automatic set */
  prompts?: Record<string, Prompt[]>;
  maxImages?: number;
  /** extra encoder runs per image for timing (the first run is always measured too) */
  encoderRepeats?: number;
  gt?: GroundTruth;
}

export async function evaluate(modelDir: string, referenceDir: string, images: string[], opts: EvalOptions = {}): Promise<EvalResult> {
  const model = await loadSam(modelDir);
  const reference = await loadSam(referenceDir);
  try {
    return await evaluateLoaded(model, reference, images.slice(0, opts.maxImages ?? images.length), opts);
  } finally {
    for (const l of [model, reference]) await releaseSam(l);
  }
}

async function timedEncode(l: LoadedSam, img: RgbImage, times: number[]): Promise<Float32Array> {
  const t0 = performance.now();
  const e = await runEncoder(l, img);
  times.push(performance.now() - t0);
  return Float32Array.from(e);
}

/**
 * The prompt's chosen mask, `segment`'s bit for bit, with only that candidate upsampled to the
 * image size (on a 12-megapixel photo the whole graph's four full-size masks took most of the
 * measuring); `times` gets the call's milliseconds: the report's decoder latency.
 */
async function bestMask(l: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, img: RgbImage, times?: number[]): Promise<{ mask: Uint8Array; score: number }> {
  const t0 = performance.now();
  const { logits, score } = await runBestDecoder(l, embedding, prompt, img.width, img.height);
  const mask = new Uint8Array(logits.length);
  for (let i = 0; i < mask.length; i++) mask[i] = logits[i]! > 0 ? 1 : 0;
  times?.push(performance.now() - t0);
  return { mask, score };
}

function kindResult(ious: number[], nonempty: number[]): KindResult {
  const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : null);
  return {
    mean_iou: mean(ious),
    min_iou: ious.length ? Math.min(...ious) : null,
    n: ious.length,
    nonempty_reference: { mean_iou: mean(nonempty), n: nonempty.length },
  };
}

/** Per kind of GT prompt, what AP and mIoU need: each image's detections and each object's IoU with its own mask. */
interface GtTally { ap: ApImage[]; ownIou: number[] }
const newTally = (): Record<'boxes' | 'clicks', GtTally> => ({ boxes: { ap: [], ownIou: [] }, clicks: { ap: [], ownIou: [] } });

function gtScores(t: Record<'boxes' | 'clicks', GtTally>): GtModelScores {
  const scores = (k: GtTally): GtScores => ({
    miou: k.ownIou.reduce((a, b) => a + b, 0) / Math.max(1, k.ownIou.length),
    mask_ap: maskAp(k.ap) ?? 0,
  });
  return { boxes: scores(t.boxes), clicks: scores(t.clicks) };
}

/** The GT protocol's prompts for one object: its box (first/last column and row, inclusive) and its most interior pixel. */
export function gtPrompts(mask: BinaryMask): { boxes: Prompt; clicks: Prompt } | null {
  const click = mostInteriorPixel(mask);
  if (!click) return null;
  const [x, y, w, h] = maskBbox(mask);
  return { boxes: { box: [x, y, x + w - 1, y + h - 1] }, clicks: { points: [click], labels: [1] } };
}

async function scoreAgainstGt(
  models: { loaded: LoadedSam; embedding: Float32Array; tally: Record<'boxes' | 'clicks', GtTally> }[],
  masks: BinaryMask[], img: RgbImage, path: string,
): Promise<number> {
  const objects: { mask: BinaryMask; prompts: { boxes: Prompt; clicks: Prompt } }[] = [];
  for (const mask of masks) {
    if (mask.width !== img.width || mask.height !== img.height) throw new Error(`${path}: a ground-truth mask is ${mask.width}x${mask.height} but the image is ${img.width}x${img.height}`);
    const prompts = gtPrompts(mask);
    if (prompts) objects.push({ mask, prompts });
  }
  for (const { loaded, embedding, tally } of models) {
    for (const kind of ['boxes', 'clicks'] as const) {
      const image: ApImage = { scores: [], ious: [], gtCount: objects.length };
      for (const [g, object] of objects.entries()) {
        const { mask: predicted, score } = await bestMask(loaded, embedding, toSegmentPrompt(object.prompts[kind]), img);
        const ious = objects.map((o) => maskIou(predicted, o.mask.data));
        image.scores.push(score);
        image.ious.push(ious);
        tally[kind].ownIou.push(ious[g]!);
      }
      tally[kind].ap.push(image);
    }
  }
  return objects.length;
}

async function evaluateLoaded(model: LoadedSam, reference: LoadedSam, images: string[], opts: EvalOptions): Promise<EvalResult> {
  const ious: number[] = [];
  const byKind = { points: { all: [] as number[], nonempty: [] as number[] }, boxes: { all: [] as number[], nonempty: [] as number[] } };
  const relErrors: number[] = [];
  const t = { me: [] as number[], md: [] as number[], re: [] as number[], rd: [] as number[] };
  const { heldOut, overlap } = calibrationOverlap(model.dir, images);
  const gtTally = { model: newTally(), reference: newTally() };
  let gtImages = 0;
  let gtObjects = 0;
  for (const path of images) {
    const img = await decodeImage(path);
    const prompts = opts.prompts ? opts.prompts[basename(path)] ?? [] : evaluationPrompts(img.width, img.height);
    let em: Float32Array = new Float32Array(0);
    let er: Float32Array = new Float32Array(0);
    for (let r = 0; r <= (opts.encoderRepeats ?? 0); r++) {
      em = await timedEncode(model, img, t.me);
      er = await timedEncode(reference, img, t.re);
    }
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < er.length; i++) { diff += (em[i]! - er[i]!) ** 2; norm += er[i]! ** 2; }
    relErrors.push(Math.sqrt(diff) / Math.sqrt(norm));
    for (const p of prompts) {
      const sp = toSegmentPrompt(p);
      const a = (await bestMask(model, em, sp, img, t.md)).mask;
      const b = (await bestMask(reference, er, sp, img, t.rd)).mask;
      const iou = maskIou(a, b);
      ious.push(iou);
      const kind = byKind[promptKind(p)];
      kind.all.push(iou);
      if (b.includes(1)) kind.nonempty.push(iou);
    }
    const gtMasks = opts.gt?.get(basename(path));
    if (gtMasks) {
      gtObjects += await scoreAgainstGt([
        { loaded: model, embedding: em, tally: gtTally.model },
        { loaded: reference, embedding: er, tally: gtTally.reference },
      ], gtMasks, img, path);
      gtImages++;
    }
  }
  return {
    prompts: ious.length,
    mean_iou: ious.length ? ious.reduce((a, b) => a + b, 0) / ious.length : 1,
    min_iou: ious.length ? Math.min(...ious) : 1,
    by_kind: { points: kindResult(byKind.points.all, byKind.points.nonempty), boxes: kindResult(byKind.boxes.all, byKind.boxes.nonempty) },
    held_out: heldOut,
    calibration_overlap: overlap,
    embedding_rel_error: relErrors.reduce((a, b) => a + b, 0) / Math.max(1, relErrors.length),
    latency_ms: { model: { encoder: median(t.me), decoder: median(t.md) }, reference: { encoder: median(t.re), decoder: median(t.rd) } },
    ...(opts.gt ? { gt: { images: gtImages, objects: gtObjects, model: gtScores(gtTally.model), reference: gtScores(gtTally.reference) } } : {}),
  };
}
