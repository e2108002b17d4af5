/**
 * The quantizer on this machine, in one run:
 *   npm run bench -- quant [--calib-count N] [--runs N] [--depth N] [--bits w8a8,w6a6,w4a4,w6a6:agq] [--skip-vit-b]
 *                          [--sam2 tiny,small | --skip-sam2] [--skip-table]
 * (`<bits>:agq` quantizes with `--encoder-softmax agq`, the spec's b-bit log2 softmax grid
 * instead of the default 8-bit uniform one; --depth builds the synthetic ViT-B with fewer blocks, for a quick check; the global-attention
 * blocks among them keep their places. The ViT-B calibration folder holds the sample photos and
 * the fixture images, repeated under new names up to --calib-count: the timing depends on the
 * image count, not on which photos they are.)
 * 1. Synthetic full-depth ViT-B (and the real decoder size): encoder and decoder latency, fp32 vs
 *    ptq4sam at w8a8 / w6a6 / w4a4 (medians after warm-up, measured alternately in the same
 *    process), size ratio, and the wall time and peak memory of the `quantize` command (a child
 *    process, peak RSS from /usr/bin/time) against the fp32 forward passes over the same images.
 *    Full-size synthetic SAM 2.1 Hiera-T and Hiera-S (`--sam2`, default both) get the same rows
 *    in the same run and table (issue 14: which model is the CPU default).
 * 2. Fidelity on sam-tiny: methods x bits, and PTQ4SAM with and without BIG and AGQ (mean and
 *    min mask IoU against fp32 over the fixture images' automatic prompts).
 * Set MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { evaluate } from '../main/ptq4sam/eval.ts';
import { listImageFiles } from '../main/base/index.ts';
import { quantizeModelDir, type SoftmaxChoice } from '../main/ptq4sam/pipeline.ts';
import { BIT_SETTINGS, QUANT_BITS } from '../preload/contract/enums.ts';
import { automaticPrompts, type Prompt } from '../main/ptq4sam/prompts.ts';
import { decodeImage } from '../main/sam/image/index.ts';
import { loadSam, runDecoder, runEncoder } from '../main/sam/inference.ts';
import { importCheckpoint, synthModel } from '../main/sam/model-dir.ts';
import { cachedSam2 } from './synth-cache.ts';
import { arg, median } from './stats.ts';

const REPO = join(import.meta.dirname, '..');
const FIXTURES = join(REPO, 'tests/fixtures/sam-tiny');

function dirSize(dir: string): number {
  let total = 0;
  for (const f of ['encoder.onnx', 'encoder.onnx.data', 'decoder.onnx', 'decoder.onnx.data']) {
    try { total += statSync(join(dir, f)).size; } catch { /* absent */ }
  }
  return total;
}

function calibFolder(root: string): string {
  const dir = join(root, 'calib');
  mkdirSync(dir);
  for (const f of ['landscape.png', 'portrait.png', 'large.png']) copyFileSync(join(FIXTURES, f), join(dir, f));
  return dir;
}

/** `count` calibration images for the timing rows: the sample photos and the fixture images, cycled. */
function timingCalibFolder(root: string, count: number): string {
  const dir = join(root, 'calib-timing');
  mkdirSync(dir);
  const sources = [...listImageFiles(join(REPO, 'resources/samples')), ...['landscape.png', 'portrait.png', 'large.png'].map((f) => join(FIXTURES, f))];
  for (let i = 0; i < count; i++) {
    const src = sources[i % sources.length]!;
    copyFileSync(src, join(dir, `${String(i).padStart(3, '0')}-${basename(src)}`));
  }
  return dir;
}

/** Runs `quantize` as a child process; returns wall seconds and peak RSS (MB). */
function quantizeChild(model: string, calib: string, out: string, setting: string, calibCount: number): { seconds: number; peakMb: number } {
  const t0 = performance.now();
  const [bits, encoderSoftmax] = setting.split(':') as [string, string | undefined];
  const r = spawnSync('/usr/bin/time', ['-f', '%M', 'npx', 'tsx', join(REPO, 'main/cli/index.ts'), 'quantize', '--model', model, '--calib', calib, '--out', out, '--bits', bits, '--calib-count', String(calibCount), ...(encoderSoftmax ? ['--encoder-softmax', encoderSoftmax] : [])], { encoding: 'utf8', cwd: REPO });
  if (r.status !== 0) throw new Error(`quantize ${setting} failed: ${r.stderr.split('\n').slice(-3).join(' ')}`);
  const lines = r.stderr.trim().split('\n');
  return { seconds: (performance.now() - t0) / 1000, peakMb: Number(lines[lines.length - 1]) / 1024 };
}

/** Median encoder wall and CPU time (process.cpuUsage: onnxruntime's threads are ours; robust on a shared machine) and decoder wall time. */
async function latency(dirs: Record<string, string>, image: string, runs: number): Promise<Record<string, { encoder: number; encoderCpu: number; decoder: number }>> {
  const img = await decodeImage(image);
  const loaded = Object.fromEntries(await Promise.all(Object.entries(dirs).map(async ([k, d]) => [k, await loadSam(d)] as const)));
  const times: Record<string, { e: number[]; c: number[]; d: number[] }> = Object.fromEntries(Object.keys(dirs).map((k) => [k, { e: [], c: [], d: [] }]));
  const prompt = { points: [{ x: img.width / 2, y: img.height / 2, label: 1 as const }] };
  for (let r = 0; r < runs + 2; r++) {
    for (const [k, l] of Object.entries(loaded)) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const e = await runEncoder(l, img);
      const dt = performance.now() - t0;
      const cpu = process.cpuUsage(c0);
      const emb = Float32Array.from(e);
      const dec: number[] = [];
      for (let i = 0; i < 10; i++) dec.push((await runDecoder(l, emb, prompt, img.width, img.height)).decoderMs);
      if (r >= 2) { times[k]!.e.push(dt); times[k]!.c.push((cpu.user + cpu.system) / 1000); times[k]!.d.push(median(dec)); }
    }
  }
  for (const l of Object.values(loaded)) for (const s of [l.encoder, l.decoder, l.decoderCore]) await s.release();
  return Object.fromEntries(Object.entries(times).map(([k, t]) => [k, { encoder: median(t.e), encoderCpu: median(t.c), decoder: median(t.d) }]));
}

/** One model's rows: the fp32 directory and its quantized copies for each bit setting. */
interface Measured { label: string; fp32: string; dirs: Record<string, string>; cost: Record<string, { seconds: number; peakMb: number }>; forwardSeconds: number }

/** Quantizes `fp32` at each setting (the `quantize` command, a child process) and times the fp32 forward passes over the same images. */
async function quantizeAll(label: string, fp32: string, root: string, calib: string, calibCount: number, settings: string[]): Promise<Measured> {
  const dirs: Record<string, string> = { fp32 };
  const cost: Record<string, { seconds: number; peakMb: number }> = {};
  for (const bits of settings) {
    dirs[bits] = join(root, `${basename(fp32)}-${bits.replace(':', '-')}`);
    process.stderr.write(`quantizing ${label} ${bits}\n`);
    cost[bits] = quantizeChild(fp32, calib, dirs[bits]!, bits, calibCount);
  }
  // The unavoidable part: fp32 forward passes (encoder + decoder prompts) over the same images.
  const l = await loadSam(fp32);
  const t0 = performance.now();
  for (const f of listImageFiles(calib).slice(0, calibCount)) {
    const img = await decodeImage(f);
    const e = Float32Array.from(await runEncoder(l, img));
    await runDecoder(l, e, { points: [{ x: img.width / 2, y: img.height / 2, label: 1 }] }, img.width, img.height);
  }
  const forwardSeconds = (performance.now() - t0) / 1000;
  for (const s of [l.encoder, l.decoder, l.decoderCore]) await s.release();
  return { label, fp32, dirs, cost, forwardSeconds };
}

async function printTable(models: Measured[], runs: number): Promise<void> {
  process.stdout.write('\n| model | precision | encoder ms | speed-up | encoder CPU ms | CPU speed-up | decoder ms | speed-up | size MB | smaller | quantize s | x fp32 forward | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n');
  for (const m of models) {
    // one model's variants alternate run by run, so load changes hit them alike
    const lat = await latency(m.dirs, join(FIXTURES, 'landscape.png'), runs);
    for (const [k, d] of Object.entries(m.dirs)) {
      const t = lat[k]!;
      const c = m.cost[k];
      process.stdout.write(`| ${m.label} | ${k} | ${t.encoder.toFixed(0)} | ${(lat.fp32!.encoder / t.encoder).toFixed(2)}x | ${t.encoderCpu.toFixed(0)} | ${(lat.fp32!.encoderCpu / t.encoderCpu).toFixed(2)}x | ${t.decoder.toFixed(1)} | ${(lat.fp32!.decoder / t.decoder).toFixed(2)}x | ${(dirSize(d) / 1e6).toFixed(1)} | ${(dirSize(m.fp32) / dirSize(d)).toFixed(2)}x | ${c ? c.seconds.toFixed(0) : '-'} | ${c ? (c.seconds / m.forwardSeconds).toFixed(1) : '-'} | ${c ? c.peakMb.toFixed(0) : '-'} |\n`);
    }
  }
  process.stdout.write(`\nfp32 forward passes over the calibration images: ${models.map((m) => `${m.label} ${m.forwardSeconds.toFixed(1)} s`).join(', ')}; load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
}

async function vitB(root: string, calib: string, calibCount: number, depth: number | undefined, settings: string[]): Promise<Measured> {
  const fp32 = join(root, 'vit_b');
  mkdirSync(fp32);
  await synthModel('vit_b', fp32, depth ? { depth } : {});
  return quantizeAll(`ViT-B (synthetic, ${depth ? `depth ${depth}` : 'full depth'})`, fp32, root, calib, calibCount, settings);
}

const SAM2_SIZES = { tiny: ['hiera_t', 'Hiera-T'], small: ['hiera_s', 'Hiera-S'] } as const;
type Sam2Size = keyof typeof SAM2_SIZES;

/** A full-size synthetic SAM 2.1 model (the one `bench -- sam` and `-- ui` use), quantized from a copy. */
async function sam2(size: Sam2Size, root: string, calib: string, calibCount: number, settings: string[]): Promise<Measured> {
  const [arch, label] = SAM2_SIZES[size];
  const fp32 = join(root, `sam2.1-${arch}`);
  cpSync(await cachedSam2(arch), fp32, { recursive: true });
  return quantizeAll(`SAM 2.1 ${label} (synthetic, full size)`, fp32, root, calib, calibCount, settings);
}

/** `--sam2 tiny,small` (the default) or `--skip-sam2` */
function sam2Sizes(args: string[]): Sam2Size[] {
  if (args.includes('--skip-sam2')) return [];
  const at = args.indexOf('--sam2');
  if (at < 0) return ['tiny', 'small'];
  const sizes = (args[at + 1] ?? '').split(',');
  for (const s of sizes) if (!(s in SAM2_SIZES)) throw new Error(`--sam2 ${args[at + 1]}: sizes are ${Object.keys(SAM2_SIZES).join(', ')}`);
  return sizes as Sam2Size[];
}

interface Variant { name: string; method: string; big?: boolean; agq?: boolean; softmax?: SoftmaxChoice; decoderTokenSide?: boolean }

const ALL_AGQ: SoftmaxChoice = { encoder: 'agq', decoder: 'agq' };

const VARIANTS: Variant[] = [
  { name: 'minmax', method: 'minmax' },
  { name: 'percentile', method: 'percentile' },
  { name: 'omse', method: 'omse' },
  { name: 'ptq4sam -BIG -AGQ', method: 'ptq4sam', big: false, agq: false },
  { name: 'ptq4sam +BIG', method: 'ptq4sam', agq: false },
  { name: 'ptq4sam +AGQ', method: 'ptq4sam', big: false, softmax: ALL_AGQ },
  { name: 'ptq4sam +BIG +AGQ', method: 'ptq4sam', softmax: ALL_AGQ },
  { name: 'ptq4sam default (a8: encoder uniform, decoder AGQ)', method: 'ptq4sam' },
  { name: 'ptq4sam default + --quantize-token-side', method: 'ptq4sam', decoderTokenSide: true },
  { name: 'gptq (ptq4sam + GPTQ rounding)', method: 'gptq' },
];

async function fidelityTable(root: string, calib: string): Promise<void> {
  const fp32 = join(root, 'tiny');
  mkdirSync(fp32);
  await importCheckpoint(join(FIXTURES, 'sam_tiny.pth'), fp32, { configPath: join(FIXTURES, 'config.json') });
  const images = listImageFiles(calib);
  // the calibration prompts (3 clicks, 1 box per image), as this table has always used, not eval's default set
  const prompts: Record<string, Prompt[]> = {};
  for (const f of images) {
    const { width, height } = await decodeImage(f);
    prompts[basename(f)] = automaticPrompts(width, height);
  }
  process.stdout.write(`\nsam-tiny fidelity against fp32 (mean / min mask IoU over 12 prompts)\n\n| method | ${QUANT_BITS.join(' | ')} |\n|---${'|---'.repeat(QUANT_BITS.length)}|\n`);
  for (const v of VARIANTS) {
    const cells: string[] = [];
    for (const bits of QUANT_BITS.map((b) => BIT_SETTINGS[b])) {
      const out = mkdtempSync(join(root, 'q-'));
      await quantizeModelDir({ modelDir: fp32, calibDir: calib, outDir: out, bits, method: v.method, measureImages: 1, ...(v.big === undefined ? {} : { big: v.big }), ...(v.agq === undefined ? {} : { agq: v.agq }), ...(v.softmax ? { softmax: v.softmax } : {}), ...(v.decoderTokenSide ? { decoderTokenSide: true } : {}) });
      const r = await evaluate(out, fp32, images, { prompts });
      cells.push(`${r.mean_iou.toFixed(3)} / ${r.min_iou.toFixed(3)}`);
      rmSync(out, { recursive: true, force: true });
    }
    process.stdout.write(`| ${v.name} | ${cells.join(' | ')} |\n`);
  }
}

export async function main(args: string[]): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'bench-quant-'));
  try {
    const calib = calibFolder(root);
    const depth = args.includes('--depth') ? arg(args, 'depth', 12) : undefined;
    const bitsAt = args.indexOf('--bits');
    const settings = bitsAt >= 0 ? args[bitsAt + 1]!.split(',') : [...QUANT_BITS];
    const calibCount = arg(args, 'calib-count', 3);
    const models: Measured[] = [];
    const sizes = sam2Sizes(args);
    if (!args.includes('--skip-vit-b') || sizes.length > 0) {
      const timingCalib = timingCalibFolder(root, calibCount);
      if (!args.includes('--skip-vit-b')) models.push(await vitB(root, timingCalib, calibCount, depth, settings));
      for (const size of sizes) models.push(await sam2(size, root, timingCalib, calibCount, settings));
      process.stdout.write(`\n${calibCount} calibration images (the sample photos and fixture images, cycled), ${arg(args, 'runs', 5)} timed runs each`);
      await printTable(models, arg(args, 'runs', 5));
    }
    if (!args.includes('--skip-table')) await fidelityTable(root, calib);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
