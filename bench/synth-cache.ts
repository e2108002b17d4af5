/** Synthetic full-size models the benchmark scripts share, built once into the temp folder. */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthSam2Model } from '../main/sam/model-dir.ts';

/** Where the benchmarks keep the models they build (reused between runs and scripts). */
export const BENCH_CACHE = join(tmpdir(), 'ptq4sam-bench');

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
