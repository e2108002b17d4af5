/**
 * `quantize` and `eval`: PTQ4SAM quantization of a model directory, and fidelity/speed of one
 * model directory against another (docs: README, PTQ4SAM section).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { CliError, integerOption, optional, parseArgs, required, type CommandGroup } from './args.ts';
import { withAtomicOutDir } from './output.ts';
import { stderrProgress } from './progress.ts';
import { METHODS, type Method } from '../ptq4sam/calibrators/index.ts';
import { evaluate, listImages } from '../ptq4sam/eval.ts';
import { BIT_SETTINGS, DEFAULT_CALIB_COUNT, quantizeModelDir } from '../ptq4sam/pipeline.ts';
import type { Prompt } from '../ptq4sam/prompts.ts';

export const quantizeCommand: CommandGroup = async (argv) => {
  const args = parseArgs(argv, ['model', 'calib', 'out', 'bits', 'method', 'calib-count', 'project'], ['no-big', 'no-agq', 'quantize-token-side']);
  const modelDir = required(args, 'model');
  const calibDir = required(args, 'calib');
  const out = required(args, 'out');
  const bitsName = optional(args, 'bits') ?? 'w8a8';
  const bits = Object.hasOwn(BIT_SETTINGS, bitsName) ? BIT_SETTINGS[bitsName] : undefined;
  if (!bits) throw new CliError(`--bits ${bitsName} is not offered (choose ${Object.keys(BIT_SETTINGS).join(', ')})`);
  const method = (optional(args, 'method') ?? 'ptq4sam') as Method;
  if (!METHODS.includes(method)) throw new CliError(`--method ${method} is not offered (choose ${METHODS.join(', ')})`);
  const calibCount = integerOption(args, 'calib-count', 1, 10_000) ?? DEFAULT_CALIB_COUNT;
  const projectDb = optional(args, 'project');
  if (!existsSync(modelDir)) throw new CliError(`${modelDir}: model directory not found`);
  listImages(calibDir); // fail before creating anything
  const progress = stderrProgress();
  const report = await withAtomicOutDir(out, (tmp) => quantizeModelDir({
    modelDir, calibDir, outDir: tmp, bits, method, calibCount,
    big: !args.switches.has('no-big'), agq: !args.switches.has('no-agq'), decoderTokenSide: args.switches.has('quantize-token-side'),
    ...(projectDb ? { projectDb } : {}),
    onProgress: (p) => progress(p.phase, p.done, p.total, p.etaSeconds),
  }));
  process.stdout.write(`${JSON.stringify({ out, method: report.method, bits: report.bits, big: report.big.bimodal, integer_ops: report.integer_ops, size_bytes: report.size_bytes, mean_iou: report.fidelity.mean_iou })}\n`);
};

function readPrompts(path: string): Record<string, Prompt[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CliError(`${path}: cannot read prompts (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CliError(`${path}: prompts must be an object of file name -> list of prompts`);
  for (const [file, list] of Object.entries(raw)) {
    if (!Array.isArray(list)) throw new CliError(`${path}: prompts of ${file} must be a list`);
    for (const p of list as Prompt[]) {
      const ok = (p.box && p.box.length === 4) || (Array.isArray(p.points) && p.points.length > 0 && (!p.labels || p.labels.length === p.points.length));
      if (!ok) throw new CliError(`${path}: a prompt of ${file} needs "points" (with matching "labels") or a 4-number "box"`);
    }
  }
  return raw as Record<string, Prompt[]>;
}

export const evalCommand: CommandGroup = async (argv) => {
  const args = parseArgs(argv, ['model', 'reference', 'images', 'out', 'prompts']);
  const model = required(args, 'model');
  const reference = required(args, 'reference');
  const images = listImages(required(args, 'images'));
  const out = required(args, 'out');
  const promptsPath = optional(args, 'prompts');
  const prompts = promptsPath ? readPrompts(promptsPath) : undefined;
  const result = await evaluate(model, reference, images, prompts ? { prompts } : {});
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(result, null, 2)}\n`);
  const { renameSync } = await import('node:fs');
  renameSync(tmp, out);
  process.stdout.write(`${JSON.stringify(result)}\n`);
};
