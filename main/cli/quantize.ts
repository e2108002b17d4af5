/**
 * `quantize` and `eval`: PTQ4SAM quantization of a model directory, and fidelity/speed of one
 * model directory against another (docs: README, PTQ4SAM section).
 */
import { existsSync, readFileSync } from 'node:fs';
import { CliError, integerOption, optional, parseArgs, required, type CommandGroup } from './args.ts';
import { withAtomicOutDir } from './output.ts';
import { stageProgress } from './progress.ts';
import { evaluate } from '../ptq4sam/eval.ts';
import { listImageFiles, writeFileAtomic } from '../base/index.ts';
import { methodNames } from '../ptq4sam/index.ts';
import { DEFAULT_CALIB_COUNT, quantizeModelDir } from '../ptq4sam/pipeline.ts';
import { BIT_SETTINGS, QUANT_BITS, type QuantBits } from '../../preload/contract/enums.ts';
import type { Prompt } from '../ptq4sam/prompts.ts';

export const quantizeCommand: CommandGroup = async (argv) => {
  const args = parseArgs(argv, ['model', 'calib', 'out', 'bits', 'method', 'calib-count', 'project'], ['no-big', 'no-agq', 'quantize-token-side']);
  const modelDir = required(args, 'model');
  const calibDir = required(args, 'calib');
  const out = required(args, 'out');
  const bitsName = (optional(args, 'bits') ?? 'w8a8') as QuantBits;
  if (!QUANT_BITS.includes(bitsName)) throw new CliError(`--bits ${bitsName} is not offered (choose ${QUANT_BITS.join(', ')})`);
  const bits = BIT_SETTINGS[bitsName];
  const method = optional(args, 'method') ?? 'ptq4sam';
  if (!methodNames().includes(method)) throw new CliError(`--method ${method} is not offered (choose ${methodNames().join(', ')})`);
  const calibCount = integerOption(args, 'calib-count', 1, 10_000) ?? DEFAULT_CALIB_COUNT;
  const projectDb = optional(args, 'project');
  if (!existsSync(modelDir)) throw new CliError(`${modelDir}: model directory not found`);
  listImageFiles(calibDir); // fail before creating anything
  const progress = stageProgress();
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
  const images = listImageFiles(required(args, 'images'));
  const out = required(args, 'out');
  const promptsPath = optional(args, 'prompts');
  const prompts = promptsPath ? readPrompts(promptsPath) : undefined;
  const result = await evaluate(model, reference, images, prompts ? { prompts } : {});
  writeFileAtomic(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
};
