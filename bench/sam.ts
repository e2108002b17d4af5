/**
 * The fp32 SAM baselines the quantizer is measured against, on this machine, in one run:
 *   npm run bench -- sam [--runs N] [--threads T] [--skip-encoder]
 * - full-depth synthetic ViT-B encoder: latency (median after warm-up) and peak memory;
 * - decoder per prompt (one click) at the real ViT-B decoder size (a depth-1 synthetic ViT-B:
 *   the decoder does not depend on the encoder's depth): the decoder proper (to the 256x256
 *   low-res masks), the graph with postprocessing to a 1024x768 original, and the app's path
 *   (decoder proper + postprocessing inside each mask's bounding box), each interactive path
 *   measured as it is now (split decoder, view postprocessing) and as it was (whole decoder,
 *   exact float32 postprocessing), alternating in the same run, with their ratio;
 * - full-size synthetic SAM 2.1 Hiera-T and Hiera-S beside ViT-B: encoder fp32, decoder proper
 *   and the app's path for one click, split against whole (the CPU default is the fastest that
 *   holds up);
 * - the tiny model's end-to-end `segment` command (process start to files written).
 * Set MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_/MALLOC_TOP_PAD_ as the README says.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importModel, synthModel } from '../main/sam/model-dir.ts';
import { BENCH_CACHE, cachedSam2 } from './synth-cache.ts';
import { sam2DecoderFeeds } from '../main/sam/sam2-inference.ts';
import { decoderFeeds, loadSam, runDecoder, runEncoder, runPredict, splitDecoderSessions, type LoadedSam } from '../main/sam/inference.ts';
import { maskCropFromLowRes } from '../main/sam/postprocess.ts';
import { viewMaskCrop } from '../main/sam/view-masks.ts';
import type { RgbImage } from '../main/sam/image/index.ts';
import { arg, median } from './stats.ts';

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

/**
 * Two variants alternating run by run (the machine's load drifts less between them than
 * between two blocks): wall-time medians, CPU-time medians, and the new / today ratio of each.
 */
async function timePair(now: () => Promise<unknown>, today: () => Promise<unknown>, warmup: number, runs: number): Promise<{ now: number; today: number; cpuNow: number; cpuToday: number; note: string }> {
  for (let i = 0; i < warmup; i++) { await now(); await today(); }
  const wall: [number[], number[]] = [[], []];
  const cpu: [number[], number[]] = [[], []];
  for (let i = 0; i < runs; i++) {
    for (const [k, fn] of [now, today].entries()) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await fn();
      wall[k]!.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[k]!.push((c.user + c.system) / 1000);
    }
  }
  const r = { now: median(wall[0]), today: median(wall[1]), cpuNow: median(cpu[0]), cpuToday: median(cpu[1]) };
  return { ...r, note: `today's path ${r.today.toFixed(1)} ms (CPU ${r.cpuToday.toFixed(0)} ms); now / today ${(r.now / r.today).toFixed(2)} wall, ${(r.cpuNow / r.cpuToday).toFixed(2)} CPU; now CPU ${r.cpuNow.toFixed(0)} ms` };
}

/** A synthetic ViT-B model directory, built once into the temp folder. */
async function cachedSynth(dir: string, depth?: number): Promise<string> {
  if (!existsSync(join(dir, 'model.json'))) {
    process.stderr.write(`building a synthetic ViT-B${depth ? ` of depth ${depth}` : ' (full depth)'} (once; cached in the temp folder)\n`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    await synthModel('vit_b', dir, { seed: 0, ...(depth ? { depth } : {}) });
  }
  return dir;
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

/** A low-res logit plane as a real SAM answer looks: an ellipse, positive inside (logits about +-20). */
function ellipseLogits(cx: number, cy: number, rx: number, ry: number): Float32Array {
  const plane = new Float32Array(256 * 256);
  for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) plane[y * 256 + x] = 20 * (1 - ((x - cx) / rx) ** 2 - ((y - cy) / ry) ** 2);
  return plane;
}

export async function main(args: string[]): Promise<void> {
  const runs = arg(args, 'runs', 3);
  const threads = arg(args, 'threads', 2);
  const cache = BENCH_CACHE;
  mkdirSync(cache, { recursive: true });
  const rows: [string, string, string][] = [];
  const img = testImage();
  if (!args.includes('--skip-encoder')) {
    const sam = await loadSam(await cachedSynth(join(cache, 'synth-vit_b')), { threads });
    const rss0 = process.resourceUsage().maxRSS;
    const enc = await timeIt(() => runEncoder(sam, img), 1, runs);
    const peakMiB = process.resourceUsage().maxRSS / 1024;
    rows.push(['ViT-B encoder fp32 (synthetic, full depth)', `${(median(enc) / 1000).toFixed(2)} s`, `median of ${runs} after 1 warm-up; ${threads} threads; ${cpuNote()}`]);
    rows.push(['ViT-B encoder peak memory (process RSS)', `${peakMiB.toFixed(0)} MiB`, `RSS before encoding ${(rss0 / 1024).toFixed(0)} MiB`]);
    for (const s of [sam.encoder, sam.decoder, sam.decoderCore]) await s.release();
  }

  // the decoder at its real ViT-B size; its embedding from the depth-1 encoder
  const sam: LoadedSam = await loadSam(await cachedSynth(join(cache, 'synth-vit_b-depth1'), 1), { threads });
  const embedding = await runEncoder(sam, img);
  const click = { points: [{ x: 500, y: 380, label: 1 as const }] };
  const feeds = decoderFeeds(embedding, click, img.width, img.height).feeds;
  const parts = await splitDecoderSessions(sam);
  const side = await parts.image.run({ image_embeddings: feeds.image_embeddings! });
  const promptFeeds = { point_coords: feeds.point_coords!, point_labels: feeds.point_labels!, ...side };
  const proper = await timePair(() => parts.prompt.run(promptFeeds), () => sam.decoderCore.run(feeds), 10, 40);
  rows.push(['decoder proper, one click (to 256x256 low-res masks)', `${proper.now.toFixed(1)} ms`, `split decoder's prompt part; median of 40 after 10 warm-up; ${proper.note}; target <= 20 ms`]);
  const imagePart = await timeIt(() => parts.image.run({ image_embeddings: feeds.image_embeddings! }), 3, 10);
  rows.push(['  its image part, once per image', `${median(imagePart).toFixed(1)} ms`, `at the first click on an image; ${cpuNote()}`]);
  const first = await runPredict(sam, embedding, click, img.width, img.height);
  const k = 1 + first.iouPredictions.slice(1).indexOf(Math.max(...first.iouPredictions.slice(1)));
  const refineFeeds = decoderFeeds(embedding, { points: [...click.points, { x: 560, y: 300, label: 1 }], maskInput: first.lowResMasks.slice(k * 65536, (k + 1) * 65536) }, img.width, img.height).feeds;
  const refineSide = Object.fromEntries(parts.refineSide.map((name) => [name, side[name]!]));
  const refine = await timePair(() => parts.refine.run({ ...refineFeeds, ...refineSide }), () => sam.decoderCore.run(refineFeeds), 5, 20);
  rows.push(['decoder proper, with a fed-back low-res mask', `${refine.now.toFixed(1)} ms`, `the prompt part plus the mask's share of the image side (the image part once per image); ${refine.note}; target <= 20 ms`]);
  const full = await timeIt(() => runDecoder(sam, embedding, click, img.width, img.height), 5, 20);
  rows.push(['decoder + postprocessing to 1024x768 (graph, 4 masks)', `${median(full).toFixed(1)} ms`, `${cpuNote()}; the \`segment\` path; Meta's PyTorch: about 140 ms`]);
  const app = await timePair(
    () => runPredict(sam, embedding, click, img.width, img.height),
    () => runPredict(sam, embedding, click, img.width, img.height, { decoder: 'whole', postprocess: 'exact' }), 5, 20);
  rows.push(['decoder + cropped postprocessing (the app\'s path)', `${app.now.toFixed(1)} ms`, `4 candidates; ${app.note}`]);

  // postprocessing alone: the synthetic model's 4 candidates (random weights: noisy masks, every
  // pixel near an edge, the view path's worst case) and 4 smooth masks as real weights give
  const plane = 256 * 256;
  const synthetic = first.lowResMasks;
  const smooth = new Float32Array(4 * plane);
  for (let i = 0; i < 4; i++) smooth.set(ellipseLogits(120 + 5 * i, 100, 40 + 15 * i, 30 + 10 * i), i * plane);
  for (const [what, lowRes] of [['random-weight masks', synthetic], ['smooth masks', smooth]] as const) {
    for (const [w, h] of [[1024, 768], [8000, 6000]] as const) {
      const all = (crop: typeof viewMaskCrop) => async () => { for (let i = 0; i < 4; i++) crop(lowRes.subarray(i * plane, (i + 1) * plane), w, h); };
      const big = w > 2000;
      const pp = await timePair(all(viewMaskCrop), all(maskCropFromLowRes), big ? 1 : 3, big ? 3 : 15);
      rows.push([`postprocessing of 4 candidates for the view, ${w}x${h}, ${what}`, `${pp.now.toFixed(1)} ms`, `${pp.note}${big ? '' : '; target <= 8 ms'}`]);
    }
  }
  const huge = await timePair(
    () => runPredict(sam, embedding, click, 8000, 6000),
    () => runPredict(sam, embedding, click, 8000, 6000, { decoder: 'whole', postprocess: 'exact' }), 1, 3);
  rows.push(['decoder + cropped postprocessing, 8000x6000 photo', `${huge.now.toFixed(1)} ms`, `4 candidates, random-weight masks; ${huge.note}`]);

  for (const [arch, label] of [['hiera_t', 'SAM 2.1 Hiera-T'], ['hiera_s', 'SAM 2.1 Hiera-S']] as const) {
    const m = await loadSam(await cachedSam2(arch), { threads });
    const e = await timeIt(() => runEncoder(m, img), 1, runs);
    rows.push([`${label} encoder fp32 (synthetic, full size)`, `${(median(e) / 1000).toFixed(2)} s`, `median of ${runs} after 1 warm-up; ${threads} threads; ${cpuNote()}; ViT-B above in the same run`]);
    const features = await runEncoder(m, img);
    const sam2Feeds = sam2DecoderFeeds(features, click, img.width, img.height);
    const sam2Parts = await splitDecoderSessions(m);
    const sam2Side = await sam2Parts.image.run(Object.fromEntries(sam2Parts.imageInputs.map((n) => [n, sam2Feeds[n]!])));
    const sam2Prompt = { point_coords: sam2Feeds.point_coords!, point_labels: sam2Feeds.point_labels!, ...Object.fromEntries(sam2Parts.passedThrough.map((n) => [n, sam2Feeds[n]!])), ...sam2Side };
    const d = await timePair(() => sam2Parts.prompt.run(sam2Prompt), () => m.decoderCore.run(sam2Feeds), 10, 40);
    rows.push([`${label} decoder proper, one click`, `${d.now.toFixed(1)} ms`, `split decoder's prompt part; median of 40 after 10 warm-up; ${d.note}`]);
    const a = await timePair(
      () => runPredict(m, features, click, img.width, img.height),
      () => runPredict(m, features, click, img.width, img.height, { decoder: 'whole', postprocess: 'exact' }), 5, 20);
    rows.push([`${label} click to mask (the app's path)`, `${a.now.toFixed(1)} ms`, `4 candidates; ${a.note}`]);
    const clicked = await runPredict(m, features, click, img.width, img.height);
    const again = { points: [...click.points, { x: 560, y: 300, label: 1 as const }], maskInput: clicked.lowResMasks.slice(65536, 2 * 65536) };
    const r = await timePair(
      () => runPredict(m, features, again, img.width, img.height),
      () => runPredict(m, features, again, img.width, img.height, { decoder: 'whole', postprocess: 'exact' }), 5, 20);
    rows.push([`${label} second click (a fed-back mask), the app's path`, `${r.now.toFixed(1)} ms`, `4 candidates; ${r.note}`]);
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
  writeFileSync(join(REPO, 'bench/results/sam.json'), JSON.stringify({ rows, decoderProper: proper, decoderRefine: refine, decoderFullMs: full, appPath: app, segmentMs: segTimes }, null, 2));
}
