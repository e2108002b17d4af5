/** `embed` and `segment`: one image through the engine, results as .npy/.png/.json files. */
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { all, CliError, noPositional, numberList, optional, parseArgs, required, type CommandGroup } from './args.ts';
import { checkOutFile, checkOutFolder, withAtomicOutDir } from './output.ts';
import { createEngine, type Engine } from '../sam/engine.ts';
import { readNpy, writeNpy } from '../sam/npy.ts';
import type { PointPrompt, SegmentPrompt } from '../sam/engine-api.ts';
import { SAM2_FEATURES, splitSam2Features } from '../sam/sam2-inference.ts';

/**
 * Where `embed` writes each array: SAM's embedding to --out; for SAM 2.1, image_embed to --out
 * and the high-res maps beside it as `<out stem>.high_res_feats_0.npy` / `_1.npy`.
 */
function embedOutputs(out: string, family: 'sam' | 'sam2.1'): { name: string; path: string }[] {
  if (family === 'sam') return [{ name: 'image_embeddings', path: out }];
  const stem = out.replace(/\.npy$/i, '');
  return SAM2_FEATURES.map((f, i) => ({ name: f.name, path: i === 0 ? out : `${stem}.${f.name}.npy` }));
}

/** A worker-thread engine for one command (threads from PTQ4SAM_THREADS, default: onnxruntime's). */
export async function withEngine<T>(work: (engine: Engine) => Promise<T>): Promise<T> {
  const threads = process.env.PTQ4SAM_THREADS ? Number(process.env.PTQ4SAM_THREADS) : 0;
  const engine = await createEngine({ threads });
  try {
    return await work(engine);
  } finally {
    await engine.dispose();
  }
}

function checkImage(path: string): void {
  if (!existsSync(path)) throw new CliError(`${path}: image file not found`);
}

export const embedCommand: CommandGroup = async (argv) => {
  const args = parseArgs(argv, ['model', 'image', 'out']);
  noPositional(args, 'embed');
  const image = required(args, 'image');
  const out = required(args, 'out');
  checkImage(image);
  checkOutFolder(out);
  checkOutFile(out);
  await withEngine(async (engine) => {
    const model = await engine.loadModel(required(args, 'model'));
    const targets = embedOutputs(out, model.info.family);
    for (const t of targets) checkOutFile(out, t.path);
    const { embedding } = await engine.encodeWithEmbedding(model, image);
    const arrays = model.info.family === 'sam2.1'
      ? SAM2_FEATURES.map((f) => ({ shape: [...f.shape], data: splitSam2Features(embedding)[f.name] }))
      : [{ shape: [1, 256, 64, 64], data: embedding }];
    // every array goes to a temporary name first: a failure leaves no partial set behind
    const tmps = targets.map((t) => `${t.path}.tmp-${process.pid}`);
    try {
      arrays.forEach((a, i) => writeNpy(tmps[i]!, 'float32', a.shape, a.data));
      tmps.forEach((t, i) => renameSync(t, targets[i]!.path));
    } finally {
      for (const t of tmps) rmSync(t, { force: true });
    }
  });
};

/** Parses the prompt flags of `segment` and `project annotate`. */
export function parsePrompt(points: string[], box: string | undefined): SegmentPrompt {
  const parsed: PointPrompt[] = points.map((text) => {
    const [x, y, l] = numberList(text, '--point', 3) as [number, number, number];
    if (l !== 0 && l !== 1) throw new CliError(`--point ${text}: label must be 1 (positive) or 0 (negative)`);
    return { x, y, label: l };
  });
  const prompt: SegmentPrompt = { points: parsed };
  if (box !== undefined) prompt.box = numberList(box, '--box', 4) as [number, number, number, number];
  if (parsed.length === 0 && !prompt.box) throw new CliError('empty prompt: give at least one --point X,Y,L or a --box X0,Y0,X1,Y1');
  return prompt;
}

/**
 * Reads --mask-input: the decoder's `mask_input`, float32 [1,1,256,256] exactly (the shape README
 * documents; another shape of the same size is not the same plane). A NaN or infinite logit
 * would run through the decoder into every output, so those are refused here, naming the file.
 */
function readMaskInput(path: string): Float32Array {
  if (!existsSync(path)) throw new CliError(`${path}: --mask-input file not found`);
  if (!statSync(path).isFile()) throw new CliError(`${path}: --mask-input is not a file`);
  const a = readNpy(path);
  const ok = a.dtype === 'float32' && a.shape.length === 4 && [1, 1, 256, 256].every((d, i) => a.shape[i] === d);
  if (!ok) throw new CliError(`${path}: --mask-input must be a float32 [1,1,256,256] array, got ${a.dtype} [${a.shape.join(',')}]`);
  const data = a.data as Float32Array;
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new CliError(`${path}: --mask-input must hold finite numbers, found ${data[bad]} at [0,0,${Math.floor(bad / 256)},${bad % 256}]`);
  return data;
}

export const segmentCommand: CommandGroup = async (argv) => {
  const args = parseArgs(argv, ['model', 'image', 'point', 'box', 'mask-input', 'out']);
  noPositional(args, 'segment');
  const image = required(args, 'image');
  const modelDir = required(args, 'model');
  checkImage(image);
  const prompt = parsePrompt(all(args, 'point'), optional(args, 'box'));
  const maskInputPath = optional(args, 'mask-input');
  if (maskInputPath) prompt.maskInput = readMaskInput(maskInputPath);
  await withAtomicOutDir(required(args, 'out'), (tmp) => withEngine(async (engine) => {
    const model = await engine.loadModel(modelDir);
    const r = await engine.segment(model, image, prompt);
    const k = r.masks.length;
    const stacked = new Uint8Array(k * r.width * r.height);
    r.masks.forEach((m, i) => stacked.set(m, i * m.length));
    writeNpy(join(tmp, 'masks.npy'), 'uint8', [k, r.height, r.width], stacked);
    writeNpy(join(tmp, 'low_res_masks.npy'), 'float32', [1, k, 256, 256], r.lowResMasks);
    const names: string[] = [];
    for (let i = 0; i < k; i++) {
      const png = Buffer.from(r.masks[i]!.map((v) => v * 255));
      const name = `mask-${i}.png`;
      await sharp(png, { raw: { width: r.width, height: r.height, channels: 1 } }).png().toFile(join(tmp, name));
      names.push(name);
    }
    const result = {
      width: r.width, height: r.height, iou_predictions: r.iouPredictions, best: r.best, masks: names,
      ...(r.objectScore !== undefined ? { object_score: r.objectScore } : {}),
    };
    writeFileSync(join(tmp, 'result.json'), `${JSON.stringify(result)}\n`);
  }));
};
