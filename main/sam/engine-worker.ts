/**
 * The engine's worker thread: owns the onnxruntime sessions, decodes images, keeps an LRU of
 * embeddings. It answers rpc.ts requests (preload/contract) with the methods below; their table's
 * type is what engine.ts calls. The results' typed arrays are transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { decodeImageBuffer, UNUSABLE_IMAGE, UnusableImageError, type RgbImage } from './image/index.ts';
import { cropRgb, encoderSizeProblem, loadSam, prepareClicks, releaseSam, runBestDecoder, runDecoder, runDecoderScores, runDecoderWantedLogits, runEncoder, runPredict, runPredictViews, splitDecoderSessions, validatePrompt, type DecodedCandidates, type LoadedSam, type PredictPath, type SessionSettings } from './inference.ts';
import { JOB_CANCELLED, type BoxBatchResult, type EverythingResult, type JobProgress, type PredictViews, type SegmentPrompt } from './engine-api.ts';
import { answer } from '../../preload/contract/rpc.ts';
import { SAM2_FEATURES_LENGTH } from './sam2-inference.ts';
import { automaticDefaults, generateMasks, type AutomaticOptions, type CropDecoder } from './automatic.ts';
import { rleFromMask, rleFromPositive } from '../masks/index.ts';

interface EmbeddingEntry { data: Float32Array; width: number; height: number }

/** Screening slack on predicted IoU between the screening graph (the split's reassociated prompt part, no mask head) and the whole decoder. */
const SCREEN_MARGIN = 1e-3;

const settings = workerData as SessionSettings & { lruSize?: number };
const models = new Map<string, LoadedSam>();
const embeddings = new Map<string, EmbeddingEntry>();
const lruSize = settings.lruSize ?? 16;
/** how `predict` runs: today's fast path unless a benchmark asks for the earlier one */
let predictPath: PredictPath = { decoder: 'split', postprocess: 'view' };

/**
 * The last hover's candidates. A click usually lands where the pointer rested, so its prompt is
 * often the last hover's (one positive point, same model, embedding and path): it takes these
 * instead of running the decoder again on the same inputs. Taken once (the click's answer hands
 * the logits over); a new hover, model load or path change replaces or clears it.
 */
let restingHover: { modelKey: string; entry: EmbeddingEntry; path: PredictPath; x: number; y: number; decoded: DecodedCandidates } | null = null;

/** The point of a prompt that is one positive point alone (a hover's kind), else null. */
function onePositivePoint(prompt: SegmentPrompt): { x: number; y: number } | null {
  const [p] = prompt.points;
  return prompt.points.length === 1 && !prompt.box && !prompt.maskInput && p!.label === 1 ? p! : null;
}

/** The resting hover's candidates if `prompt` is its point alone on the same image, model and path (then forgotten). */
function takeRestingHover(modelKey: string, entry: EmbeddingEntry, prompt: SegmentPrompt): DecodedCandidates | undefined {
  const h = restingHover, p = onePositivePoint(prompt);
  if (!h || !p || h.modelKey !== modelKey || h.entry !== entry || h.path !== predictPath || p.x !== h.x || p.y !== h.y) return undefined;
  restingHover = null;
  return h.decoded;
}

function remember(key: string, entry: EmbeddingEntry): void {
  embeddings.delete(key);
  embeddings.set(key, entry);
  while (embeddings.size > lruSize) embeddings.delete(embeddings.keys().next().value!);
}

function recall(key: string): EmbeddingEntry | undefined {
  const e = embeddings.get(key);
  if (e) { embeddings.delete(key); embeddings.set(key, e); }
  return e;
}

/**
 * Set by `shutdown`: requests not yet started are refused, and the batch methods stop between
 * two onnxruntime runs. Terminating the thread under a native run kills the whole process, so
 * the engine's dispose waits, through `shutdown`, for the runs in flight.
 */
let closing = false;
/** requests being answered, `shutdown` aside */
let active = 0;
let idle: (() => void) | null = null;

function checkOpen(): void {
  if (closing) throw new Error('engine disposed');
}

/** Batch jobs (segment everything) the caller cancelled: they end between two decoder runs. */
const cancelledJobs = new Set<number>();

function model(key: string): LoadedSam {
  const m = models.get(key);
  if (!m) throw new Error(`model ${key} is not loaded`);
  return m;
}

async function readImage(path: string): Promise<{ img: RgbImage; hash: string }> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new UnusableImageError(`${path}: cannot read image file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const hash = createHash('sha256').update(buf).digest('hex');
  return { img: await decodeImageBuffer(buf, path), hash };
}

async function embeddingFor(modelKey: string, imagePath: string, imageHash?: string, check?: (width: number, height: number) => void): Promise<{ entry: EmbeddingEntry; hash: string; source: 'memory' | 'encoder'; encoderMs: number }> {
  const m = model(modelKey);
  if (imageHash) {
    const hit = recall(`${m.info.id}:${imageHash}`);
    if (hit) {
      check?.(hit.width, hit.height);
      return { entry: hit, hash: imageHash, source: 'memory', encoderMs: 0 };
    }
  }
  const { img, hash } = await readImage(imagePath);
  // the caller named the image by the bytes it was added with: a file changed since is another image
  if (imageHash && hash !== imageHash) throw new UnusableImageError(`${imagePath}: the file changed on disk since it was added (its contents differ); add it again to label it`);
  // Prompts are checked before the encoder runs: a bad click should fail in milliseconds.
  check?.(img.width, img.height);
  const problem = encoderSizeProblem(m.info.preprocessing.kind, img.width, img.height);
  if (problem) throw new UnusableImageError(`${imagePath}: ${problem}`);
  const key = `${m.info.id}:${hash}`;
  const hit = recall(key);
  if (hit) return { entry: hit, hash, source: 'memory', encoderMs: 0 };
  checkOpen();
  const t0 = performance.now();
  const data = await runEncoder(m, img);
  const entry = { data, width: img.width, height: img.height };
  remember(key, entry);
  return { entry, hash, source: 'encoder', encoderMs: performance.now() - t0 };
}

/** `runPredictViews` on the image's embedding, from the resting hover's candidates when the prompt is its point. */
async function predictViewsOn(modelKey: string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string; onlyBest?: boolean }): Promise<{ entry: EmbeddingEntry; views: PredictViews }> {
  const { entry } = await embeddingFor(modelKey, imagePath, opts.imageHash, (w, h) => validatePrompt(prompt, w, h));
  const decoded = takeRestingHover(modelKey, entry, prompt);
  return { entry, views: await runPredictViews(model(modelKey), entry.data, prompt, entry.width, entry.height, { onlyBest: opts.onlyBest ?? false, decoded, ...predictPath }) };
}

const methods = {
  async loadModel(dir: string) {
    restingHover = null;
    const loaded = await loadSam(dir, settings);
    // the first click should not wait for the split decoder's sessions
    await splitDecoderSessions(loaded);
    const key = loaded.info.id;
    const replaced = models.get(key);
    models.set(key, loaded);
    if (replaced) await releaseSam(replaced);
    return { key, info: loaded.info, provider: loaded.provider, warnings: loaded.warnings };
  },
  async unloadModel(key: string) {
    restingHover = null;
    const m = models.get(key);
    if (m) await releaseSam(m);
    models.delete(key);
  },
  async encode(modelKey: string, imagePath: string, opts: { imageHash?: string; returnEmbedding?: boolean } = {}) {
    const { entry, hash, source, encoderMs } = await embeddingFor(modelKey, imagePath, opts.imageHash);
    return {
      info: { imageHash: hash, modelId: model(modelKey).info.id, width: entry.width, height: entry.height, encoderMs, source },
      embedding: opts.returnEmbedding ? entry.data.slice() : undefined,
    };
  },
  async putEmbedding(modelKey: string, imageHash: string, data: Float32Array, width: number, height: number) {
    const m = model(modelKey);
    const expected = m.info.family === 'sam2.1' ? SAM2_FEATURES_LENGTH : 256 * 64 * 64;
    if (data.length !== expected) throw new Error(`embedding has ${data.length} values, expected ${m.info.family === 'sam2.1' ? 'image_embed + high_res_feats_0 + high_res_feats_1' : '1x256x64x64'} (${expected})`);
    remember(`${model(modelKey).info.id}:${imageHash}`, { data, width, height });
  },
  /**
   * The click split's image part for an image whose embedding is in memory, ahead of its first
   * hover or click (`prepareClicks`); false when the embedding is not here (nothing is encoded).
   */
  async prepareClicks(modelKey: string, imageHash: string) {
    const m = model(modelKey);
    const entry = recall(`${m.info.id}:${imageHash}`);
    if (!entry) return false;
    await prepareClicks(m, entry.data, entry.width, entry.height);
    return true;
  },
  async hasEmbedding(modelKey: string, imageHash: string) {
    return embeddings.has(`${model(modelKey).info.id}:${imageHash}`);
  },
  async segment(modelKey: string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string } = {}) {
    const { entry } = await embeddingFor(modelKey, imagePath, opts.imageHash, (w, h) => validatePrompt(prompt, w, h));
    return runDecoder(model(modelKey), entry.data, prompt, entry.width, entry.height);
  },
  async predict(modelKey: string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string; onlyBest?: boolean } = {}) {
    const { entry } = await embeddingFor(modelKey, imagePath, opts.imageHash, (w, h) => validatePrompt(prompt, w, h));
    return runPredict(model(modelKey), entry.data, prompt, entry.width, entry.height, { onlyBest: opts.onlyBest ?? false, ...predictPath });
  },
  async setPredictPath(path: PredictPath) {
    if (!['split', 'whole'].includes(path.decoder) || !['view', 'exact'].includes(path.postprocess)) throw new Error(`unknown predict path ${JSON.stringify(path)}`);
    predictPath = { decoder: path.decoder, postprocess: path.postprocess };
  },
  async predictViews(modelKey: string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string; onlyBest?: boolean } = {}) {
    return (await predictViewsOn(modelKey, imagePath, prompt, opts)).views;
  },
  /** The best candidate's view; the candidates stay here for a click at the same point (`restingHover`). */
  async hover(modelKey: string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string } = {}) {
    const { entry, views } = await predictViewsOn(modelKey, imagePath, prompt, { ...opts, onlyBest: true });
    const p = onePositivePoint(prompt);
    restingHover = p ? { modelKey, entry, path: predictPath, x: p.x, y: p.y, decoded: { lowResMasks: views.lowResMasks, iouPredictions: views.iouPredictions, best: views.best } } : null;
    // the window never refines from a hover: its logits stay here
    return { ...views, lowResMasks: new Float32Array(0) };
  },
  /**
   * Each box decoded as `segment` decodes it (the decoder graph takes one prompt a run), all in
   * one call, only the kept candidate upsampled (runBestDecoder); masks as RLE.
   */
  async decodeBoxes(modelKey: string, imagePath: string, boxes: [number, number, number, number][], opts: { imageHash?: string } = {}): Promise<BoxBatchResult> {
    const check = (w: number, h: number) => { for (const box of boxes) validatePrompt({ points: [], box }, w, h); };
    const { entry } = await embeddingFor(modelKey, imagePath, opts.imageHash, check);
    const { width, height } = entry;
    const t0 = performance.now();
    const masks = [];
    for (const box of boxes) {
      checkOpen();
      const { logits, score } = await runBestDecoder(model(modelKey), entry.data, { points: [], box }, width, height);
      const { rle, area } = rleFromPositive(width, height, logits);
      masks.push({ rle, score, empty: area === 0 });
    }
    return { width, height, masks, decoderMs: performance.now() - t0 };
  },
  /** The automatic mask generator over one image (`segmentEverything` below). */
  async segmentEverything(modelKey: string, imagePath: string, options: Partial<AutomaticOptions>, opts: { imageHash?: string; jobId?: number } = {}): Promise<EverythingResult> {
    try {
      return await segmentEverything(modelKey, imagePath, options, opts);
    } finally {
      if (opts.jobId !== undefined) cancelledJobs.delete(opts.jobId);
    }
  },
  /** Ends the batch job `jobId` (its call rejects with "cancelled"); one not started yet ends at its first point. */
  async cancelJob(jobId: number) {
    cancelledJobs.add(jobId);
  },
};

/**
 * The automatic mask generator over one image, with the generator defaults of the model's family
 * under the options given; crops beyond the whole image are encoded here. With a `jobId`, its
 * progress (grid points decoded) is posted after each batch and `cancelJob` ends it.
 */
async function segmentEverything(modelKey: string, imagePath: string, options: Partial<AutomaticOptions>, opts: { imageHash?: string; jobId?: number }): Promise<EverythingResult> {
  const m = model(modelKey);
  const { jobId } = opts;
  const checkJob = () => {
    checkOpen();
    if (jobId !== undefined && cancelledJobs.has(jobId)) throw new Error(JOB_CANCELLED);
  };
  checkJob();
  const { entry, encoderMs } = await embeddingFor(modelKey, imagePath, opts.imageHash);
  const { width, height } = entry;
  const progress = jobId === undefined ? undefined
    : (done: number, total: number) => parentPort!.postMessage({ kind: 'job-progress', jobId, done, total } satisfies JobProgress);
  let image: RgbImage | null = null;
  let cropEncoderMs = 0;
  const decoderFor = async (crop: [number, number, number, number]): Promise<CropDecoder> => {
    let embedding = entry.data;
    const cropW = crop[2] - crop[0], cropH = crop[3] - crop[1];
    if (cropW !== width || cropH !== height) {
      image ??= (await readImage(imagePath)).img;
      checkJob();
      const t0 = performance.now();
      embedding = await runEncoder(m, cropRgb(image, crop));
      cropEncoderMs += performance.now() - t0;
    }
    // multimask output: the decoder's candidates 1..3 (candidate 0 is the single-mask answer)
    return async (points, wanted) => {
      const out = [];
      for (const [x, y] of points) {
        checkJob();
        const prompt = { points: [{ x, y, label: 1 as const }] };
        // Most points fail the IoU threshold: the screening graph's scores (runDecoderScores: no
        // mask head) screen them first, with a margin so that a rounding difference between the
        // two graphs never drops a candidate the full decoder would keep; the full decoder's scores decide.
        const screen = await runDecoderScores(m, embedding, prompt, cropW, cropH);
        if (!screen.slice(1).some((s) => wanted(s + SCREEN_MARGIN) || wanted(s - SCREEN_MARGIN))) {
          out.push({ logits: [null, null, null], iou: screen.slice(1) });
          continue;
        }
        // only the candidates that pass the IoU threshold are made at full size
        const r = await runDecoderWantedLogits(m, embedding, prompt, cropW, cropH, (k, iou) => k > 0 && wanted(iou));
        out.push({ logits: r.logits.slice(1), iou: r.iouPredictions.slice(1) });
      }
      return out;
    };
  };
  const { masks, timings } = await generateMasks(width, height, decoderFor, { ...automaticDefaults(m.info.family), ...options }, progress);
  return {
    width, height, encoderMs: encoderMs + cropEncoderMs, decodeMs: timings.decodeMs, filterMs: timings.filterMs,
    masks: masks.map((a) => ({
      rle: rleFromMask({ width, height, data: a.mask }), box: a.box, predictedIou: a.predictedIou, stabilityScore: a.stabilityScore, point: a.point, cropBox: a.cropBox,
    })),
  };
}

/** Refuses new work, waits for the requests in flight to end, then releases every session. */
async function shutdown(): Promise<void> {
  closing = true;
  if (active > 0) await new Promise<void>((resolve) => { idle = resolve; });
  for (const m of models.values()) await releaseSam(m);
  models.clear();
  embeddings.clear();
}

export type EngineMethods = typeof methods & { shutdown: typeof shutdown };
type EngineRequest = { kind: 'request'; id: number; method: string; args: unknown[] };

/**
 * The typed arrays' buffers in a result, handed over instead of copied (each listed once); a
 * view into a larger buffer is copied, since the rest of that buffer may still be in use here.
 */
function transferables(value: unknown, found = new Set<ArrayBuffer>()): ArrayBuffer[] {
  if (ArrayBuffer.isView(value)) {
    const b = value.buffer;
    if (b instanceof ArrayBuffer && b.byteLength > 0 && value.byteOffset === 0 && value.byteLength === b.byteLength) found.add(b);
  } else if (Array.isArray(value)) {
    for (const v of value) transferables(v, found);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) transferables(v, found);
  }
  return [...found];
}

async function reply(request: EngineRequest): Promise<void> {
  if (request?.method === 'shutdown') {
    const response = await answer({ shutdown }, request);
    parentPort!.postMessage(response);
    return;
  }
  active++;
  try {
    const response = closing
      ? { kind: 'response' as const, id: request.id, error: { message: 'engine disposed', code: null } }
      // an unusable image keeps its code across the boundary: a batch skips it and goes on
      : await answer(methods, request, (err) => ((err as { code?: unknown }).code === UNUSABLE_IMAGE ? UNUSABLE_IMAGE : null));
    parentPort!.postMessage(response, 'result' in response ? transferables(response.result) : []);
  } finally {
    if (--active === 0 && idle) { idle(); idle = null; }
  }
}

/**
 * Decoder calls run one at a time, in order, except hovers: a hover still waiting is dropped
 * (answered null) when a click or a newer hover arrives, so a click waits at most for the one
 * decoder call already running. Encoding and the rest run beside them.
 */
const DECODER_METHODS = new Set(['predict', 'predictViews', 'segment', 'hover']);
const decoderQueue: EngineRequest[] = [];
let decoderRunning = false;

async function pumpDecoder(): Promise<void> {
  if (decoderRunning) return;
  decoderRunning = true;
  try {
    while (decoderQueue.length) await reply(decoderQueue.shift()!);
  } finally {
    decoderRunning = false;
  }
}

parentPort!.on('message', (request: EngineRequest) => {
  if (!DECODER_METHODS.has(request?.method)) {
    void reply(request);
    return;
  }
  for (let i = decoderQueue.length - 1; i >= 0; i--) {
    if (decoderQueue[i]!.method !== 'hover') continue;
    parentPort!.postMessage({ kind: 'response', id: decoderQueue[i]!.id, result: null });
    decoderQueue.splice(i, 1);
  }
  decoderQueue.push(request);
  void pumpDecoder();
});
