/**
 * The image encoder alone, full-depth synthetic ViT-B, fp32 and its PTQ4SAM w8a8 copy (both from
 * the bench cache), each run the engine's way (global attentions a chunk of query rows at a
 * time, attention-scan.ts) and as before (encoder.onnx as it is: today's path), the four
 * alternating run by run in one process:
 *   npm run bench -- encoder [--runs N] [--threads N]
 * Prints median wall ms after one warm-up, the new/old ratio per precision, the fp32 / w8a8
 * speed-up each way, and the session load time.
 * Set MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864.
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeImage } from '../main/sam/image/index.ts';
import { loadSam, releaseSam, runEncoder, type LoadedSam } from '../main/sam/inference.ts';
import { cachedVitB, cachedW8a8 } from './synth-cache.ts';
import { arg, median } from './stats.ts';

const REPO = join(import.meta.dirname, '..');

export async function main(args: string[]): Promise<void> {
  const runs = arg(args, 'runs', 5);
  const threads = arg(args, 'threads', 0);
  const fp32 = await cachedVitB();
  // the calibration images, if the w8a8 copy is not cached yet: the sample project's photos
  const w8a8 = await cachedW8a8(fp32, join(REPO, 'resources/samples'), 4);
  const img = await decodeImage(join(REPO, 'tests/fixtures/sam-tiny/landscape.png'));
  const variants: { key: string; dir: string; scan: boolean }[] = [
    { key: 'fp32, whole maps (today\'s path)', dir: fp32, scan: false },
    { key: 'fp32, chunked maps', dir: fp32, scan: true },
    { key: 'w8a8, whole maps (today\'s path)', dir: w8a8, scan: false },
    { key: 'w8a8, chunked maps', dir: w8a8, scan: true },
  ];
  const loaded: LoadedSam[] = [];
  const loadMs: number[] = [];
  for (const v of variants) {
    const t0 = performance.now();
    loaded.push(await loadSam(v.dir, { threads, scanAttention: v.scan }));
    loadMs.push(performance.now() - t0);
  }
  const times: number[][] = variants.map(() => []);
  for (let r = 0; r < runs + 1; r++) {
    for (const [i, l] of loaded.entries()) {
      const t0 = performance.now();
      await runEncoder(l, img);
      if (r > 0) times[i]!.push(performance.now() - t0);
    }
  }
  for (const l of loaded) await releaseSam(l);
  const ms = times.map(median);
  process.stdout.write(`\nencoder, full-depth synthetic ViT-B, 1024x1024 input; ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, threads ${threads || 'default'}; medians of ${runs} after a warm-up, alternating\n\n`);
  process.stdout.write('| encoder | ms | now / today\'s path | fp32 / w8a8 | session load ms |\n|---|---:|---:|---:|---:|\n');
  for (const [i, v] of variants.entries()) {
    const same = i % 2 === 1 ? `${(ms[i]! / ms[i - 1]!).toFixed(2)}` : '-';
    const speedup = i >= 2 ? `${(ms[i - 2]! / ms[i]!).toFixed(2)}x` : '-';
    process.stdout.write(`| ${v.key} | ${ms[i]!.toFixed(0)} | ${same} | ${speedup} | ${loadMs[i]!.toFixed(0)} |\n`);
  }
  process.stdout.write(`\nload average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
