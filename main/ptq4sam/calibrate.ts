/**
 * Calibration: fp32 forward passes of augmented graphs over the calibration images, streaming
 * each image's statistics into the observers and AGQ searches, then BIG between the encoder
 * and decoder passes (PTQ4SAM.md section 0: decide and fold before calibrating the decoder).
 * Only the encoder embeddings (4 MB per image) are kept between phases.
 */
import * as ort from 'onnxruntime-node';
import { SESSION_CONFIG } from '../sam/session-config.ts';
import { encodeSelfContained, GraphBuilder, type ModelProto } from '../onnx/index.ts';
import { decoderFeeds, encoderTensor } from '../sam/inference.ts';
import { concatSam2Features, sam2DecoderFeeds } from '../sam/sam2-inference.ts';
import type { SegmentPrompt } from '../sam/engine-api.ts';
import type { RgbImage } from '../sam/image/index.ts';
import type { ModelFamily, Preprocessing } from '../sam/model-dir.ts';
import { AgqSearch, subsampleRows, UniformSoftmaxSearch, type AttentionSample } from './agq.ts';
import { applySigns, bigModules, centresBimodal, channelSigns, foldedInitializers, keyTensorOf, majority, pooledBimodal } from './big.ts';
import { augmentModel, statNames, type AugmentRequest } from './calibrators/stats-graph.ts';
import type { RangeObserver, TensorStats } from './calibrators/types.ts';
import { mergeBuilder } from './emit/merge.ts';
import type { QuantMethod } from './methods/index.ts';
import type { ActivationSite, GraphKind, Target } from './ops/types.ts';
import { toSegmentPrompt, type Prompt } from './prompts.ts';
import type { Range } from './quantizers/range-search.ts';
import type { QuantPlan } from './registry.ts';

export interface CalibrationImage {
  path: string;
  image: () => Promise<RgbImage>;
  prompts: Prompt[];
}

export interface Progress {
  phase: 'encoder' | 'big' | 'decoder' | 'weights' | 'emit' | 'verify' | 'measure';
  done: number;
  total: number;
  /** the whole command's remaining time, once the first calibration image has been timed (estimate.ts) */
  etaSeconds?: number;
}

export interface CalibrationOptions {
  method: QuantMethod;
  /** how an image becomes the encoder's input: the model directory's, as inference does */
  preprocessing: Preprocessing;
  /** the model family: SAM 2.1 encoders return three feature maps, its decoder takes them all */
  family?: ModelFamily;
  activationBits: number;
  big: boolean;
  /** AGQ search for the softmax outputs, per graph (the other graph's softmax takes the activation observer) */
  agq: Record<GraphKind, boolean>;
  /**
   * Where the softmax output takes a uniform grid (no AGQ): find the grid's top end by AGQ's
   * output-aware search (true) instead of the activation observer (false: the spec's plain
   * uniform quantizer, as in the --no-agq ablation).
   */
  softmaxSearch?: Record<GraphKind, boolean>;
  /** bits of a searched uniform softmax grid, per graph (default activationBits) */
  softmaxBits?: Record<GraphKind, number>;
  /** images whose first prompt votes in the robust BIG decision (the paper uses only image #0) */
  bigImages: number;
  /** values kept per tensor per pass for the searches */
  sampleSize: number;
  /** cost cap of one AGQ objective evaluation, in multiply-adds */
  agqMacBudget: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

/** The family's embedding (SAM 2.1: its three maps concatenated) and decoder feeds. */
const FAMILY_IO: Record<ModelFamily, {
  embedding: (out: ort.InferenceSession.OnnxValueMapType, outputName: string) => Float32Array;
  feeds: (embedding: Float32Array, prompt: SegmentPrompt, width: number, height: number) => Record<string, ort.Tensor>;
}> = {
  sam: {
    embedding: (out, name) => Float32Array.from(out[name]!.data as Float32Array),
    feeds: (e, p, w, h) => decoderFeeds(e, p, w, h).feeds,
  },
  'sam2.1': {
    embedding: (out) => concatSam2Features(out as Record<string, ort.Tensor>, 'calibration encoder'),
    feeds: sam2DecoderFeeds,
  },
};

export interface BigModuleResult {
  module: string;
  /** the paper's test (one KDE over all of K) on image #0's first prompt */
  paperBimodal: boolean;
  /** the per-channel centres' test on each BIG image's first prompt; their majority is `bimodal` */
  votes: boolean[];
  bimodal: boolean;
  folded: boolean;
  /** image #0, first prompt: K before and after the fold (a sample, for the report's histograms) */
  before: Float32Array;
  after: Float32Array;
}

export interface CalibrationResult {
  ranges: Map<string, Range>;
  agq: Map<string, { module: string; tau: number; scale: number; errors: Record<number, number> }>;
  big: BigModuleResult[];
  /** the decoder after BIG's fold (the model every later step uses) */
  decoder: ModelProto;
  /** seconds spent in fp32 forward passes (augmented graphs), for the report */
  forwardSeconds: number;
  /** X^T X ([in, in], summed over passes) by weight input tensor, when the method has a weight step */
  hessians: Map<string, Float64Array>;
}

// No planned memory pattern: it keeps every large activation of a pass allocated at once (as in
// the encoder sessions, sam/inference.ts), which for ViT-B's calibration graph is gigabytes.
/**
 * The calibration graphs' sessions, configured as the app's (sam/session-config.ts: their idle
 * threads do not spin, which on these long kernels gains nothing and took the cores from the
 * app's window or a second quantization beside them).
 */
const sessionOptions: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: 'all', interOpNumThreads: 1, enableMemPattern: false, extra: SESSION_CONFIG,
};

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new Error('quantization cancelled');
}

function readStats(out: ort.InferenceSession.OnnxValueMapType, tensor: string): TensorStats {
  const get = (name: string) => out[name];
  const min = get(statNames.min(tensor));
  const max = get(statNames.max(tensor));
  const sample = get(statNames.sample(tensor));
  const count = get(statNames.count(tensor));
  if (!min || !max || !sample || !count) throw new Error(`calibration graph lacks statistics of ${tensor}`);
  const high = get(statNames.high(tensor));
  const low = get(statNames.low(tensor));
  return {
    min: (min.data as Float32Array)[0]!,
    max: (max.data as Float32Array)[0]!,
    count: Number((count.data as BigInt64Array)[0]!),
    sample: Float32Array.from(sample.data as Float32Array),
    ...(high ? { high: Float32Array.from(high.data as Float32Array) } : {}),
    ...(low ? { low: Float32Array.from(low.data as Float32Array) } : {}),
  };
}

/** An attention target: its A.V operands. */
type AttentionTarget = Target & Required<Pick<Target, 'attention'>>;

function readAttention(out: ort.InferenceSession.OnnxValueMapType, t: AttentionTarget): AttentionSample {
  const rows = out[statNames.rows(t.attention.probs.tensor)]!;
  const v = out[statNames.full(t.attention.v.tensor)]!;
  const rd = rows.dims;
  const vd = v.dims;
  const groups = rd.slice(0, -2).reduce((a, b) => a * b, 1);
  const vGroups = vd.slice(0, -2).reduce((a, b) => a * b, 1);
  if (groups !== vGroups) throw new Error(`${t.module}: attention and value batch shapes differ ([${rd.join(',')}] vs [${vd.join(',')}])`);
  return {
    probs: Float32Array.from(rows.data as Float32Array), v: Float32Array.from(v.data as Float32Array),
    groups, rows: rd[rd.length - 2]!, keys: rd[rd.length - 1]!, headDim: vd[vd.length - 1]!,
  };
}

interface GraphCalibration {
  sites: ActivationSite[];
  /** attentions whose softmax output is searched on the attention-output error (AGQ or uniform) */
  agqTargets: AttentionTarget[];
  observers: Map<string, RangeObserver>;
  searches: Map<string, AgqSearch | UniformSoftmaxSearch>;
  /** weight input tensor -> running X^T X */
  hessians: Map<string, Float64Array | null>;
}

function graphCalibration(plan: QuantPlan, graph: GraphKind, o: CalibrationOptions): GraphCalibration {
  const searched = o.agq[graph] || (o.softmaxSearch?.[graph] ?? false);
  const sites = plan.activations.filter((a) => a.graph === graph && !(searched && a.observer === 'softmax'));
  const agqTargets = searched ? plan.targets.filter((t): t is AttentionTarget => t.attention !== undefined && t.graph === graph) : [];
  const settings = { bits: o.activationBits, searchSample: o.sampleSize };
  const keyObserver = o.big ? o.method.big?.keyObserver : undefined;
  const observer = (s: ActivationSite) => (keyObserver && s.observer === 'key' ? keyObserver(settings) : o.method.observer(settings));
  const weightInputs = o.method.weightStep ? plan.targets.flatMap((t) => (t.graph === graph && t.weight?.input ? [t.weight.input.tensor] : [])) : [];
  return {
    sites, agqTargets,
    observers: new Map(sites.map((s) => [s.id, observer(s)])),
    searches: new Map(agqTargets.map((t) => [t.module, o.agq[graph] ? new AgqSearch(o.activationBits) : new UniformSoftmaxSearch(o.softmaxBits?.[graph] ?? o.activationBits)])),
    hessians: new Map(weightInputs.map((tensor) => [tensor, null])),
  };
}

function augmentFor(model: ModelProto, c: GraphCalibration, o: CalibrationOptions, full: string[] = []): ModelProto {
  const tails = o.method.tailFraction;
  const req: AugmentRequest = {
    stats: [...c.sites.map((s) => ({ tensor: s.tensor, ...(tails ? { tailFraction: tails } : {}) })), ...c.agqTargets.map((t) => ({ tensor: t.attention.probs.tensor }))],
    rowSamples: c.agqTargets.map((t) => ({ probs: t.attention.probs.tensor, v: t.attention.v.tensor, macBudget: o.agqMacBudget })),
    full,
    hessians: [...c.hessians.keys()],
    sampleSize: o.sampleSize,
  };
  return augmentModel(model, req);
}

/** Feeds one image's passes (one per prompt for the decoder) to the observers and AGQ searches. */
function observeImage(c: GraphCalibration, passes: ort.InferenceSession.OnnxValueMapType[], macBudget: number): void {
  for (const s of c.sites) c.observers.get(s.id)!.observeImage(passes.map((p) => readStats(p, s.tensor)));
  for (const tensor of c.hessians.keys()) {
    for (const p of passes) {
      const h = p[statNames.hessian(tensor)]!.data as Float32Array;
      const acc = c.hessians.get(tensor) ?? new Float64Array(h.length);
      for (let i = 0; i < h.length; i++) acc[i] += h[i]!;
      c.hessians.set(tensor, acc);
    }
  }
  for (const t of c.agqTargets) {
    const maxProb = Math.max(...passes.map((p) => (p[statNames.max(t.attention.probs.tensor)]!.data as Float32Array)[0]!));
    // One image's objective costs at most the budget, whatever its number of prompts.
    const samples = passes.map((p) => readAttention(p, t)).map((s) => subsampleRows(s, Math.floor(macBudget / passes.length / (s.groups * s.keys * s.headDim))));
    c.searches.get(t.module)!.observeImage(samples, maxProb);
  }
}

export async function calibrate(encoder: ModelProto, decoder: ModelProto, plan: QuantPlan, images: CalibrationImage[], o: CalibrationOptions): Promise<CalibrationResult> {
  let forwardMs = 0;
  const timed = async <T>(f: () => Promise<T>) => { const t0 = performance.now(); const r = await f(); forwardMs += performance.now() - t0; return r; };
  const report = (phase: Progress['phase'], done: number, total: number) => o.onProgress?.({ phase, done, total });

  // 1. Encoder statistics; keep each image's embedding for the decoder passes.
  const enc = graphCalibration(plan, 'encoder', o);
  const encSession = await ort.InferenceSession.create(encodeSelfContained(augmentFor(encoder, enc, o), 'encoder'), sessionOptions);
  const embeddings: { embedding: Float32Array; width: number; height: number }[] = [];
  const io = FAMILY_IO[o.family ?? 'sam'];
  try {
    for (let i = 0; i < images.length; i++) {
      checkAborted(o.signal);
      report('encoder', i, images.length);
      const img = await images[i]!.image();
      const input = encoderTensor(o.preprocessing, img);
      const out = await timed(() => encSession.run({ [encSession.inputNames[0]!]: input }));
      embeddings.push({ embedding: io.embedding(out, encSession.outputNames[0]!), width: img.width, height: img.height });
      observeImage(enc, [out], o.agqMacBudget);
    }
    report('encoder', images.length, images.length);
  } finally {
    await encSession.release();
  }

  const runPrompts = async (session: ort.InferenceSession, i: number, prompts: Prompt[]) => {
    const passes: ort.InferenceSession.OnnxValueMapType[] = [];
    for (const p of prompts) {
      const e = embeddings[i]!;
      const feeds = io.feeds(e.embedding, toSegmentPrompt(p), e.width, e.height);
      passes.push(await timed(() => session.run(feeds)));
    }
    return passes;
  };

  // 2. BIG on the fp32 decoder: decide, then fold.
  const big: BigModuleResult[] = [];
  let folded = decoder;
  // The attentions whose keys take the key observer (the decoder's Q.K^T products).
  const decoderModules = plan.targets.filter((t) => t.graph === 'decoder' && t.activations.some((a) => a.observer === 'key')).map((t) => t.module);
  const modules = o.big ? bigModules(decoderModules) : [];
  if (modules.length) {
    const keyTensors = modules.map((m) => keyTensorOf(decoder, m));
    const bigSession = await ort.InferenceSession.create(encodeSelfContained(augmentModel(decoder, { stats: [], full: keyTensors, sampleSize: 1 }), 'decoder'), sessionOptions);
    const votes = modules.map(() => [] as boolean[]);
    const image0Keys = modules.map(() => [] as Float32Array[]);
    const channels = modules.map(() => 0);
    try {
      const n = Math.min(o.bigImages, images.length);
      for (let i = 0; i < n; i++) {
        checkAborted(o.signal);
        report('big', i, n);
        // Every prompt of image #0 (its keys give the signs); the first prompt of the others (their votes).
        const passes = await runPrompts(bigSession, i, i === 0 ? images[i]!.prompts : images[i]!.prompts.slice(0, 1));
        passes.forEach((out) => modules.forEach((_, m) => {
          const t = out[statNames.full(keyTensors[m]!)]!;
          const k = t.data as Float32Array;
          channels[m] = t.dims[t.dims.length - 1]!;
          if (i === 0) image0Keys[m]!.push(Float32Array.from(k));
        }));
        // Votes: the per-channel centres' test on the first prompt of each image (big.ts).
        modules.forEach((_, m) => votes[m]!.push(centresBimodal(passes[0]![statNames.full(keyTensors[m]!)]!.data as Float32Array, channels[m]!)));
      }
      report('big', n, n);
    } finally {
      await bigSession.release();
    }
    const replacements = new Map();
    modules.forEach((module, m) => {
      const bimodal = majority(votes[m]!);
      const gamma = channelSigns(image0Keys[m]!, channels[m]!);
      if (bimodal) for (const [k, v] of foldedInitializers(decoder, module, gamma)) replacements.set(k, v);
      const before = image0Keys[m]![0]!;
      big.push({ module, paperBimodal: pooledBimodal(before), votes: votes[m]!, bimodal, folded: bimodal, before, after: bimodal ? applySigns(before, gamma) : before });
    });
    if (replacements.size) folded = mergeBuilder(decoder, new GraphBuilder(), 'big', { initializers: replacements });
  }

  // 3. Decoder statistics on the folded decoder, one pass per prompt.
  const dec = graphCalibration(plan, 'decoder', o);
  const decSession = await ort.InferenceSession.create(encodeSelfContained(augmentFor(folded, dec, o), 'decoder'), sessionOptions);
  try {
    for (let i = 0; i < images.length; i++) {
      checkAborted(o.signal);
      report('decoder', i, images.length);
      observeImage(dec, await runPrompts(decSession, i, images[i]!.prompts), o.agqMacBudget);
    }
    report('decoder', images.length, images.length);
  } finally {
    await decSession.release();
  }

  const ranges = new Map<string, Range>();
  const agq = new Map<string, { module: string; tau: number; scale: number; errors: Record<number, number> }>();
  for (const c of [enc, dec]) {
    for (const s of c.sites) ranges.set(s.id, c.observers.get(s.id)!.range());
    for (const t of c.agqTargets) {
      const search = c.searches.get(t.module)!;
      if (search instanceof AgqSearch) agq.set(t.attention.probs.id, { module: t.module, ...search.result() });
      else ranges.set(t.attention.probs.id, { lo: 0, hi: search.result() });
    }
  }
  const hessians = new Map<string, Float64Array>();
  for (const c of [enc, dec]) for (const [t, h] of c.hessians) if (h) hessians.set(t, h);
  return { ranges, agq, big, decoder: folded, forwardSeconds: forwardMs / 1000, hessians };
}
