/**
 * `eval`: fidelity and speed of one model directory against another on a folder of images
 * (default prompts or `--prompts`), whether the images were held out from the model's
 * calibration, and with `--gt` (COCO instance masks) both models scored against ground truth
 * (docs: README, PTQ4SAM section).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CliError, optional, parseArgs, required, type CommandGroup } from './args.ts';
import { checkOutFile, checkOutFolder } from './output.ts';
import { importers } from '../formats/index.ts';
import { evaluate, type GroundTruth } from '../ptq4sam/eval.ts';
import { listImageFiles, writeFileAtomic } from '../base/index.ts';
import type { Prompt } from '../ptq4sam/prompts.ts';

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
      if (p.labels?.some((l) => l !== 0 && l !== 1)) throw new CliError(`${path}: a prompt of ${file} has labels ${JSON.stringify(p.labels)}: each is 1 (positive) or 0 (negative)`);
    }
  }
  return raw as Record<string, Prompt[]>;
}

/** The prompts given for the evaluated images: none at all would score as a perfect model. */
function checkPromptsMeetImages(path: string, prompts: Record<string, Prompt[]>, images: string[]): void {
  const names = new Set(images.map((p) => basename(p)));
  const used = Object.entries(prompts).filter(([file, list]) => names.has(file) && list.length > 0);
  if (used.length === 0) throw new CliError(`${path}: no prompt for any evaluated image (files: ${[...names].join(', ')}); nothing would be measured`);
}

/**
 * Object masks per image from a COCO instances file, keyed by the base name of file_name (the
 * evaluated folder's file names). Fails when no evaluated image has any.
 */
export async function readGroundTruth(path: string, images: string[]): Promise<GroundTruth> {
  let annotations;
  try {
    ({ annotations } = await importers.coco(path, { imageSize: () => undefined }));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  // only the evaluated images' masks are decoded: a dataset's GT file (COCO val2017: 36,000
  // masks) decoded whole would need gigabytes for the few images measured
  const evaluated = new Set(images.map((p) => basename(p)));
  const gt: GroundTruth = new Map();
  for (const a of annotations) {
    const name = basename(a.imageKey.replace(/\\/g, '/'));
    if (!evaluated.has(name)) continue;
    const masks = gt.get(name);
    if (masks) masks.push(a.mask);
    else gt.set(name, [a.mask]);
  }
  if (!images.some((p) => gt.has(basename(p)))) {
    throw new CliError(`${path}: no object masks for any evaluated image (file_name is matched by base name: ${images.map((p) => basename(p)).join(', ')})`);
  }
  return gt;
}

export const evalCommand: CommandGroup = async (argv) => {
  const args = parseArgs(argv, ['model', 'reference', 'images', 'out', 'prompts', 'gt']);
  const model = required(args, 'model');
  const reference = required(args, 'reference');
  const images = listImageFiles(required(args, 'images'));
  const out = required(args, 'out');
  // checked before the models run, not when the result is written minutes later
  checkOutFolder(out);
  checkOutFile(out);
  const promptsPath = optional(args, 'prompts');
  const prompts = promptsPath ? readPrompts(promptsPath) : undefined;
  if (promptsPath && prompts) checkPromptsMeetImages(promptsPath, prompts, images);
  const gtPath = optional(args, 'gt');
  const gt = gtPath ? await readGroundTruth(gtPath, images) : undefined;
  const result = await evaluate(model, reference, images, { ...(prompts ? { prompts } : {}), ...(gt ? { gt } : {}) });
  writeFileAtomic(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
};
