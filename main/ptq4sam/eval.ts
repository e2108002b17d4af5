/**
 * Fidelity and speed of a model against a reference model on the same images and prompts:
 * IoU of each model's own `best` mask (the single-mask export rule) per prompt, the relative
 * Frobenius error of the embeddings, and median encoder / decoder latency of both, measured
 * alternately in the same run.
 */
import { basename } from 'node:path';
import { loadSam, runDecoder, runEncoder, type LoadedSam } from '../sam/inference.ts';
import { decodeImage, type RgbImage } from '../sam/image/index.ts';
import { automaticPrompts, toSegmentPrompt, type Prompt } from './prompts.ts';
import type { EvalResult } from '../../preload/contract/types.ts';

// eval.json's shape is part of the app's contract (the report view reads it).
export type { EvalResult };

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
}

export async function evaluate(modelDir: string, referenceDir: string, images: string[], opts: EvalOptions = {}): Promise<EvalResult> {
  const model = await loadSam(modelDir);
  const reference = await loadSam(referenceDir);
  try {
    return await evaluateLoaded(model, reference, images.slice(0, opts.maxImages ?? images.length), opts);
  } finally {
    for (const l of [model, reference]) for (const s of [l.encoder, l.decoder, l.decoderCore]) await s.release();
  }
}

async function timedEncode(l: LoadedSam, img: RgbImage, times: number[]): Promise<Float32Array> {
  const t0 = performance.now();
  const e = await runEncoder(l, img);
  times.push(performance.now() - t0);
  return Float32Array.from(e);
}

async function evaluateLoaded(model: LoadedSam, reference: LoadedSam, images: string[], opts: EvalOptions): Promise<EvalResult> {
  const ious: number[] = [];
  const relErrors: number[] = [];
  const t = { me: [] as number[], md: [] as number[], re: [] as number[], rd: [] as number[] };
  for (const path of images) {
    const img = await decodeImage(path);
    const prompts = opts.prompts ? opts.prompts[basename(path)] ?? [] : automaticPrompts(img.width, img.height);
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
      const a = await runDecoder(model, em, sp, img.width, img.height);
      const b = await runDecoder(reference, er, sp, img.width, img.height);
      t.md.push(a.decoderMs);
      t.rd.push(b.decoderMs);
      ious.push(maskIou(a.masks[a.best]!, b.masks[b.best]!));
    }
  }
  return {
    prompts: ious.length,
    mean_iou: ious.length ? ious.reduce((a, b) => a + b, 0) / ious.length : 1,
    min_iou: ious.length ? Math.min(...ious) : 1,
    embedding_rel_error: relErrors.reduce((a, b) => a + b, 0) / Math.max(1, relErrors.length),
    latency_ms: { model: { encoder: median(t.me), decoder: median(t.md) }, reference: { encoder: median(t.re), decoder: median(t.rd) } },
  };
}
