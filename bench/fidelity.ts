/**
 * The fidelity table on held-out images of the trained sam-shapes model:
 *   npm run bench -- fidelity [--bits w8a8,w6a6,w4a4] [--methods minmax,percentile,omse,ptq4sam,gptq] [--ablations] [--validation]
 * Each method x bit width is quantized on the fixture's calibration split and evaluated on its
 * held-out split (tests/helpers/sam-shapes.ts) with eval's default prompts (IoU against fp32
 * per prompt kind) and against ground truth (per-object box and interior-click prompts: mIoU
 * and mask AP). The first rows are fp32 itself and the float16-weights model (the fp16
 * checkpoint imported: weights rounded to float16, computed in float32), the noise floor.
 * `--ablations` adds PTQ4SAM without BIG, without AGQ, and with the spec's b-bit AGQ encoder
 * softmax (`--encoder-softmax agq`) instead of the default uniform grid (8-bit below a8).
 * `--sam-tiny` measures the random-weight sam-tiny instead: calibrated on its 3 fixture images,
 * evaluated on images it never saw (sam-shapes' 3 synthetic images and the 7 sample photos),
 * against fp32 only.
 * `--validation` evaluates on the validation images instead (the calibration image and the
 * sample photos, tests/helpers/sam-shapes.ts), where quantizer choices are decided, without the
 * ground-truth columns.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { evaluate, type EvalResult, type GroundTruth } from '../main/ptq4sam/eval.ts';
import { listImageFiles } from '../main/base/index.ts';
import { methodNames } from '../main/ptq4sam/index.ts';
import { DEFAULT_SOFTMAX, quantizeModelDir, type QuantizeOptions } from '../main/ptq4sam/pipeline.ts';
import { BIT_SETTINGS, QUANT_BITS, type QuantBits } from '../preload/contract/enums.ts';
import { importCheckpoint } from '../main/sam/model-dir.ts';
import { readGroundTruth } from '../main/cli/eval.ts';
import { CALIBRATION_SPLIT, HELD_OUT_SPLIT, imageFolder, SAM_SHAPES, VALIDATION_PHOTOS, validationFolder, writeGroundTruthCoco } from '../tests/helpers/sam-shapes.ts';
import { SAM_SHAPES_FIXTURE, SAM_TINY, SAM_TINY_FIXTURE } from '../tests/helpers/sam-tiny.ts';

const SAM_TINY_IMAGES = ['landscape.png', 'portrait.png', 'large.png'];

/** A new folder `dir` holding copies of `files` (full paths), under their `names`. */
function folderOf(dir: string, files: [string, string][]): string {
  mkdirSync(dir, { recursive: true });
  for (const [from, name] of files) copyFileSync(from, join(dir, name));
  return dir;
}

function listArg(args: string[], name: string, fallback: string[]): string[] {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]!.split(',') : fallback;
}

/** A table row: a method with PTQ4SAM's switches as `quantize` takes them. */
type Variant = { name: string; options: Pick<QuantizeOptions, 'method' | 'big' | 'agq' | 'softmax'> };

const ABLATIONS: Variant[] = [
  { name: 'ptq4sam -BIG', options: { method: 'ptq4sam', big: false } },
  { name: 'ptq4sam -AGQ', options: { method: 'ptq4sam', agq: false } },
  { name: 'ptq4sam, encoder softmax AGQ', options: { method: 'ptq4sam', softmax: { ...DEFAULT_SOFTMAX, encoder: 'agq' } } },
];

const f3 = (v: number | null) => (v === null ? '-' : v.toFixed(3));

function row(name: string, bits: string, r: EvalResult, seconds: number | null): string {
  const k = r.by_kind;
  const g = r.gt;
  const gtCells = g ? `${f3(g.model.clicks.miou)} / ${f3(g.model.clicks.mask_ap)} | ${f3(g.model.boxes.miou)} / ${f3(g.model.boxes.mask_ap)}` : '- | -';
  return `| ${name} | ${bits} | ${f3(k.points.mean_iou)} / ${f3(k.points.min_iou)} | ${f3(k.points.nonempty_reference.mean_iou)} (${k.points.nonempty_reference.n}) | ${f3(k.boxes.mean_iou)} | `
    + `${f3(k.boxes.nonempty_reference.mean_iou)} (${k.boxes.nonempty_reference.n}) | ${r.embedding_rel_error.toExponential(1)} | `
    + `${gtCells} | `
    + `${seconds === null ? '-' : seconds.toFixed(0)} |\n`;
}

export async function main(args: string[]): Promise<void> {
  const bitsList = listArg(args, 'bits', ['w8a8']);
  const methods = listArg(args, 'methods', methodNames());
  for (const b of bitsList) if (!(QUANT_BITS as readonly string[]).includes(b)) throw new Error(`--bits ${b} is not offered (choose ${QUANT_BITS.join(', ')})`);
  for (const m of methods) if (!methodNames().includes(m)) throw new Error(`--methods ${m} is not offered (choose ${methodNames().join(', ')})`);
  const root = mkdtempSync(join(tmpdir(), 'bench-fidelity-'));
  try {
    const fp32 = join(root, 'fp32');
    const fp16 = join(root, 'fp16');
    mkdirSync(fp32);
    mkdirSync(fp16);
    const samTiny = args.includes('--sam-tiny');
    const fixture = samTiny ? SAM_TINY_FIXTURE : SAM_SHAPES_FIXTURE;
    await importCheckpoint(fixture.pth, fp32, { configPath: fixture.config });
    await importCheckpoint(fixture.pthFp16, fp16, { configPath: fixture.config });
    const validation = args.includes('--validation');
    let calib: string;
    let images: string[];
    let gt: GroundTruth | undefined;
    if (samTiny) {
      calib = folderOf(join(root, 'calib'), SAM_TINY_IMAGES.map((n) => [join(SAM_TINY, n), n]));
      images = listImageFiles(folderOf(join(root, 'unseen'), [
        ...SAM_TINY_IMAGES.map((n): [string, string] => [join(SAM_SHAPES, n), `shapes-${n}`]),
        ...VALIDATION_PHOTOS.map((n): [string, string] => [join('resources', 'samples', n), n]),
      ]));
    } else {
      calib = imageFolder(join(root, 'calib'), CALIBRATION_SPLIT);
      images = listImageFiles(validation ? validationFolder(join(root, 'validation')) : imageFolder(join(root, 'held-out'), HELD_OUT_SPLIT));
      gt = validation ? undefined : await readGroundTruth(await writeGroundTruthCoco(join(root, 'gt'), HELD_OUT_SPLIT), images);
    }
    const opts = gt ? { gt } : {};
    process.stdout.write(`\n${fixture.name}, calibrated on ${listImageFiles(calib).map((i) => basename(i)).join(', ')}, evaluated on ${images.map((i) => basename(i)).join(', ')} `
      + '(eval\'s default prompts; ground truth: one box and one interior click per object)\n\n'
      + '| method | bits | points IoU vs fp32 mean / min | points, fp32 mask not empty (n) | boxes IoU vs fp32 | boxes, fp32 mask not empty (n) | embedding error | GT clicks mIoU / AP | GT boxes mIoU / AP | quantize s |\n'
      + '|---|---|---|---|---|---|---|---|---|---|\n');
    process.stdout.write(row('fp32', '-', await evaluate(fp32, fp32, images, opts), null));
    process.stdout.write(row('float16 weights', '-', await evaluate(fp16, fp32, images, opts), null));
    const variants: Variant[] = [...methods.map((method) => ({ name: method, options: { method } })), ...(args.includes('--ablations') ? ABLATIONS : [])];
    for (const bits of bitsList) {
      for (const v of variants) {
        const out = mkdtempSync(join(root, 'q-'));
        const t0 = performance.now();
        await quantizeModelDir({ modelDir: fp32, calibDir: calib, outDir: out, bits: BIT_SETTINGS[bits as QuantBits], measureImages: 1, ...v.options });
        const seconds = (performance.now() - t0) / 1000;
        process.stdout.write(row(v.name, bits, await evaluate(out, fp32, images, opts), seconds));
        rmSync(out, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
