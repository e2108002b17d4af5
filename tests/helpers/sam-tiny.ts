/**
 * The reference fixtures (sam-tiny, random weights; sam-shapes, trained): paths, manifest, a
 * model directory built once per test file, and the README's mask agreement rule.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { GraphBuilder } from '../../main/onnx/builder.ts';
import type { ModelProto } from '../../main/onnx/proto.ts';
import { importModel } from '../../main/sam/model-dir.ts';
import { decodeImage } from '../../main/sam/image/index.ts';
import { automaticPrompts, type Prompt } from '../../main/ptq4sam/prompts.ts';

export const SAM_TINY = join(import.meta.dirname, '../fixtures/sam-tiny');
export const SAM_TINY_PTH = join(SAM_TINY, 'sam_tiny.pth');
export const SAM_TINY_CONFIG = join(SAM_TINY, 'config.json');
export const REPO = join(import.meta.dirname, '../..');

export interface ManifestCase {
  id: string;
  prompt: { points?: [number, number][]; labels?: number[]; box?: [number, number, number, number] };
  decoder_inputs?: Record<string, string>;
  decoder_outputs?: Record<string, string>;
  predictor_multimask?: { masks_png: string[]; scores: string };
  previous?: number;
}
export interface ManifestImage { image: string; width: number; height: number; cases: ManifestCase[] }

/** One reference fixture folder: the same files and manifest layout for both models. */
export interface ReferenceFixture {
  name: string;
  dir: string;
  /** the float32 checkpoint the references were computed with, and its float16 copy */
  pth: string;
  pthFp16: string;
  config: string;
}

export const SAM_TINY_FIXTURE: ReferenceFixture = {
  name: 'sam-tiny', dir: SAM_TINY, pth: SAM_TINY_PTH, pthFp16: join(SAM_TINY, 'sam_tiny_fp16.pth'), config: SAM_TINY_CONFIG,
};

const SAM_SHAPES = join(import.meta.dirname, '../fixtures/sam-shapes');
export const SAM_SHAPES_FIXTURE: ReferenceFixture = {
  name: 'sam-shapes', dir: SAM_SHAPES, pth: join(SAM_SHAPES, 'sam_shapes.pth'), pthFp16: join(SAM_SHAPES, 'sam_shapes_fp16.pth'), config: join(SAM_SHAPES, 'config.json'),
};

export function manifest(fixture: ReferenceFixture = SAM_TINY_FIXTURE): { images: ManifestImage[] } {
  return JSON.parse(readFileSync(join(fixture.dir, 'manifest.json'), 'utf8'));
}

/** Imports the fixture's checkpoint into a fresh model directory; returns it and a cleanup function. */
export async function fixtureModelDir(fixture: ReferenceFixture): Promise<{ dir: string; cleanup: () => void }> {
  const root = mkdtempSync(join(tmpdir(), `${fixture.name}-`));
  const dir = join(root, 'model');
  mkdirSync(dir);
  await importModel(fixture.pth, dir, { configPath: fixture.config });
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export function samTinyModelDir(): Promise<{ dir: string; cleanup: () => void }> {
  return fixtureModelDir(SAM_TINY_FIXTURE);
}

/** An 8-bit grey PNG as a 0/1 mask. */
export async function readMaskPng(path: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { data, info } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: Uint8Array.from(data, (v) => (v > 127 ? 1 : 0)) };
}

/**
 * Mask agreement as the fixture README defines it: at most 0.1% of the pixels differ and,
 * where the reference covers at least 1% of the image, IoU >= 0.99. Two empty masks agree.
 */
export function masksAgree(ours: Uint8Array, reference: Uint8Array): { agree: boolean; differing: number; iou: number } {
  let inter = 0, union = 0, diff = 0, refArea = 0;
  for (let i = 0; i < reference.length; i++) {
    const a = ours[i]! > 0, b = reference[i]! > 0;
    if (a && b) inter++;
    if (a || b) union++;
    if (a !== b) diff++;
    if (b) refArea++;
  }
  const iou = union === 0 ? 1 : inter / union;
  const fracDiff = diff / reference.length;
  const agree = fracDiff <= 0.001 && (refArea < 0.01 * reference.length || iou >= 0.99);
  return { agree, differing: diff, iou };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Prepends normalisation, HWC->NCHW and zero padding to 1024 in front of our encoder graph: an
 * encoder with its preprocessing inside, as samexporter's --use-preprocess writes them.
 */
export function withBakedPreprocessing(encoder: ModelProto): ModelProto {
  const b = new GraphBuilder({ constPrefix: 'preprocess_' });
  const x = b.input('image', 'float32', ['h', 'w', 3]);
  const norm = b.op('Div', [b.op('Sub', [x, b.constF([123.675, 116.28, 103.53])]), b.constF([58.395, 57.12, 57.375])]);
  const nchw = b.op('Unsqueeze', [b.op('Transpose', [norm], { perm: [2, 0, 1] }), b.constI64([0])]);
  const hw = b.op('Slice', [b.op('Shape', [nchw]), b.constI64([2]), b.constI64([4])]);
  const pad = b.op('Sub', [b.constI64([1024, 1024]), hw]);
  const pads = b.op('Concat', [b.constI64([0, 0, 0, 0, 0, 0]), pad], { axis: 0 });
  b.op('Pad', [nchw, pads], {}, { outputs: ['input_image'] });
  const g = encoder.graph!;
  g.node = [...b.nodes, ...(g.node ?? [])];
  g.initializer = [...b.initializers, ...(g.initializer ?? [])];
  g.input = b.inputs;
  return encoder;
}

/**
 * The quantizer's calibration prompts (3 clicks and a box per image) for each file: the sam-tiny
 * guards keep these rather than eval's default set, whose multi-point prompts move this
 * random-weight model's masks a lot under any perturbation (measured: 0.916 at w8a8).
 */
export async function calibrationPromptSet(files: string[]): Promise<Record<string, Prompt[]>> {
  const prompts: Record<string, Prompt[]> = {};
  for (const f of files) {
    const { width, height } = await decodeImage(f);
    prompts[basename(f)] = automaticPrompts(width, height);
  }
  return prompts;
}
