/** Synthetic full-size models the benchmark scripts share, built once into the temp folder. */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantizeModelDir } from '../main/ptq4sam/pipeline.ts';
import { synthModel, synthSam2Model } from '../main/sam/model-dir.ts';

/** Where the benchmarks keep the models they build (reused between runs and scripts). */
export const BENCH_CACHE = join(tmpdir(), 'ptq4sam-bench');

/** The synthetic ViT-B (full depth, or `depth` blocks), built on first use and kept in BENCH_CACHE. */
export async function cachedVitB(depth?: number): Promise<string> {
  const dir = join(BENCH_CACHE, depth === undefined ? 'synth-vit_b' : `synth-vit_b-depth${depth}`);
  if (!existsSync(join(dir, 'model.json'))) {
    process.stderr.write(`building a synthetic ViT-B${depth === undefined ? '' : ` of depth ${depth}`} (once; cached in ${dir})\n`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    await synthModel('vit_b', dir, { seed: 0, ...(depth === undefined ? {} : { depth }) });
  }
  return dir;
}

/**
 * A full-size synthetic SAM 2.1 model of `arch` (random weights: timings and sizes depend on the
 * shapes only), built on first use and kept in BENCH_CACHE.
 */
export async function cachedSam2(arch: Parameters<typeof synthSam2Model>[0]): Promise<string> {
  const dir = join(BENCH_CACHE, `synth-sam2.1-${arch}`);
  if (!existsSync(join(dir, 'model.json'))) {
    process.stderr.write(`building a full-size synthetic SAM 2.1 ${arch} (once; cached in ${dir})\n`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    await synthSam2Model(arch, dir, { seed: 0 });
  }
  return dir;
}

/**
 * The PTQ4SAM w8a8 copy of a cached model, `<dir>-w8a8`, quantized on first use with `calibCount`
 * images of `calibDir` and kept.
 */
export async function cachedW8a8(fp32: string, calibDir: string, calibCount: number): Promise<string> {
  const dir = `${fp32}-w8a8`;
  if (!existsSync(join(dir, 'model.json'))) {
    process.stderr.write(`quantizing ${fp32} to w8a8 with PTQ4SAM on ${calibCount} images (once; cached in ${dir})\n`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    await quantizeModelDir({ modelDir: fp32, calibDir, outDir: dir, bits: { w: 8, a: 8 }, method: 'ptq4sam', calibCount, measureImages: 1 });
  }
  return dir;
}
