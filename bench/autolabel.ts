/**
 * Automatic labelling at dataset scale, fp32 against PTQ4SAM w8a8 in the same run:
 *   npm run bench -- autolabel [--images N] [--boxes N] [--depth N] [--threads N] [--points-per-side N] [--calib-count N] [--skip-sam2]
 * 1. Boxes to masks: a project of N synthetic 1024x768 images (default 20) with --boxes boxes each
 *    (default 10) goes through `autolabelProject` (encode once per image, boxes decoded in one
 *    engine call, one transaction per image); images per minute and masks per second. The
 *    embedding cache starts empty, so every image is encoded.
 * 2. Images alone: the encoder (median of three images) against decoding --boxes boxes of one
 *    (median of three after a warm-up; target: decoding < 10% of the encoder), and the same
 *    boxes through `segment` one by one (the same cut decoder, all four candidates upsampled to
 *    the image size and sent back).
 * 3. Segment everything on one image, once: encoder, decoding and filtering times
 *    (--points-per-side, default 32: 1024 points).
 * The models: a synthetic ViT-B (random weights of the official shapes; --depth fewer blocks for a
 * quick check) and SAM 2.1 Hiera-T, the wizard's default (--skip-sam2 leaves it out), each beside
 * its w8a8 PTQ4SAM quantization, all cached in the temp folder between runs.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createProject, openProject } from '../main/project/index.ts';
import { createEngine } from '../main/sam/engine.ts';
import { mulberry32 } from '../main/sam/synth.ts';
import { autolabelProject } from '../main/services/autolabel.ts';
import { arg, median } from './stats.ts';
import { BENCH_CACHE, cachedSam2, cachedVitB, cachedW8a8 } from './synth-cache.ts';

/** One warm-up run, then the median of `n` runs of `f` (each returns its own milliseconds). */
async function medianOf(n: number, f: () => Promise<number>): Promise<number> {
  await f();
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push(await f());
  return median(times);
}

/** 1024x768 images of coloured rectangles on a gradient, each different (so each is encoded). */
async function writeImages(dir: string, from: number, to: number): Promise<string[]> {
  const files: string[] = [];
  for (let n = from; n < to; n++) {
    const rand = mulberry32(n + 1);
    const width = 1024, height = 768;
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([(x * 255) / width, (y * 255) / height, 96], (y * width + x) * 3);
    for (let r = 0; r < 12; r++) {
      const x0 = Math.floor(rand() * 900), y0 = Math.floor(rand() * 650), w = 40 + Math.floor(rand() * 120), h = 40 + Math.floor(rand() * 110);
      const colour = [rand() * 255, rand() * 255, rand() * 255];
      for (let y = y0; y < Math.min(height, y0 + h); y++) for (let x = x0; x < Math.min(width, x0 + w); x++) data.set(colour, (y * width + x) * 3);
    }
    const file = join(dir, `synthetic-${String(n).padStart(3, '0')}.png`);
    await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(file);
    files.push(file);
  }
  return files;
}

/** A fresh project over the images, each with `boxes` box-only annotations. */
async function boxProject(db: string, files: string[], boxes: number): Promise<void> {
  const p = createProject(db);
  try {
    await p.addImages(files);
    const label = p.addLabel({ name: 'object' });
    for (const image of p.listImages({ limit: files.length }).items) {
      const rand = mulberry32(1000 + image.id);
      p.addAnnotations(image.id, Array.from({ length: boxes }, () => {
        const w = 60 + rand() * 300, h = 60 + rand() * 250;
        return { labelId: label.id, rle: null, bbox: [rand() * (1024 - w), rand() * (768 - h), w, h] as [number, number, number, number] };
      }));
    }
  } finally {
    p.close();
  }
}

/**
 * The models compared, fp32 beside its w8a8 copy: synthetic ViT-B, then (unless --skip-sam2)
 * SAM 2.1 Hiera-T, the wizard's default; all built and quantized once into the bench cache.
 */
async function models(depth: number | undefined, calibDir: string, calibCount: number, withSam2: boolean): Promise<{ family: string; variant: string; dir: string }[]> {
  const fp32 = await cachedVitB(depth);
  const vitB = `ViT-B${depth === undefined ? '' : ` depth ${depth}`}`;
  const list = [{ family: vitB, variant: 'fp32', dir: fp32 }, { family: vitB, variant: 'w8a8', dir: await cachedW8a8(fp32, calibDir, calibCount) }];
  if (withSam2) {
    const hieraT = await cachedSam2('hiera_t');
    list.push({ family: 'SAM 2.1 Hiera-T', variant: 'fp32', dir: hieraT }, { family: 'SAM 2.1 Hiera-T', variant: 'w8a8', dir: await cachedW8a8(hieraT, calibDir, calibCount) });
  }
  return list;
}

export async function main(args: string[]): Promise<void> {
  const imageCount = arg(args, 'images', 20);
  const boxes = arg(args, 'boxes', 10);
  const depthArg = arg(args, 'depth', 0);
  const depth = depthArg > 0 ? depthArg : undefined;
  const threads = arg(args, 'threads', 0);
  const pointsPerSide = arg(args, 'points-per-side', 32);
  const calibCount = arg(args, 'calib-count', 4);
  mkdirSync(BENCH_CACHE, { recursive: true });
  const root = mkdtempSync(join(tmpdir(), 'bench-autolabel-'));
  try {
    const imagesDir = join(root, 'images');
    mkdirSync(imagesDir);
    const files = await writeImages(imagesDir, 0, imageCount);
    const list = await models(depth, imagesDir, Math.min(calibCount, imageCount), !args.includes('--skip-sam2'));
    const rows: string[][] = [];
    const summary: { family: string; variant: string; imagesPerMinute: number; decodeShare: number }[] = [];
    for (const { family, variant: precision, dir } of list) {
      const variant = `${family} ${precision}`;
      const engine = await createEngine({ threads });
      try {
        const model = await engine.loadModel(dir);
        const db = join(root, `${variant}.db`);
        await boxProject(db, files, boxes);
        const project = openProject(db);
        let result;
        try {
          result = await autolabelProject(project, engine, model, {
            mode: 'boxes',
            onProgress: ({ done, total }) => process.stderr.write(`${variant}: ${done}/${total} images\r`),
          });
        } finally {
          project.close();
        }
        process.stderr.write('\n');
        // three more images alone: the encoder (median of the three), then on the first, decoding
        // its boxes (one warm-up, median of three) against the same boxes through `segment`, with
        // all four candidates upsampled to the image size
        const extras = await writeImages(root, imageCount, imageCount + 3);
        const encoded = [];
        for (const file of extras) encoded.push(await engine.encode(model, file));
        const encoderMs = median(encoded.map((e) => e.encoderMs));
        const target = { file: extras[0]!, imageHash: encoded[0]!.imageHash };
        const boxList = Array.from({ length: boxes }, (_, i) => [50 + i * 20, 40 + i * 15, 400 + i * 20, 300 + i * 15] as [number, number, number, number]);
        const decodeMs = await medianOf(3, async () => (await engine.decodeBoxes(model, target.file, boxList, { imageHash: target.imageHash })).decoderMs);
        const segmentMs = await medianOf(3, async () => {
          const t0 = performance.now();
          for (const box of boxList) await engine.segment(model, target.file, { points: [], box }, { imageHash: target.imageHash });
          return performance.now() - t0;
        });
        process.stderr.write(`${variant}: segment everything (${pointsPerSide}x${pointsPerSide} points)\n`);
        const everything = await engine.segmentEverything(model, target.file, { pointsPerSide }, { imageHash: target.imageHash });
        const pct = (ms: number) => `${((100 * ms) / encoderMs).toFixed(1)}%`;
        rows.push([
          variant,
          (result.images / (result.seconds / 60)).toFixed(2),
          (result.created / result.seconds).toFixed(2),
          `${(encoderMs / 1000).toFixed(2)} s`,
          `${decodeMs.toFixed(0)} ms (${pct(decodeMs)})`,
          `${segmentMs.toFixed(0)} ms (${pct(segmentMs)})`,
          `${(encoderMs / 1000).toFixed(2)} s / ${(everything.decodeMs / 1000).toFixed(2)} s / ${everything.filterMs.toFixed(0)} ms`,
          String(everything.masks.length),
        ]);
        summary.push({ family, variant, imagesPerMinute: result.images / (result.seconds / 60), decodeShare: decodeMs / encoderMs });
      } finally {
        await engine.dispose();
      }
    }
    const header = ['model', 'images/min (boxes to masks)', 'masks/s', 'encoder, one image (median of 3)', `decode ${boxes} boxes (median of 3; % of encoder)`,
      `the same ${boxes} boxes through segment (4 full-size masks each)`, `everything, ${pointsPerSide}x${pointsPerSide} points: encoder / decoding / filtering`, 'everything: masks'];
    process.stdout.write(`\nautolabel: ${imageCount} images of 1024x768, ${boxes} boxes each, synthetic models, threads ${threads || 'default'}, w8a8 calibrated on ${Math.min(calibCount, imageCount)} images\n\n`);
    process.stdout.write(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n`);
    for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
    process.stdout.write('\n');
    for (const s of summary) process.stdout.write(`${s.variant}: decoding ${boxes} boxes = ${(100 * s.decodeShare).toFixed(1)}% of the encoder (target < 10%: ${s.decodeShare < 0.1 ? 'met' : 'not met'})\n`);
    for (const family of new Set(summary.map((s) => s.family))) {
      const [fp32, w8a8] = summary.filter((s) => s.family === family);
      if (!fp32 || !w8a8) continue;
      const ratio = w8a8.imagesPerMinute / fp32.imagesPerMinute;
      process.stdout.write(`${family}: w8a8 / fp32 images per minute: ${ratio.toFixed(2)}x (target >= 2x: ${ratio >= 2 ? 'met' : 'not met'})\n`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
