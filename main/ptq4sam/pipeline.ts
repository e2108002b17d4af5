/**
 * `quantize` end to end: read a float model directory, calibrate, BIG, AGQ, quantize weights,
 * emit integer graphs, verify the fusion in onnxruntime's optimized graphs, measure speed and
 * fidelity against the float model in the same run, and write a model directory with its report.
 */
import * as ort from 'onnxruntime-node';
import { SESSION_CONFIG } from '../sam/session-config.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { countOps, graphInputs, graphOutputs, loadModel, saveModel, toNumber, type ModelProto } from '../onnx/index.ts';
import { decodeImage } from '../sam/image/index.ts';
import { computeModelId, DECODER_FILE, ENCODER_FILE, readModelInfo, writeModelInfo, type ModelFamily, type ModelInfo } from '../sam/model-dir.ts';
import { calibrationPrompts } from '../project/index.ts';
import { calibrate, type BigModuleResult, type Progress } from './calibrate.ts';
import { BIG_DECISION } from './big.ts';
import type { EmitParams } from './emit/context.ts';
import { emitQuantizedGraph, weightValues } from './emit/quantized-graph.ts';
import { signedWeightsSaturate } from '../sam/int8-kernel.ts';
import { evaluate, type EvalResult } from './eval.ts';
import { dirBytes, fileSha256, listImageFiles } from '../base/index.ts';
import { getMethod, type QuantMethod } from './methods/index.ts';
import type { GraphKind, Target, WeightSite } from './ops/types.ts';
import { automaticPrompts, boxesFor, type Prompt } from './prompts.ts';
import type { AgqParams } from './quantizers/log2.ts';
import { paramsFromRange, type UniformParams } from './quantizers/uniform.ts';
import { quantizeColumns, quantizeRows, type PerChannelWeights } from './quantizers/weight-search.ts';
import { remainingSeconds } from './estimate.ts';
import { planQuantization } from './registry.ts';
import { histogram, writeReport, type QuantReport } from './report.ts';

export { BIT_SETTINGS } from '../../preload/contract/enums.ts';
export const DEFAULT_CALIB_COUNT = 32;

export type SoftmaxChoice = Record<GraphKind, 'agq' | 'uniform'>;

/**
 * The softmax choice, per graph, at every bit width (README, PTQ4SAM section). Encoder:
 * uniform. At 8 bits a uniform grid keeps the image encoder's attention as close to fp32 as
 * AGQ does (sam-tiny encoder-only quantization: mean mask IoU 0.995 uniform, 0.997 AGQ), while
 * AGQ's log2 quantizer adds float passes over every global attention map and made the encoder
 * slower than fp32 (sam-tiny 3.9 s vs 1.0 s; ViT-B w6a6 and w4a4 0.75x fp32). Below 8 bits that
 * uniform grid keeps 8 bits (SOFTMAX_GRID_BITS), the one named deviation that makes a lower
 * width run faster than fp32: the A.V product stays an integer kernel, every other tensor takes
 * the chosen width. `softmax: {encoder: 'agq', ...}` is the spec's exact b-bit model.
 * Decoder: AGQ. Its attention maps are tiny (about 7 x 4096), so AGQ costs nothing there, and
 * it was the more faithful choice for the token-to-image maps whose probabilities are almost
 * all tiny while every decoder op was quantized (sam-tiny decoder with AGQ: mean IoU
 * 0.946-0.956 against 0.887-0.900 with a uniform grid).
 */
export const DEFAULT_SOFTMAX: SoftmaxChoice = { encoder: 'uniform', decoder: 'agq' };
/** bits of a uniform softmax grid chosen for speed where AGQ was asked for (at least these) */
export const SOFTMAX_GRID_BITS = 8;

/** op types onnxruntime runs as integer kernels (names without domain) */
export const INTEGER_OP_TYPES = new Set(['MatMulInteger', 'MatMulIntegerToFloat', 'QLinearMatMul', 'QGemm', 'QLinearConv', 'ConvInteger', 'DynamicQuantizeMatMul', 'QAttention']);

export interface QuantizeOptions {
  modelDir: string;
  calibDir: string;
  /** where to write (an empty directory; the CLI passes its atomic temp dir) */
  outDir: string;
  bits: { w: number; a: number };
  /** a registered method's name (methods/index.ts) */
  method: string;
  /** BIG, where the method has it (default on) */
  big?: boolean;
  /** AGQ, where the method has it (default on) */
  agq?: boolean;
  /** quantize the decoder's token-only ops too (default: kept float, see DECODER_TOKEN_SIDE) */
  decoderTokenSide?: boolean;
  /**
   * Per graph, whether the softmax output takes AGQ (float ops, A.V in float) or a uniform grid
   * (integer A.V, at least SOFTMAX_GRID_BITS bits when AGQ was asked for). Default
   * DEFAULT_SOFTMAX: measured choice, see there.
   */
  softmax?: SoftmaxChoice;
  calibCount?: number;
  /** the calibration images, in place of calibDir's listing (the setup's calibration split) */
  calibFiles?: string[];
  projectDb?: string;
  /**
   * images for the report's fidelity numbers, none of them a calibration image (the setup's
   * held-out split); default: the folder's images beyond calibCount, else the calibration
   * images themselves, which the report then marks `held_out: false`
   */
  measureFiles?: string[];
  /**
   * 8-bit weights, and the second operands of activation products, as uint8 (default: where this
   * machine's u8 x s8 kernel saturates, sam/int8-kernel.ts); false writes them as int8
   */
  unsignedWeights?: boolean;
  /** at most this many images measured for the report (default 4) */
  measureImages?: number;
  /** the report's measurement in full (`eval`'s result) and the images it measured on */
  onMeasured?: (result: EvalResult, images: string[]) => void;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

const PROMPT_INPUTS = ['point_coords', 'point_labels', 'mask_input', 'has_mask_input', 'orig_im_size'];
/** What each family's graphs exchange: the encoder's first output and the decoder's inputs. */
const SIGNATURES: Record<ModelFamily, { label: string; embedding: string; decoderInputs: string[] }> = {
  sam: { label: 'SAM', embedding: 'image_embeddings', decoderInputs: ['image_embeddings', ...PROMPT_INPUTS] },
  'sam2.1': { label: 'SAM 2.1', embedding: 'image_embed', decoderInputs: ['image_embed', 'high_res_feats_0', 'high_res_feats_1', ...PROMPT_INPUTS] },
};

function checkSam(dir: string, family: ModelFamily, encoder: ModelProto, decoder: ModelProto): void {
  const encIn = graphInputs(encoder.graph!);
  const encOut = graphOutputs(encoder.graph!);
  const sig = SIGNATURES[family];
  if (encIn.length !== 1 || !encOut.some((o) => o.name === sig.embedding)) throw new Error(`${join(dir, ENCODER_FILE)}: not a ${sig.label} image encoder (expects one input and an ${sig.embedding} output)`);
  const decIn = new Set(graphInputs(decoder.graph!).map((i) => i.name));
  const missing = sig.decoderInputs.filter((n) => !decIn.has(n));
  if (missing.length) throw new Error(`${join(dir, DECODER_FILE)}: not a ${sig.label} decoder (missing inputs ${missing.join(', ')})`);
}

type WeightTarget = Target & { weight: WeightSite };

/**
 * Per-channel weights of every target with one, by the method's weight quantizer; a method's
 * weight step then re-chooses the codes of each weight with calibration inputs on its grids.
 */
function quantizeWeights(model: ModelProto, targets: WeightTarget[], bits: number, method: QuantMethod, hessians: Map<string, Float64Array>, onDone: () => void): Map<string, PerChannelWeights> {
  const out = new Map<string, PerChannelWeights>();
  for (const { weight } of targets) {
    const { data, dims } = weightValues(model, weight.name);
    const q = weight.channelAxis === 1 ? quantizeColumns(data, dims[0]!, dims[1]!, bits, method.weights) : quantizeRows(data, dims[0]!, bits, method.weights);
    const h = weight.input ? hessians.get(weight.input.tensor) : undefined;
    if (method.weightStep && h) q.codes = method.weightStep.codes(data, dims[0]!, dims[1]!, h, q, bits);
    out.set(weight.name, q);
    onDone();
  }
  return out;
}

function weightCount(model: ModelProto, name: string): number {
  const t = (model.graph?.initializer ?? []).find((i) => i.name === name);
  return (t?.dims ?? []).reduce((n: number, d) => n * toNumber(d), 1);
}

async function optimizedOpCounts(bytesPath: string): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'ptq4sam-opt-'));
  try {
    const optimized = join(dir, 'optimized.onnx');
    const s = await ort.InferenceSession.create(bytesPath, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3, extra: SESSION_CONFIG });
    await s.release();
    return countOps(loadModel(optimized).graph!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the report measures on: up to `max` of the candidates that are not calibration images
 * (by content: the same photo under two names is still a calibration image), spread over the
 * list; with none left, the first calibration images, and the report says so.
 */
export function measurementImages(candidates: string[], calibration: string[], max: number, calibrationSha256 = calibration.map(fileSha256)): { images: string[]; heldOut: boolean } {
  const seen = new Set(calibrationSha256);
  const unseen = candidates.filter((f) => !seen.has(fileSha256(f)));
  if (unseen.length === 0) return { images: calibration.slice(0, max), heldOut: false };
  return { images: spread(unseen, max), heldOut: true };
}

/** `n` items of `list` at evenly spaced positions (all of them when it has no more). */
export function spread<T>(list: T[], n: number): T[] {
  if (list.length <= n) return [...list];
  return Array.from({ length: n }, (_, i) => list[Math.floor(((i + 0.5) * list.length) / n)]!);
}

const MODEL_FILES = [ENCODER_FILE, `${ENCODER_FILE}.data`, DECODER_FILE, `${DECODER_FILE}.data`];

export async function quantizeModelDir(o: QuantizeOptions): Promise<QuantReport> {
  const started = performance.now();
  const method = getMethod(o.method);
  const useBig = method.big !== undefined && (o.big ?? true);
  const agqRequested = (method.agq ?? false) && (o.agq ?? true);
  const choice = o.softmax ?? DEFAULT_SOFTMAX;
  const useAgq: Record<GraphKind, boolean> = {
    encoder: agqRequested && choice.encoder === 'agq',
    decoder: agqRequested && choice.decoder === 'agq',
  };
  // A uniform softmax where AGQ was asked for is chosen for speed: its grid's top end comes from
  // AGQ's output-aware search and it keeps 8 bits (A.V stays an integer product at every width);
  // --no-agq and methods without AGQ keep the spec's plain quantizer at the chosen width.
  const uniformForSpeed: Record<GraphKind, boolean> = { encoder: agqRequested && !useAgq.encoder, decoder: agqRequested && !useAgq.decoder };
  const softmaxBits: Record<GraphKind, number> = {
    encoder: uniformForSpeed.encoder ? Math.max(SOFTMAX_GRID_BITS, o.bits.a) : o.bits.a,
    decoder: uniformForSpeed.decoder ? Math.max(SOFTMAX_GRID_BITS, o.bits.a) : o.bits.a,
  };
  const info: ModelInfo = readModelInfo(o.modelDir);
  const encoder = loadModel(join(o.modelDir, ENCODER_FILE));
  const decoder = loadModel(join(o.modelDir, DECODER_FILE));
  checkSam(o.modelDir, info.family, encoder, decoder);
  const plan = planQuantization(encoder, decoder, { decoderTokenSide: o.decoderTokenSide ?? false });
  if (!plan.targets.some((t) => t.graph === 'encoder') || !plan.targets.some((t) => t.graph === 'decoder')) {
    throw new Error(`${o.modelDir}: no quantizable SAM layers found (expected image_encoder.blocks.* and mask_decoder.transformer.* linears)`);
  }

  const listed = o.calibFiles ?? listImageFiles(o.calibDir);
  if (listed.length === 0) throw new Error(`${o.calibDir}: no calibration images`);
  const files = listed.slice(0, o.calibCount ?? DEFAULT_CALIB_COUNT);
  const calibrationSha256 = files.map(fileSha256);
  const measured = measurementImages(o.measureFiles ?? listed.slice(files.length), files, o.measureImages ?? 4, calibrationSha256);
  // the measured images are decoded now too: one that does not decode would end the run at its
  // last step, after the whole calibration
  let measureMegapixels = 0;
  for (const path of measured.images) {
    const { width, height } = await decodeImage(path);
    measureMegapixels += (width * height) / 1e6;
  }
  const boxes: Map<string, Prompt[]> = o.projectDb ? calibrationPrompts(o.projectDb) : new Map();
  const images = await Promise.all(files.map(async (path) => {
    const img = await decodeImage(path);
    const fromProject = boxesFor(boxes, path);
    return { path, image: () => decodeImage(path), prompts: fromProject.length ? fromProject : automaticPrompts(img.width, img.height) };
  }));

  const weightTargets = plan.targets.filter((t): t is WeightTarget => t.weight !== undefined);
  const millionWeights = weightTargets.reduce((n, t) => n + weightCount(t.graph === 'encoder' ? encoder : decoder, t.weight.name), 0) / 1e6;
  const calibrationStart = performance.now();
  const measureImages = measured.images.length;
  const onCalibrationProgress = (p: Progress) => {
    if (p.phase !== 'encoder' || p.done === 0) return o.onProgress?.(p);
    const secondsPerImage = (performance.now() - calibrationStart) / 1000 / p.done;
    o.onProgress?.({ ...p, etaSeconds: remainingSeconds({ images: p.total, imagesDone: p.done, secondsPerImage, millionWeights, weightBits: o.bits.w, measureImages, measureMegapixels }) });
  };
  const cal = await calibrate(encoder, decoder, plan, images, {
    method, preprocessing: info.preprocessing.kind, family: info.family, activationBits: o.bits.a, big: useBig, agq: useAgq,
    softmaxSearch: uniformForSpeed,
    softmaxBits,
    bigImages: 8, sampleSize: 4096, agqMacBudget: 1_000_000,
    onProgress: onCalibrationProgress, ...(o.signal ? { signal: o.signal } : {}),
  });

  const activations = new Map<string, UniformParams>();
  const softmaxIds = new Map(plan.targets.flatMap((t) => (t.attention ? [[t.attention.probs.id, t.graph] as const] : [])));
  for (const [id, r] of cal.ranges) {
    const graph = softmaxIds.get(id);
    activations.set(id, paramsFromRange(r.lo, r.hi, graph ? softmaxBits[graph] : o.bits.a));
  }
  const agq = new Map<string, AgqParams>();
  for (const [id, a] of cal.agq) agq.set(id, { scale: a.scale, tau: a.tau, bits: o.bits.a, variant: 'paper' });

  let done = 0;
  const tick = () => o.onProgress?.({ phase: 'weights', done: ++done, total: weightTargets.length });
  const byGraph = (g: GraphKind) => plan.targets.filter((t) => t.graph === g);
  const weights = new Map([
    ...quantizeWeights(encoder, weightTargets.filter((t) => t.graph === 'encoder'), o.bits.w, method, cal.hessians, tick),
    ...quantizeWeights(cal.decoder, weightTargets.filter((t) => t.graph === 'decoder'), o.bits.w, method, cal.hessians, tick),
  ]);

  o.onProgress?.({ phase: 'emit', done: 0, total: 2 });
  const params: EmitParams = { activations, agq, weights };
  // uint8 where this machine's u8 x s8 kernel saturates, int8 where it is exact and the faster
  // kernel (sam/int8-kernel.ts): 8-bit weights, and the second operands of activation products
  const saturates = o.unsignedWeights ?? await signedWeightsSaturate();
  const codes = { unsignedWeights: o.bits.w >= 8 && saturates, signedOperands: !saturates };
  const weightCodes = codes.unsignedWeights ? 'uint8' : 'int8';
  const operandCodes = codes.signedOperands ? 'int8' : 'uint8';
  const qEncoder = emitQuantizedGraph(encoder, byGraph('encoder'), params, o.bits.w, codes);
  const qDecoder = emitQuantizedGraph(cal.decoder, byGraph('decoder'), params, o.bits.w, codes);
  saveModel(qEncoder.model, join(o.outDir, ENCODER_FILE));
  saveModel(qDecoder.model, join(o.outDir, DECODER_FILE));
  const quantizeSeconds = (performance.now() - started) / 1000;

  o.onProgress?.({ phase: 'verify', done: 0, total: 2 });
  const integerOps: Record<string, number> = {};
  for (const f of [ENCODER_FILE, DECODER_FILE]) {
    for (const [op, n] of Object.entries(await optimizedOpCounts(join(o.outDir, f)))) if (INTEGER_OP_TYPES.has(op)) integerOps[op] = (integerOps[op] ?? 0) + n;
  }

  const quantInfo: ModelInfo = {
    ...info,
    name: `${info.name} (${method.name} w${o.bits.w}a${o.bits.a}${softmaxBits.encoder > o.bits.a ? ', encoder A.V 8-bit' : ''})`,
    source: { kind: 'quantized', file: info.id, sha256: null },
    createdAt: new Date().toISOString(),
    quantization: { method: method.name, bits: o.bits, big: useBig, agq: useAgq.encoder || useAgq.decoder, from: info.id, calibrationImages: files.length, weightCodes, operandCodes },
  };
  quantInfo.id = await computeModelId(o.outDir);
  writeModelInfo(o.outDir, quantInfo);

  o.onProgress?.({ phase: 'measure', done: 0, total: 1 });
  const fidelity: EvalResult = await evaluate(o.outDir, o.modelDir, measured.images, { encoderRepeats: 1 });
  // eval reads the calibration images from report.json, which is written below: say it here
  fidelity.held_out = measured.heldOut;
  fidelity.calibration_overlap = measured.heldOut ? [] : measured.images.map((f) => basename(f));
  o.onMeasured?.(fidelity, measured.images);

  const report: QuantReport = {
    method: method.name,
    bits: o.bits,
    big: {
      test: BIG_DECISION,
      bimodal: cal.big.filter((b) => b.bimodal).map((b) => b.module),
      folded: cal.big.filter((b) => b.folded).map((b) => b.module),
      paper_bimodal: cal.big.filter((b) => b.paperBimodal).map((b) => b.module),
      examined: cal.big.map((b: BigModuleResult) => ({
        module: b.module, votes: b.votes.filter(Boolean).length, of: b.votes.length, paper_bimodal: b.paperBimodal, folded: b.folded,
        keys_before: histogram(b.before), keys_after: b.folded ? histogram(b.after) : null,
      })),
    },
    agq: [...cal.agq.values()].map((a) => ({ name: a.module, tau: a.tau, scale: a.scale, errors: a.errors })),
    softmax: useAgq.encoder && useAgq.decoder ? 'agq' : !useAgq.encoder && !useAgq.decoder ? 'uniform' : 'mixed',
    softmax_by_graph: { encoder: useAgq.encoder ? 'agq' : 'uniform', decoder: useAgq.decoder ? 'agq' : 'uniform' },
    softmax_bits: softmaxBits,
    weight_codes: weightCodes,
    operand_codes: operandCodes,
    size_bytes: { fp32: dirBytes(o.modelDir, MODEL_FILES), quantized: dirBytes(o.outDir, MODEL_FILES) },
    integer_ops: integerOps,
    float_modules: plan.keptFloat,
    integer_products_expected: qEncoder.integerProducts + qDecoder.integerProducts,
    quantized_layers: plan.targets.length,
    latency_ms: fidelity.latency_ms,
    fidelity: {
      prompts: fidelity.prompts, mean_iou: fidelity.mean_iou, min_iou: fidelity.min_iou, embedding_rel_error: fidelity.embedding_rel_error,
      images: measured.images.map((f) => basename(f)), held_out: measured.heldOut,
    },
    calibration: { images: files.length, forward_seconds: cal.forwardSeconds, quantize_seconds: quantizeSeconds, image_sha256: calibrationSha256 },
    model_id: quantInfo.id,
  };
  writeReport(o.outDir, report);
  return report;
}

