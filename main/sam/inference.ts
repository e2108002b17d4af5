/**
 * SAM inference on onnxruntime sessions: encoder input preparation per model preprocessing,
 * decoder feeds in the SAM ONNX contract, the single-mask `best` rule, and cropped masks for the
 * UI. Runs inside the engine's worker thread (and directly in tests); never on the app's main
 * thread.
 */
import * as ort from 'onnxruntime-node';
import { SESSION_CONFIG } from './session-config.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DECODER_FILE, ENCODER_FILE, readModelInfo, writeModelInfo, type ModelFamily, type ModelInfo, type Preprocessing } from './model-dir.ts';
import { convertModelFileCodes, signedWeightsSaturate, type OperandStorage } from './int8-kernel.ts';
import { resizeBilinearPil, resizedSize, samEncoderInput, UnusableImageError, type RgbImage } from './image/index.ts';
import { EMBEDDING_SHAPE, type PredictResult, type PredictViews, type SegmentPrompt, type SegmentResult } from './engine-api.ts';
import { sam2EncoderInput } from './image/sam2-input.ts';
import { concatSam2Features, SAM2_FEATURES_LENGTH, sam2BestMaskIndex, sam2DecoderFeeds } from './sam2-inference.ts';
import { decodeModel, encodeModel, encodeSelfContained, loadModel, usesExternalData } from '../onnx/model-io.ts';
import { EMPTY_CROP, maskCropOfCandidate, thinnedView, viewMaskThinned, type PredictPostprocess } from './view-masks.ts';
import { MASK_VIEW_MAX_PIXELS } from '../../preload/contract/index.ts';
import { scanGlobalAttention } from './attention-scan.ts';
import { POSTPROCESS_INPUT, columnGathersAsRows, narrowFinalAttention, postprocessDecoder, postprocessSource, reassociateAttention, refinementGraph, setInputShapes, splitDecoder, takeImageSide } from './decoder-split.ts';
import type { ModelProto } from '../onnx/proto.ts';

export type { PredictPostprocess };

/** SAM 2.1's decoder output: whether an object is there at all */
const OBJECT_SCORE = 'object_score_logits';
export const LOW_RES = 256;

export type ExecutionProviderName = 'cpu' | 'cuda' | 'dml' | 'coreml';

export interface SessionSettings {
  /** intra-op threads; 0 lets onnxruntime decide */
  threads?: number;
  executionProvider?: ExecutionProviderName;
  /**
   * on the CPU, the encoder's global attentions run a chunk of query rows at a time
   * (attention-scan.ts: the same values, 0.8x the time); false runs encoder.onnx as it is
   */
  scanAttention?: boolean;
}

export interface LoadedSam {
  dir: string;
  info: ModelInfo;
  encoder: ort.InferenceSession;
  decoder: ort.InferenceSession;
  /** the decoder pruned to iou_predictions + low_res_masks (the UI postprocesses in its crop) */
  decoderCore: ort.InferenceSession;
  /** the execution provider actually in use after the self-test */
  provider: ExecutionProviderName;
  warnings: string[];
  settings: SessionSettings;
  /** the decoder split for clicks without a fed-back mask (decoder-split.ts), made on first use */
  split?: Promise<SplitDecoderSessions>;
  /** decoder.onnx as parsed at load, kept until the split is cut from it (so the file is read once) */
  decoderGraph?: ModelProto;
  /** the split's image-part outputs for the embedding clicked on (or prepared, `prepareClicks`) last */
  imageSide?: { embedding: Float32Array; feeds: Promise<Record<string, ort.Tensor>> };
  /** `segment`'s and box decoding's sessions (`BoxDecoderSessions`), cut on first use; null: they run the whole decoder */
  boxDecoder?: Promise<BoxDecoderSessions | null>;
  /** the box split's image-part outputs for the embedding of the boxes decoded last */
  boxSide?: { embedding: Float32Array; feeds: Promise<Record<string, ort.Tensor>> };
}

/**
 * The decoder as `segment`, box decoding, the evaluation and the automatic generator run it for
 * prompts without a fed-back mask: decoder.onnx split (its image part runs once per image, its
 * prompt part reassociated as the clicks' is) and its own postprocessing for one candidate at a
 * time (decoder-split.ts), for SAM and SAM 2.1. All four take these same sessions, so a box gives
 * the same mask and score in each; the reassociated prompt part took 27-33 ms per box on ViT-B's
 * decoder where the unreassociated one took 86 ms. Null where a graph cannot be cut so: those
 * run the whole decoder.
 */
export interface BoxDecoderSessions {
  image: ort.InferenceSession; prompt: ort.InferenceSession; postprocess: ort.InferenceSession;
  /** the image part's inputs; the image inputs the prompt part reads as they are (SAM 2.1's high-resolution maps, unless the image part reorders them) */
  imageInputs: string[]; passedThrough: string[];
  /** the prompt part's output the postprocessing reads a plane of (`postprocessSource`) */
  source: string;
}

/**
 * `refine`: for fed-back masks, the prompt part plus the mask's share of the image side
 * (`refinementGraph`), else the whole decoder proper with the prompt part's reassociations;
 * either reads the image part's outputs `refineSide`; `imageInputs`: the image
 * part's inputs; `passedThrough`: the image inputs the prompt part reads as they are.
 */
export interface SplitDecoderSessions {
  image: ort.InferenceSession; prompt: ort.InferenceSession; refine: ort.InferenceSession; imageInputs: string[]; passedThrough: string[]; refineSide: string[];
  /** the prompt part pruned to iou_predictions (screening): its graph, and its session, made by the first `runDecoderScores` */
  scoresGraph: Uint8Array;
  scores?: Promise<ort.InferenceSession>;
}

function sessionOptions(s: SessionSettings, provider: ExecutionProviderName, encoder = false): ort.InferenceSession.SessionOptions {
  return {
    // No session spins its idle threads (a click's latency is the same either way, and spinning
    // took the cores from the main process and the window just when an answer had to reach them),
    // and denormals are flushed to zero: session-config.ts.
    extra: SESSION_CONFIG,
    // For the encoder, onnxruntime's planned memory pattern pre-allocates every global
    // attention map at once: ViT-B peaked at 6.9 GB RSS with it and 3.8 GB without, at the
    // same speed (bench notes in the README).
    ...(encoder ? { enableMemPattern: false } : {}),
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: s.threads ?? 0,
    interOpNumThreads: 1,
    // warnings about shape-inference merges of imported graphs are noise to users
    logSeverityLevel: 3,
  };
}

/** Keeps only the nodes needed for `outputs` (a smaller graph runs the decoder proper alone). */
export function pruneToOutputs(model: ModelProto, outputs: string[]): ModelProto {
  const g = model.graph!;
  const needed = new Set(outputs);
  const keep: typeof g.node = [];
  for (const node of [...(g.node ?? [])].reverse()) {
    if ((node.output ?? []).some((o) => needed.has(o))) {
      keep.unshift(node);
      for (const i of node.input ?? []) if (i) needed.add(i);
    }
  }
  const pruned = { ...model, graph: { ...g, node: keep, output: (g.output ?? []).filter((o) => outputs.includes(o.name ?? '')), initializer: (g.initializer ?? []).filter((t) => needed.has(t.name ?? '')), input: (g.input ?? []).filter((i) => needed.has(i.name ?? '')) } };
  return pruned as ModelProto;
}

async function createSession(pathOrBytes: string | Uint8Array, s: SessionSettings, provider: ExecutionProviderName, encoder = false): Promise<ort.InferenceSession> {
  const opts = sessionOptions(s, provider, encoder);
  return typeof pathOrBytes === 'string' ? ort.InferenceSession.create(pathOrBytes, opts) : ort.InferenceSession.create(pathOrBytes, opts);
}

export async function loadSam(dir: string, settings: SessionSettings = {}): Promise<LoadedSam> {
  const info = readModelInfo(dir);
  const warnings: string[] = [];
  let provider = settings.executionProvider ?? 'cpu';
  await matchCodesToThisCpu(dir, info, warnings);
  // onnxruntime follows the encoder's external data itself: check where it points first
  const encoderPath = join(dir, ENCODER_FILE);
  const encoderModel = loadModel(encoderPath, { loadExternalData: false });
  // the scanned graph, made when the CPU opens the encoder (once), is passed as bytes, which
  // cannot point to external data: such a model (fp32 ViT-H) runs as it is
  let scannedEncoder: Uint8Array | null | undefined;
  const scanned = (): Uint8Array | null => {
    if (scannedEncoder === undefined) scannedEncoder = settings.scanAttention !== false && !usesExternalData(encoderModel) && scanGlobalAttention(encoderModel) > 0 ? encodeModel(encoderModel) : null;
    return scannedEncoder;
  };
  // The decoder file is read once: its bytes make the full session and, parsed, the pruned one.
  // Decoders are small (~16 MB for ViT-H) and never use external data; one that did is read
  // with its data inlined (checked where it points) and re-encoded self-contained.
  const decoderPath = join(dir, DECODER_FILE);
  let decoderBytes: Uint8Array = readFileSync(decoderPath);
  let decoderModel = decodeModel(decoderBytes, decoderPath);
  if (usesExternalData(decoderModel)) {
    decoderModel = loadModel(decoderPath);
    decoderBytes = encodeSelfContained(decoderModel, decoderPath);
  }
  const coreBytes = encodeSelfContained(pruneToOutputs(decoderModel, ['iou_predictions', 'low_res_masks']), decoderPath);
  // the same values, the resize to the original size's column gathers done on rows (2x faster);
  // the split, cut later from this graph, prunes the postprocessing away
  if (columnGathersAsRows(decoderModel)) decoderBytes = encodeSelfContained(decoderModel, decoderPath);
  const openEncoder = async (p: ExecutionProviderName) => {
    // chunks that fit a core's cache pay on the CPU only
    const bytes = p === 'cpu' ? scanned() : null;
    if (!bytes) return createSession(encoderPath, settings, p, true);
    try {
      return await createSession(bytes, settings, p, true);
    } catch (err) {
      warnings.push(`${encoderPath}: its attentions could not run in chunks (${(err as Error).message.split('\n')[0]}); running it as it is`);
      return createSession(encoderPath, settings, p, true);
    }
  };
  const open = async (p: ExecutionProviderName) => {
    const encoder = await openEncoder(p);
    const decoder = await createSession(decoderBytes, settings, p);
    const decoderCore = await createSession(coreBytes, settings, p);
    return { encoder, decoder, decoderCore };
  };
  let sessions;
  try {
    sessions = await open(provider);
    if (provider !== 'cpu') await selfTest(sessions.decoderCore, info);
  } catch (err) {
    if (provider === 'cpu') throw new Error(`${dir}: cannot load model (${(err as Error).message.split('\n')[0]})`);
    warnings.push(`execution provider ${provider} failed its self-test (${(err as Error).message.split('\n')[0]}); using cpu`);
    provider = 'cpu';
    sessions = await open('cpu');
  }
  return { dir, info, ...sessions, provider, warnings, settings, ...(info.family === 'sam' ? { decoderGraph: decoderModel } : {}) };
}

/**
 * A quantized model's integer operands stored for this CPU's kernel, converted once when it is
 * loaded (int8-kernel.ts), and model.json records it, so later loads skip the conversion:
 * - where the u8 x s8 kernel saturates, int8 8-bit weights and int8 second operands of
 *   activation products (a model quantized on a CPU with VNNI) would compute wrong products:
 *   they become uint8, with a warning;
 * - where it is exact, uint8 ones (quantized on a saturating CPU, or by an earlier version) run
 *   on the slower u8 x u8 kernel: they become int8, the same products.
 */
async function matchCodesToThisCpu(dir: string, info: ModelInfo, warnings: string[]): Promise<void> {
  const q = info.quantization as { bits?: { w?: number }; weightCodes?: string; operandCodes?: string } | undefined;
  if (!q || info.source.kind !== 'quantized') return;
  const eightBitWeights = q.bits?.w === 8;
  const saturates = await signedWeightsSaturate();
  const to: OperandStorage = saturates ? 'uint8' : 'int8';
  // before these fields: 8-bit weights as int8, operands as uint8
  if ((!eightBitWeights || (q.weightCodes ?? 'int8') === to) && (q.operandCodes ?? 'uint8') === to) return;
  try {
    let changed = 0;
    for (const file of [ENCODER_FILE, DECODER_FILE]) changed += convertModelFileCodes(join(dir, file), dir, file, to);
    writeModelInfo(dir, { ...info, quantization: { ...info.quantization, ...(eightBitWeights ? { weightCodes: to } : {}), operandCodes: to } });
    if (changed && saturates) warnings.push(`${dir}: ${changed} int8 operands stored as uint8 for this CPU (its int8 kernel adds products in saturating 16 bits)`);
  } catch (err) {
    if (saturates) warnings.push(`${dir}: this CPU's int8 kernel saturates and the model's int8 operands could not be converted (${(err as Error).message}); its masks may be less accurate`);
  }
}

/** The split decoder's sessions, cut from decoder.onnx on first use and kept. */
export function splitDecoderSessions(loaded: LoadedSam): Promise<SplitDecoderSessions> {
  loaded.split ??= (async () => {
    const path = join(loaded.dir, DECODER_FILE);
    const model = loaded.decoderGraph ?? loadModel(path);
    loaded.decoderGraph = undefined;
    const split = splitDecoder(model, path);
    const image = await createSession(encodeModel(split.image), loaded.settings, loaded.provider);
    const prompt = await createSession(encodeModel(split.prompt), loaded.settings, loaded.provider);
    // refinements: the prompt part plus the fed-back mask's share of the image side, else the whole decoder
    let refineGraph = refinementGraph(model, split);
    let refineSide = split.imageSide;
    if (!refineGraph) {
      refineGraph = pruneToOutputs(model, ['iou_predictions', 'low_res_masks']);
      reassociateAttention(refineGraph, LOW_RES);
      refineSide = takeImageSide(refineGraph, split.imageInputs, split.imageSide);
    }
    const refine = await createSession(encodeModel(refineGraph), loaded.settings, loaded.provider);
    const scoresModel = pruneToOutputs(split.prompt, ['iou_predictions']);
    narrowFinalAttention(scoresModel);
    const scoresGraph = encodeModel(scoresModel);
    return { image, prompt, refine, imageInputs: split.imageInputs, passedThrough: split.passedThrough, refineSide, scoresGraph };
  })();
  return loaded.split;
}

/** The cut decoder's sessions (see `BoxDecoderSessions`), made on first use and kept. */
function boxDecoderSessions(loaded: LoadedSam): Promise<BoxDecoderSessions | null> {
  loaded.boxDecoder ??= (async () => {
    const path = join(loaded.dir, DECODER_FILE);
    const decoder = loadModel(path);
    let cut;
    try {
      const source = postprocessSource(decoder);
      // SAM 2.1's object score is an output of `segment` too
      const objectScore = (decoder.graph!.output ?? []).some((o) => o.name === OBJECT_SCORE) ? [OBJECT_SCORE] : [];
      cut = { source, split: splitDecoder(decoder, path, { extraOutputs: [source, ...objectScore] }), postprocess: postprocessDecoder(decoder, path) };
      columnGathersAsRows(cut.postprocess);
    } catch {
      return null; // not the SAM decoder's graph, or masks that are not a function of its low-res logits
    }
    const { imageInputs } = cut.split;
    const shapes = imageInputs.map((name) => (decoder.graph!.input!.find((i) => i.name === name)?.type?.tensorType?.shape?.dim ?? []).map((d) => Number(d.dimValue ?? 0)));
    if (shapes.some((shape) => shape.length === 0 || shape.some((d) => !(d > 0)))) return null; // its shapes could not be given to the prompt part
    const image = await createSession(encodeModel(cut.split.image), loaded.settings, loaded.provider);
    // the image-side tensors' shapes, from one run of the image part on zeros
    const zeros = Object.fromEntries(imageInputs.map((name, i) => [name, new ort.Tensor('float32', new Float32Array(shapes[i]!.reduce((a, b) => a * b, 1)), shapes[i]!)]));
    const side = await image.run(zeros);
    setInputShapes(cut.split.prompt, Object.fromEntries(Object.entries(side).map(([name, t]) => [name, t.dims])));
    const prompt = await createSession(encodeModel(cut.split.prompt), loaded.settings, loaded.provider);
    const postprocess = await createSession(encodeModel(cut.postprocess), loaded.settings, loaded.provider);
    return { image, prompt, postprocess, imageInputs, passedThrough: cut.split.passedThrough, source: cut.source };
  })();
  return loaded.boxDecoder;
}

/**
 * The cut decoder's prompt part for one prompt (after its image part once per embedding): every
 * candidate's predicted IoU, the single-mask choice, low_res_masks, and each candidate's plane
 * of the tensor the postprocessing reads.
 */
async function runCutPromptPart(loaded: LoadedSam, parts: BoxDecoderSessions, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number): Promise<{ iou: number[]; best: number; planes: Float32Array; origImSize: ort.Tensor; lowResMasks: Float32Array; objectScore?: number }> {
  validatePrompt(prompt, width, height);
  const { feeds, best } = familyFeeds(loaded, embedding, prompt, width, height);
  const side = await imageSideOf(loaded, 'boxSide', embedding, () => parts.image.run(Object.fromEntries(parts.imageInputs.map((name) => [name, feeds[name]!]))));
  const passed = Object.fromEntries(parts.passedThrough.map((name) => [name, feeds[name]!]));
  const out = await parts.prompt.run({ point_coords: feeds.point_coords!, point_labels: feeds.point_labels!, ...passed, ...side });
  const iou = Array.from(out.iou_predictions!.data as Float32Array);
  const lowResMasks = out.low_res_masks!.data as Float32Array;
  const objectScore = out[OBJECT_SCORE] ? (out[OBJECT_SCORE].data as Float32Array)[0]! : undefined;
  return { iou, best: best(iou, lowResMasks), planes: out[parts.source]!.data as Float32Array, origImSize: feeds.orig_im_size!, lowResMasks, ...(objectScore !== undefined ? { objectScore } : {}) };
}

/** The decoder's own postprocessing of candidate `k`'s plane: its logits at the original size. */
async function postprocessPlane(loaded: LoadedSam, parts: BoxDecoderSessions, planes: Float32Array, k: number, origImSize: ort.Tensor, width: number, height: number): Promise<Float32Array> {
  const plane = LOW_RES * LOW_RES;
  const one = new ort.Tensor('float32', planes.slice(k * plane, (k + 1) * plane), [1, 1, LOW_RES, LOW_RES]);
  const masks = (await parts.postprocess.run({ [POSTPROCESS_INPUT]: one, orig_im_size: origImSize })).masks!;
  if (masks.data.length !== width * height) throw new Error(`${loaded.dir}: decoder postprocessing returned a mask of shape [${masks.dims.join(',')}], expected [1,1,${height},${width}]`);
  return masks.data as Float32Array;
}

/** Releases every onnxruntime session of a loaded model. */
export async function releaseSam(loaded: LoadedSam): Promise<void> {
  const split = loaded.split ? [await loaded.split] : [];
  const boxes = loaded.boxDecoder ? await loaded.boxDecoder : null;
  await Promise.all([
    loaded.encoder, loaded.decoder, loaded.decoderCore, ...split.flatMap((s) => [s.image, s.prompt, s.refine]),
    ...await Promise.all(split.flatMap((s) => (s.scores ? [s.scores] : []))),
    ...(boxes ? [boxes.image, boxes.prompt, boxes.postprocess] : []),
  ].map((s) => s.release()));
}

/**
 * The decoder proper's outputs for a prompt. A click without a fed-back mask runs the split's
 * prompt part, after the image part once per embedding (the last one is kept: clicks and hovers
 * come on the image on screen); a refinement runs the whole decoder (its dense embedding depends
 * on the mask) with the same reassociations.
 */
async function runDecoderProper(loaded: LoadedSam, embedding: Float32Array, feeds: Record<string, ort.Tensor>, split: boolean): Promise<ort.InferenceSession.OnnxValueMapType> {
  if (!split) return loaded.decoderCore.run(feeds);
  const parts = await splitDecoderSessions(loaded);
  const side = () => splitImageSide(loaded, parts, embedding, feeds);
  if (feeds.has_mask_input!.data[0] !== 0) {
    // a refinement reads the image part's outputs (the whole decoder: those it can, SAM 2.1's reordered maps)
    const imageSide = parts.refineSide.length > 0 ? await side() : {};
    return parts.refine.run({ ...feeds, ...Object.fromEntries(parts.refineSide.map((name) => [name, imageSide[name]!])) });
  }
  const imageSide = await side();
  const passed = Object.fromEntries(parts.passedThrough.map((name) => [name, feeds[name]!]));
  return parts.prompt.run({ point_coords: feeds.point_coords!, point_labels: feeds.point_labels!, ...passed, ...imageSide });
}

/** The click split's image-part outputs for `embedding` (`imageSideOf`), from the decoder feeds. */
function splitImageSide(loaded: LoadedSam, parts: SplitDecoderSessions, embedding: Float32Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  return imageSideOf(loaded, 'imageSide', embedding, () => parts.image.run(Object.fromEntries(parts.imageInputs.map((name) => [name, feeds[name]!]))));
}

/**
 * A split's image-part outputs for `embedding`: kept in `loaded[slot]` for the embedding used
 * last, so the image part runs once per image; kept as the run in progress, so a click that
 * comes while it runs (`prepareClicks`) waits for it instead of running it again, and a failed
 * run is forgotten.
 */
function imageSideOf(loaded: LoadedSam, slot: 'imageSide' | 'boxSide', embedding: Float32Array, run: () => Promise<ort.InferenceSession.OnnxValueMapType>): Promise<Record<string, ort.Tensor>> {
  if (loaded[slot]?.embedding !== embedding) {
    const feeds = run() as Promise<Record<string, ort.Tensor>>;
    const kept = { embedding, feeds };
    loaded[slot] = kept;
    feeds.catch(() => { if (loaded[slot] === kept) loaded[slot] = undefined; });
  }
  return loaded[slot]!.feeds;
}

/**
 * Runs the click split's image part for `embedding` ahead of the first hover or click on its
 * image (the engine does it when the window opens an image): what a first click would pay.
 */
export async function prepareClicks(loaded: LoadedSam, embedding: Float32Array, width: number, height: number): Promise<void> {
  const parts = await splitDecoderSessions(loaded);
  const { feeds } = familyFeeds(loaded, embedding, { points: [{ x: 0, y: 0, label: 1 }] }, width, height);
  await splitImageSide(loaded, parts, embedding, feeds);
}

/**
 * A freshly built decoder file run once on a zero embedding: a checkpoint whose decoder tensors
 * do not fit together (a projection's input side, a transposed convolution's kernel) or hold NaN
 * fails here, at import, naming the checkpoint, instead of at every click later.
 */
export async function checkBuiltDecoder(decoderPath: string, family: ModelFamily, source: string): Promise<void> {
  let session: ort.InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(decoderPath, { logSeverityLevel: 4, graphOptimizationLevel: 'disabled' });
    if (!await scoresOnZeroEmbedding(session, family)) throw new Error('it gives non-finite scores (a tensor holds NaN or Infinity)');
  } catch (err) {
    throw new Error(`${source}: the mask decoder built from it does not run: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await session?.release();
  }
}

/** One decoder call on a zero embedding: proves the provider can run the graph. */
async function selfTest(decoderCore: ort.InferenceSession, info: ModelInfo): Promise<void> {
  if (!await scoresOnZeroEmbedding(decoderCore, info.family)) throw new Error('self-test produced non-finite scores');
}

/** A decoder (whole or its core) run once on a zero embedding and one click: whether its scores are finite. */
async function scoresOnZeroEmbedding(decoder: ort.InferenceSession, family: ModelFamily): Promise<boolean> {
  const prompt: SegmentPrompt = { points: [{ x: 1, y: 1, label: 1 }] };
  const feeds = family === 'sam2.1'
    ? sam2DecoderFeeds(new Float32Array(SAM2_FEATURES_LENGTH), prompt, 64, 64)
    : decoderFeeds(new Float32Array(256 * 64 * 64), prompt, 64, 64).feeds;
  const out = await decoder.run(feeds);
  const iou = out.iou_predictions?.data as Float32Array | undefined;
  return iou !== undefined && iou.every((v) => Number.isFinite(v));
}

/**
 * Why a model cannot take a width x height image, or null. SAM resizes the long side to 1024 and
 * rounds the short side, which is 0 pixels when the long side is more than 2048 times the short
 * one (SAM 2.1 stretches to 1024 x 1024: any size).
 */
export function encoderSizeProblem(preprocessing: Preprocessing, width: number, height: number): string | null {
  if (preprocessing === 'sam2-stretch') return null;
  const size = resizedSize(width, height, 1024);
  if (size.width >= 1 && size.height >= 1) return null;
  return `a ${width}x${height} image is too thin for SAM: with its long side resized to 1024 pixels its short side rounds to 0 (the long side can be at most 2048 times the short one)`;
}

/** The encoder's input tensor for an image, per a model's preprocessing (model.json). */
export function encoderTensor(preprocessing: Preprocessing, img: RgbImage): ort.Tensor {
  const problem = encoderSizeProblem(preprocessing, img.width, img.height);
  if (problem) throw new UnusableImageError(problem);
  if (preprocessing === 'sam2-stretch') return new ort.Tensor('float32', sam2EncoderInput(img), [1, 3, 1024, 1024]);
  if (preprocessing === 'sam-hwc-resized') {
    const size = resizedSize(img.width, img.height, 1024);
    const resized = resizeBilinearPil(img, size.width, size.height);
    return new ort.Tensor('float32', Float32Array.from(resized.data), [size.height, size.width, 3]);
  }
  const { tensor } = samEncoderInput(img);
  return new ort.Tensor('float32', tensor, [1, 3, 1024, 1024]);
}

export function encoderFeeds(loaded: LoadedSam, img: RgbImage): Record<string, ort.Tensor> {
  return { [loaded.encoder.inputNames[0]!]: encoderTensor(loaded.info.preprocessing.kind, img) };
}

/**
 * The image's embedding: SAM's 1x256x64x64, or for SAM 2.1 its three feature maps concatenated
 * (sam2-inference.ts SAM2_FEATURES).
 */
export async function runEncoder(loaded: LoadedSam, img: RgbImage): Promise<Float32Array> {
  const out = await loaded.encoder.run(encoderFeeds(loaded, img));
  if (loaded.info.family === 'sam2.1') return concatSam2Features(out, join(loaded.dir, ENCODER_FILE));
  const t = out[loaded.encoder.outputNames[0]!]!;
  const data = t.data as Float32Array;
  if (data.length !== 256 * 64 * 64) throw new Error(`${loaded.dir}: encoder returned ${data.length} values, expected 1x256x64x64`);
  return data;
}

/** Validates a prompt against the image; messages say which value is wrong. */
export function validatePrompt(prompt: SegmentPrompt, width: number, height: number): void {
  if (prompt.points.length === 0 && !prompt.box) throw new Error('empty prompt: give at least one point or a box');
  for (const p of prompt.points) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) throw new Error(`point (${p.x}, ${p.y}) is not a pair of numbers`);
    if (p.x < 0 || p.x > width || p.y < 0 || p.y > height) throw new Error(`point (${p.x}, ${p.y}) is outside the image [0, ${width}] x [0, ${height}]`);
    if (p.label !== 0 && p.label !== 1) throw new Error(`point label ${String(p.label)} must be 1 (positive) or 0 (negative)`);
  }
  if (prompt.box) {
    const [x0, y0, x1, y1] = prompt.box;
    if (![x0, y0, x1, y1].every(Number.isFinite)) throw new Error(`box ${prompt.box.join(',')} is not four numbers`);
    for (const [x, y] of [[x0, y0], [x1, y1]] as const) {
      if (x < 0 || x > width || y < 0 || y > height) throw new Error(`box corner (${x}, ${y}) is outside the image [0, ${width}] x [0, ${height}]`);
    }
    if (x1 <= x0 || y1 <= y0) throw new Error(`box ${prompt.box.join(',')} must have x0 < x1 and y0 < y1`);
  }
  if (prompt.maskInput && prompt.maskInput.length !== LOW_RES * LOW_RES) throw new Error(`mask input has ${prompt.maskInput.length} values, expected 1x1x256x256`);
}

/**
 * Decoder feeds in the SAM ONNX contract: coordinates scaled to the 1024 frame with the
 * resized size (as SamPredictor's apply_coords), a padding point when there is no box.
 * Returns N, the number of decoder input points, for the `best` rule.
 */
export function decoderFeeds(embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number): { feeds: Record<string, ort.Tensor>; numPoints: number } {
  const size = resizedSize(width, height, 1024);
  const sx = size.width / width;
  const sy = size.height / height;
  const coords: number[] = [];
  const labels: number[] = [];
  for (const p of prompt.points) { coords.push(p.x * sx, p.y * sy); labels.push(p.label); }
  if (prompt.box) {
    const [x0, y0, x1, y1] = prompt.box;
    coords.push(x0 * sx, y0 * sy, x1 * sx, y1 * sy);
    labels.push(2, 3);
  } else {
    coords.push(0, 0);
    labels.push(-1);
  }
  const n = labels.length;
  return {
    numPoints: n,
    feeds: {
      image_embeddings: new ort.Tensor('float32', embedding, [...EMBEDDING_SHAPE]),
      point_coords: new ort.Tensor('float32', Float32Array.from(coords), [1, n, 2]),
      point_labels: new ort.Tensor('float32', Float32Array.from(labels), [1, n]),
      mask_input: new ort.Tensor('float32', prompt.maskInput ?? new Float32Array(LOW_RES * LOW_RES), [1, 1, LOW_RES, LOW_RES]),
      has_mask_input: new ort.Tensor('float32', Float32Array.of(prompt.maskInput ? 1 : 0), [1]),
      orig_im_size: new ort.Tensor('float32', Float32Array.of(height, width), [2]),
    },
  };
}

/** The single-mask export's choice: score_k = iou_k, plus (N - 2.5) * 1000 for k = 0. */
export function bestMaskIndex(iou: ArrayLike<number>, numPoints: number): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let k = 0; k < iou.length; k++) {
    const score = iou[k]! + (k === 0 ? (numPoints - 2.5) * 1000 : 0);
    if (score > bestScore) { bestScore = score; best = k; }
  }
  return best;
}

/** The family's decoder feeds and its single-mask rule. */
function familyFeeds(loaded: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number): { feeds: Record<string, ort.Tensor>; best: (iou: number[], lowRes: Float32Array) => number } {
  if (loaded.info.family === 'sam2.1') {
    return { feeds: sam2DecoderFeeds(embedding, prompt, width, height), best: (iou, lowRes) => sam2BestMaskIndex(lowRes, iou) };
  }
  const { feeds, numPoints } = decoderFeeds(embedding, prompt, width, height);
  return { feeds, best: (iou) => bestMaskIndex(iou, numPoints) };
}

function thresholdAtZero(logits: Float32Array): Uint8Array {
  const m = new Uint8Array(logits.length);
  for (let p = 0; p < logits.length; p++) m[p] = logits[p]! > 0 ? 1 : 0;
  return m;
}

/**
 * Every mask at the original size (the `segment` contract): the cut decoder (`BoxDecoderSessions`)
 * for a prompt without a fed-back mask, else the whole decoder.
 */
export async function runDecoder(loaded: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number): Promise<SegmentResult> {
  validatePrompt(prompt, width, height);
  const parts = prompt.maskInput ? null : await boxDecoderSessions(loaded);
  if (parts) {
    const t0 = performance.now();
    const { iou, best, planes, origImSize, lowResMasks, objectScore } = await runCutPromptPart(loaded, parts, embedding, prompt, width, height);
    const masks: Uint8Array[] = [];
    for (let k = 0; k < iou.length; k++) masks.push(thresholdAtZero(await postprocessPlane(loaded, parts, planes, k, origImSize, width, height)));
    return { width, height, masks, iouPredictions: iou, best, lowResMasks, decoderMs: performance.now() - t0, ...(objectScore !== undefined ? { objectScore } : {}) };
  }
  const { feeds, best } = familyFeeds(loaded, embedding, prompt, width, height);
  const t0 = performance.now();
  const out = await loaded.decoder.run(feeds);
  const decoderMs = performance.now() - t0;
  const logits = out.masks!.data as Float32Array;
  const k = out.masks!.dims[1]!;
  const plane = width * height;
  if (logits.length !== k * plane) throw new Error(`${loaded.dir}: decoder returned masks of shape [${out.masks!.dims.join(',')}], expected [1,${k},${height},${width}]`);
  const masks = Array.from({ length: k }, (_, i) => thresholdAtZero(logits.subarray(i * plane, (i + 1) * plane)));
  const iouPredictions = Array.from(out.iou_predictions!.data as Float32Array);
  const lowResMasks = out.low_res_masks!.data as Float32Array;
  const objectScore = out[OBJECT_SCORE] ? (out[OBJECT_SCORE].data as Float32Array)[0]! : undefined;
  return {
    width, height, masks, iouPredictions,
    best: best(iouPredictions, lowResMasks),
    lowResMasks,
    decoderMs,
    ...(objectScore !== undefined ? { objectScore } : {}),
  };
}

/**
 * The chosen candidate's mask and score exactly as `runDecoder` (`segment`) gives them, at a
 * fraction of its cost: the same cut decoder (`BoxDecoderSessions`), the single-mask rule, then
 * the decoder's own postprocessing on the kept candidate alone, where `segment` upsamples all
 * four to the image size. A fed-back mask, or a model whose decoder cannot be cut so, runs the
 * whole decoder. The mask is where `logits` is above 0 (that decoder gives its mask itself: 0
 * and 1). Box decoding (autolabel) and the evaluation's masks take this path.
 */
export async function runBestDecoder(loaded: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number): Promise<{ logits: ArrayLike<number>; score: number; best: number }> {
  // the split's image part assumes no mask: its dense embedding is the no-mask one
  const parts = prompt.maskInput ? null : await boxDecoderSessions(loaded);
  if (!parts) {
    const r = await runDecoder(loaded, embedding, prompt, width, height);
    return { logits: r.masks[r.best]!, score: r.iouPredictions[r.best]!, best: r.best };
  }
  const { iou, best, planes, origImSize } = await runCutPromptPart(loaded, parts, embedding, prompt, width, height);
  return { logits: await postprocessPlane(loaded, parts, planes, best, origImSize, width, height), score: iou[best]!, best };
}

/** The decoder and postprocessing `runPredict` uses; `{ decoder: 'whole', postprocess: 'exact' }` is the path before the split. */
export interface PredictPath { decoder: 'split' | 'whole'; postprocess: PredictPostprocess }

/** The decoder proper's answer to one prompt: every candidate's low-res logits, predicted IoUs and the single-mask choice. */
export interface DecodedCandidates { lowResMasks: Float32Array; iouPredictions: number[]; best: number }
interface Candidates extends DecodedCandidates { count: number; t0: number }

async function decodeCandidates(loaded: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number, decoder: PredictPath['decoder'] = 'split'): Promise<Candidates> {
  validatePrompt(prompt, width, height);
  const { feeds, best: bestOf } = familyFeeds(loaded, embedding, prompt, width, height);
  const t0 = performance.now();
  // the split is cut from the decoder graph itself (decoder-split.ts)
  const out = await runDecoderProper(loaded, embedding, feeds, decoder !== 'whole');
  const lowResMasks = out.low_res_masks!.data as Float32Array;
  const iouPredictions = Array.from(out.iou_predictions!.data as Float32Array);
  return { lowResMasks, count: out.low_res_masks!.dims[1]!, iouPredictions, best: bestOf(iouPredictions, lowResMasks), t0 };
}

/**
 * Decoder proper + postprocessing only inside each mask's bounding box. With `onlyBest` (hover
 * previews) the other candidates stay empty crops: on an 8000x6000 photo each full-size
 * candidate costs hundreds of milliseconds.
 */
export async function runPredict(loaded: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number, opts: { onlyBest?: boolean } & Partial<PredictPath> = {}): Promise<PredictResult> {
  const { lowResMasks, count, iouPredictions, best, t0 } = await decodeCandidates(loaded, embedding, prompt, width, height, opts.decoder);
  const plane = LOW_RES * LOW_RES;
  const masks = Array.from({ length: count }, (_, i) => (opts.onlyBest && i !== best
    ? EMPTY_CROP
    : maskCropOfCandidate(loaded.info.family, lowResMasks.subarray(i * plane, (i + 1) * plane), width, height, opts.postprocess)));
  const decoderMs = performance.now() - t0;
  return { width, height, masks, iouPredictions, best, lowResMasks, decoderMs };
}

/**
 * The window's path: decoder proper, then each candidate as the view the window draws
 * (`thinnedView` of its crop, MASK_VIEW_MAX_PIXELS at most), made straight from the logits on
 * the view path (`viewMaskThinned`: an 8000x6000 photo's candidates are never computed at full
 * size). The full crop of a candidate is made when it is accepted (`maskCropOfCandidate`).
 * `decoded`: the prompt's candidates, already decoded (a hover at the same point): views only.
 */
export async function runPredictViews(loaded: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number, opts: { onlyBest?: boolean; decoded?: DecodedCandidates } & Partial<PredictPath> = {}): Promise<PredictViews> {
  let candidates: Candidates;
  if (opts.decoded) {
    validatePrompt(prompt, width, height);
    candidates = { ...opts.decoded, count: opts.decoded.iouPredictions.length, t0: performance.now() };
  } else {
    candidates = await decodeCandidates(loaded, embedding, prompt, width, height, opts.decoder);
  }
  const { lowResMasks, count, iouPredictions, best, t0 } = candidates;
  const plane = LOW_RES * LOW_RES;
  const views = Array.from({ length: count }, (_, i) => {
    if (opts.onlyBest && i !== best) return thinnedView(EMPTY_CROP, MASK_VIEW_MAX_PIXELS);
    const logits = lowResMasks.subarray(i * plane, (i + 1) * plane);
    if (opts.postprocess !== 'exact') return viewMaskThinned(logits, width, height, MASK_VIEW_MAX_PIXELS, loaded.info.family);
    return thinnedView(maskCropOfCandidate(loaded.info.family, logits, width, height, opts.postprocess), MASK_VIEW_MAX_PIXELS);
  });
  const decoderMs = performance.now() - t0;
  return { width, height, views, iouPredictions, best, lowResMasks, decoderMs, fromHover: opts.decoded !== undefined };
}

/**
 * Every candidate for one prompt, the masks left as logits at the original size (no threshold):
 * what the automatic generator needs for its stability score. `segment`'s decoder: the cut one
 * for a prompt without a fed-back mask, else the whole graph.
 */
export async function runDecoderLogits(loaded: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number): Promise<{ logits: Float32Array[]; iouPredictions: number[] }> {
  validatePrompt(prompt, width, height);
  const parts = prompt.maskInput ? null : await boxDecoderSessions(loaded);
  if (!parts) return wholeDecoderLogits(loaded, embedding, prompt, width, height);
  const r = await cutDecoderLogits(loaded, parts, embedding, prompt, width, height, () => true);
  return { logits: r.logits.map((l) => l!), iouPredictions: r.iouPredictions };
}

/**
 * `runDecoderLogits` for the candidates `wanted` picks by their predicted IoU (the others null),
 * the decoder's own postprocessing run for those alone where the decoder is cut. Values and
 * scores are `runDecoderLogits`'s bit for bit (tested).
 */
export async function runDecoderWantedLogits(
  loaded: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number, wanted: (candidate: number, iou: number) => boolean,
): Promise<{ logits: (Float32Array | null)[]; iouPredictions: number[] }> {
  validatePrompt(prompt, width, height);
  const parts = prompt.maskInput ? null : await boxDecoderSessions(loaded);
  if (parts) return cutDecoderLogits(loaded, parts, embedding, prompt, width, height, wanted);
  const r = await wholeDecoderLogits(loaded, embedding, prompt, width, height);
  // copies: the planes kept do not hold the whole graph's output alive
  return { logits: r.logits.map((plane, k) => (wanted(k, r.iouPredictions[k]!) ? plane.slice() : null)), iouPredictions: r.iouPredictions };
}

/** The whole decoder graph's logits, one view per candidate into its output. */
async function wholeDecoderLogits(loaded: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number): Promise<{ logits: Float32Array[]; iouPredictions: number[] }> {
  const { feeds } = familyFeeds(loaded, embedding, prompt, width, height);
  const out = await loaded.decoder.run(feeds);
  const all = out.masks!.data as Float32Array;
  const k = out.masks!.dims[1]!;
  const plane = width * height;
  if (all.length !== k * plane) throw new Error(`${loaded.dir}: decoder returned masks of shape [${out.masks!.dims.join(',')}], expected [1,${k},${height},${width}]`);
  return {
    logits: Array.from({ length: k }, (_, i) => all.subarray(i * plane, (i + 1) * plane)),
    iouPredictions: Array.from(out.iou_predictions!.data as Float32Array),
  };
}

/** The cut decoder's prompt part, then its postprocessing for each candidate `wanted` picks. */
async function cutDecoderLogits(
  loaded: LoadedSam, parts: BoxDecoderSessions, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number, wanted: (candidate: number, iou: number) => boolean,
): Promise<{ logits: (Float32Array | null)[]; iouPredictions: number[] }> {
  const { iou, planes, origImSize } = await runCutPromptPart(loaded, parts, embedding, prompt, width, height);
  const logits: (Float32Array | null)[] = [];
  for (const [k, score] of iou.entries()) logits.push(wanted(k, score) ? await postprocessPlane(loaded, parts, planes, k, origImSize, width, height) : null);
  return { logits, iouPredictions: iou };
}

/** The pixels of [x0, x1) x [y0, y1) of an image. */
export function cropRgb(img: RgbImage, [x0, y0, x1, y1]: [number, number, number, number]): RgbImage {
  const width = x1 - x0, height = y1 - y0;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) data.set(img.data.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x1) * 3), y * width * 3);
  return { width, height, data, exifOrientation: img.exifOrientation };
}

/**
 * The predicted IoU of each candidate, for screening (segment everything): the split's prompt
 * part pruned to `iou_predictions` (no mask head), after its image part once per embedding. Its
 * final attention is narrowed to the tokens read, and its values round differently from the
 * cut decoder's (by about 1e-6 here), so a caller screens with a margin and takes the scores
 * that decide from `runDecoderWantedLogits`.
 */
export async function runDecoderScores(loaded: LoadedSam, embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number): Promise<number[]> {
  validatePrompt(prompt, width, height);
  const { feeds } = familyFeeds(loaded, embedding, prompt, width, height);
  const parts = await splitDecoderSessions(loaded);
  const imageSide = await splitImageSide(loaded, parts, embedding, feeds);
  const scores = await (parts.scores ??= createSession(parts.scoresGraph, loaded.settings, loaded.provider));
  const available: Record<string, ort.Tensor> = { ...feeds, ...imageSide };
  const out = await scores.run(Object.fromEntries(scores.inputNames.map((name) => [name, available[name]!])));
  return Array.from(out.iou_predictions!.data as Float32Array);
}
