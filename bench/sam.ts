/**
 * The fp32 SAM baselines the quantizer is measured against, on this machine, in one run:
 *   npm run bench -- sam [--runs N] [--threads T]
 * - full-depth synthetic ViT-B encoder: latency (median after warm-up) and peak memory;
 * - decoder per prompt (one click): the decoder proper (to the 256x256 low-res masks), the
 *   graph with postprocessing to a 1024x768 original, and the app's path (decoder proper +
 *   postprocessing inside each mask's bounding box);
 * - full-size synthetic SAM 2.1 Hiera-T and Hiera-S beside ViT-B: encoder fp32, decoder proper
 *   and the app's path for one click (issue 14: the CPU default is the fastest that holds up);
 * - the tiny model's end-to-end `segment` command (process start to files written).
 * Set MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_/MALLOC_TOP_PAD_ as the README says.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importModel, synthModel, synthSam2Model } from '../main/sam/model-dir.ts';
import { sam2DecoderFeeds } from '../main/sam/sam2-inference.ts';
import { decoderFeeds, loadSam, runDecoder, runEncoder, runPredict } from '../main/sam/inference.ts';
import type { RgbImage } from '../main/sam/image/index.ts';
import { median } from './stats.ts';

const REPO = join(import.meta.dirname, '..');

/** CPU milliseconds (all threads) of the last timeIt call's runs: steadier than wall time on a shared machine. */
let lastCpuMs: number[] = [];

async function timeIt(fn: () => Promise<unknown>, warmup: number, runs: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  lastCpuMs = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    lastCpuMs.push((c.user + c.system) / 1000);
  }
  return times;
}

const cpuNote = () => `CPU ${median(lastCpuMs).toFixed(0)} ms`;

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** A 1024x768 test image (smooth gradients and a disc) so the decoder sees a real size. */
function testImage(): RgbImage {
  const width = 1024, height = 768;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const inside = (x - 500) ** 2 + (y - 380) ** 2 < 200 ** 2;
    const o = (y * width + x) * 3;
    data[o] = inside ? 220 : (x * 255) / width;
    data[o + 1] = inside ? 40 : (y * 255) / height;
    data[o + 2] = 128;
  }
  return { width, height, data, exifOrientation: 1 };
}

export async function main(args: string[]): Promise<void> {
  const runs = arg(args, 'runs', 3);
  const threads = arg(args, 'threads', 2);
  const cache = join(tmpdir(), 'ptq4sam-bench');
  mkdirSync(cache, { recursive: true });
  const vitB = join(cache, 'synth-vit_b');
  if (!existsSync(join(vitB, 'model.json'))) {
    process.stderr.write('building a full-depth synthetic ViT-B (once; cached in the temp folder)\n');
    rmSync(vitB, { recursive: true, force: true });
    mkdirSync(vitB);
    await synthModel('vit_b', vitB, { seed: 0 });
  }
  const rows: [string, string, string][] = [];
  const sam = await loadSam(vitB, { threads });
  const img = testImage();
  const rss0 = process.resourceUsage().maxRSS;
  const enc = await timeIt(() => runEncoder(sam, img), 1, runs);
  const peakMiB = process.resourceUsage().maxRSS / 1024;
  rows.push(['ViT-B encoder fp32 (synthetic, full depth)', `${(median(enc) / 1000).toFixed(2)} s`, `median of ${runs} after 1 warm-up; ${threads} threads; ${cpuNote()}`]);
  rows.push(['ViT-B encoder peak memory (process RSS)', `${peakMiB.toFixed(0)} MiB`, `RSS before encoding ${(rss0 / 1024).toFixed(0)} MiB`]);

  const embedding = await runEncoder(sam, img);
  const click = { points: [{ x: 500, y: 380, label: 1 as const }] };
  const proper = await timeIt(() => sam.decoderCore.run(decoderFeeds(embedding, click, img.width, img.height).feeds), 10, 50);
  rows.push(['decoder proper, one click (to 256x256 low-res masks)', `${median(proper).toFixed(1)} ms`, `median of 50 after 10 warm-up; ${cpuNote()}; target <= 15 ms`]);
  const full = await timeIt(() => runDecoder(sam, embedding, click, img.width, img.height), 10, 50);
  rows.push(['decoder + postprocessing to 1024x768 (graph, 4 masks)', `${median(full).toFixed(1)} ms`, `${cpuNote()}; target <= 50 ms; Meta's PyTorch: about 140 ms`]);
  const app = await timeIt(() => runPredict(sam, embedding, click, img.width, img.height), 10, 50);
  rows.push(['decoder + cropped postprocessing (the app\'s path)', `${median(app).toFixed(1)} ms`, `${cpuNote()}; masks cropped to their bounding boxes`]);

  for (const [arch, label] of [['hiera_t', 'SAM 2.1 Hiera-T'], ['hiera_s', 'SAM 2.1 Hiera-S']] as const) {
    const dir = join(cache, `synth-sam2.1-${arch}`);
    if (!existsSync(join(dir, 'model.json'))) {
      process.stderr.write(`building a full-size synthetic ${label} (once; cached in the temp folder)\n`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      await synthSam2Model(arch, dir, { seed: 0 });
    }
    const m = await loadSam(dir, { threads });
    const e = await timeIt(() => runEncoder(m, img), 1, runs);
    rows.push([`${label} encoder fp32 (synthetic, full size)`, `${(median(e) / 1000).toFixed(2)} s`, `median of ${runs} after 1 warm-up; ${threads} threads; ${cpuNote()}; ViT-B above in the same run`]);
    const features = await runEncoder(m, img);
    const d = await timeIt(() => m.decoderCore.run(sam2DecoderFeeds(features, click, img.width, img.height)), 10, 50);
    rows.push([`${label} decoder proper, one click`, `${median(d).toFixed(1)} ms`, `median of 50 after 10 warm-up; ${cpuNote()}`]);
    const a = await timeIt(() => runPredict(m, features, click, img.width, img.height), 10, 50);
    rows.push([`${label} click to mask (the app's path)`, `${median(a).toFixed(1)} ms`, cpuNote()]);
    for (const sess of [m.encoder, m.decoder, m.decoderCore]) await sess.release();
  }

  const tinyRoot = mkdtempSync(join(tmpdir(), 'bench-tiny-'));
  const tiny = join(tinyRoot, 'model');
  mkdirSync(tiny);
  const fixtures = join(REPO, 'tests/fixtures/sam-tiny');
  await importModel(join(fixtures, 'sam_tiny.pth'), tiny, { configPath: join(fixtures, 'config.json') });
  const segTimes: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const out = join(tinyRoot, `seg${i}`);
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'main/cli/index.ts'), 'segment', '--model', tiny, '--image', join(fixtures, 'landscape.png'), '--point', '100,80,1', '--out', out], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`segment failed: ${r.stderr}`);
    if (i > 0) segTimes.push(performance.now() - t0);
  }
  rmSync(tinyRoot, { recursive: true, force: true });
  rows.push(['sam-tiny `segment` end to end (320x240 PNG)', `${(median(segTimes) / 1000).toFixed(2)} s`, 'process start, load, encode, decode, write files']);

  rows.push(['machine load (1-minute average) at the end', (await import('node:os')).loadavg()[0]!.toFixed(2), 'other processes share the 2 cores above 0']);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const lines = [`| ${'measure'.padEnd(w0)} | ${'value'.padEnd(w1)} | notes |`, `|${'-'.repeat(w0 + 2)}|${'-'.repeat(w1 + 2)}|---|`, ...rows.map((r) => `| ${r[0].padEnd(w0)} | ${r[1].padEnd(w1)} | ${r[2]} |`)];
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(join(REPO, 'bench/results'), { recursive: true });
  writeFileSync(join(REPO, 'bench/results/sam.json'), JSON.stringify({ rows, encoderMs: enc, decoderProperMs: proper, decoderFullMs: full, appPathMs: app, segmentMs: segTimes }, null, 2));
}
