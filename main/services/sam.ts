/**
 * The app's SAM service: the active model, the background encoding queue (the image on screen
 * first, then the next ones, one at a time) and the project's persistent embedding cache (fp16
 * in SQLite, keyed by image hash + model id) in front of the engine's memory LRU. The engine
 * (main/sam/engine.ts) runs in a worker thread, so nothing here blocks the main process.
 */
import { statSync } from 'node:fs';
import { fileSha256 } from '../base/index.ts';
import type { ImageRecord, Project } from '../project/index.ts';
import type { EmbeddingInfo, EverythingResult, MaskCrop, PredictViews, SegmentPrompt } from '../sam/engine-api.ts';
import { maskCropOfCandidate, viewMaskThinned } from '../sam/view-masks.ts';
import type { ModelFamily } from '../sam/model-dir.ts';
import { automaticDefaults, type AutomaticOptions } from '../sam/automatic.ts';
import type { Engine, LoadedModel } from '../sam/engine.ts';
import { warmEmbedding } from '../sam/embedding-cache.ts';
import { MASK_VIEW_MAX_PIXELS, type ApiEvent, type MaskView, type Prediction, type ProposalSet, type SamPrompt } from '../../preload/contract/index.ts';
import { cropFromRle, maskView } from './masks.ts';
import { autolabelProject, type AutolabelResult } from './autolabel.ts';

const LOW_RES = 256 * 256;
/** answers kept for refining and accepting (each holds its views and 4 x 256 KB of logits) */
const KEPT_RESULTS = 3;
/**
 * Embeddings this service put into the engine, most recent last. The engine keeps 16 in its own
 * LRU, touched only by this service; the last 8 are certainly still there, so a click on one of
 * those images goes straight to the decoder (no round trip to ask, nothing re-encoded).
 */
const KNOWN_IN_ENGINE = 8;
/** "segment everything" sets kept for accepting (each holds its masks as RLE: small) */
const KEPT_PROPOSAL_SETS = 2;

/** An answer kept in the main process: what the window refines and accepts by id. */
export interface KeptResult {
  imageId: number;
  modelId: string;
  family: ModelFamily;
  prompt: SegmentPrompt;
  result: PredictViews;
  /** the candidates' views as the window got them; null until `candidateViews` makes one */
  views: (MaskView | null)[];
}

export class SamService {
  model: LoadedModel | null = null;
  modelDir: string | null = null;
  problem: string | null = null;
  lastDecoderMs: number | null = null;

  #queue: number[] = [];
  #pumping = false;
  /** one encode per image at a time, shared by whoever asks */
  #encoding = new Map<string, Promise<EmbeddingInfo>>();
  #known: string[] = [];
  #results = new Map<number, KeptResult>();
  /**
   * Counts model changes and project switches: an answer whose click started before one is
   * never kept (its image id may name another project's image) and never reaches the window.
   */
  #epoch = 0;
  #nextResult = 1;
  /** the model switches asked for and not finished, and the last one's end */
  #switches = 0;
  #lastSwitch: Promise<void> = Promise.resolve();
  /** per image with an error badge: the file (path, size, mtime) last found still not as it was added */
  #stillBroken = new Map<number, string>();
  /** the latest "segment everything" sets (full masks as RLE), for accepting */
  #proposals = new Map<number, { imageId: number; modelId: string; result: EverythingResult }>();
  /** the "segment everything" run in progress: a newer one or `cancelEverything` ends it */
  #everything: AbortController | null = null;
  /** the project whose images the background queue names */
  #queueProject: Project | null = null;
  /** the boxes-to-masks run in progress: `cancelBoxes`, a model switch or another project ends it */
  #boxes: AbortController | null = null;

  constructor(private readonly engine: Engine, private readonly emit: (e: ApiEvent) => void, readonly executionProvider: string) {}

  get queued(): number { return this.#queue.length; }

  /** a model switch in progress (they run one after another): the active model is not to be restored meanwhile */
  get switching(): boolean { return this.#switches > 0; }

  /**
   * Makes `modelDir` the engine's model (null: none). Switches run one after another: two at once
   * left the one overtaken loaded in the worker for good. A switch that fails leaves the model
   * that was in use: it is unloaded first (two large models never share the memory) and loaded
   * again; only where that fails too is there no model, and `problem` says why.
   */
  setModel(modelDir: string | null): Promise<void> {
    this.#switches++;
    const run = this.#lastSwitch.then(() => this.#switchModel(modelDir)).finally(() => { this.#switches--; });
    this.#lastSwitch = run.catch(() => undefined);
    return run;
  }

  async #switchModel(modelDir: string | null): Promise<void> {
    this.#epoch++;
    this.#queue = [];
    this.cancelEverything(); // its proposals would be kept under the model it started with
    this.cancelBoxes();
    const previous = this.model ? this.modelDir : null;
    if (this.model) await this.engine.unloadModel(this.model.key).catch(() => undefined);
    this.model = null;
    this.#known = [];
    this.#results.clear();
    this.modelDir = modelDir;
    this.problem = null;
    if (!modelDir) return;
    try {
      this.model = await this.engine.loadModel(modelDir);
    } catch (err) {
      const problem = `The model in ${modelDir} could not be loaded: ${(err as Error).message}`;
      try {
        if (!previous) throw err;
        this.model = await this.engine.loadModel(previous);
        this.modelDir = previous;
      } catch {
        this.problem = problem;
      }
      throw err;
    }
  }

  #need(): LoadedModel {
    if (!this.model) throw new Error(this.problem ?? 'No SAM model is active: import or set up a model on the Models page.');
    return this.model;
  }

  #image(project: Project, imageId: number): { file: string; hash: string; width: number; height: number } {
    const image = project.getImage(imageId);
    if (image.error && !this.#fileIsBack(project, image)) throw new Error(`image ${image.path} cannot be used: ${image.error}`);
    const file = project.resolveImagePath(image);
    if (!file || !image.sha256) throw new Error(`image ${image.path}: file not found`);
    return { file, hash: image.sha256, width: image.width ?? 0, height: image.height ?? 0 };
  }

  /** memory, else the project's cache (warming the engine), else the encoder (filling the cache) */
  encode(project: Project, imageId: number): Promise<EmbeddingInfo> {
    const model = this.#need();
    const image = this.#image(project, imageId);
    const key = `${model.key}:${image.hash}`;
    let running = this.#encoding.get(key);
    if (!running) {
      running = this.#encode(project, model, image).finally(() => this.#encoding.delete(key));
      this.#encoding.set(key, running);
    }
    const epoch = this.#epoch;
    return running.then((info) => {
      this.#remember(key);
      return info;
    }, (err) => {
      // the model was switched while this image was encoded (onnxruntime: "Session already disposed")
      if (this.model !== model && this.#epoch !== epoch) throw new Error(`image ${project.getImage(imageId).path} was being encoded when the model changed; it is encoded with the new one when it is next opened`);
      this.#recordDecodeError(project, imageId, err);
      throw err;
    });
  }

  #remember(key: string): void {
    this.#known = [...this.#known.filter((k) => k !== key), key].slice(-KNOWN_IN_ENGINE);
  }

  #encode(project: Project, model: LoadedModel, image: { file: string; hash: string; width: number; height: number }): Promise<EmbeddingInfo> {
    return warmEmbedding(this.engine, model, project, image);
  }

  /**
   * Readies the engine for the first hover or click on the image the window opened (its
   * embedding just made or found): the decoder's image part runs now, not at that first click.
   * Best effort: the click would run it anyway.
   */
  prepareClicks(project: Project, imageId: number): void {
    if (!this.model) return;
    const { hash } = this.#image(project, imageId);
    void this.engine.prepareClicks(this.model, hash).catch(() => undefined);
  }

  /** queues images for background encoding (replacing the previous queue), after the current one */
  prefetch(project: Project, imageIds: number[]): void {
    if (!this.model) return;
    this.#queue = [...imageIds];
    this.#queueProject = project;
    if (!this.#pumping) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#queue.length && this.model && this.#queueProject) {
        const imageId = this.#queue.shift()!;
        // the queue's project at each image: the queue of a project opened meanwhile names its own images
        const project = this.#queueProject;
        const epoch = this.#epoch;
        this.emit({ type: 'encode-progress', imageId, queued: this.#queue.length, done: false, error: null });
        let error: string | null = null;
        try {
          await this.encode(project, imageId);
        } catch (err) {
          error = (err as Error).message;
        }
        // another project or model since: in the window this id names another image now
        if (this.#epoch !== epoch) continue;
        this.emit({ type: 'encode-progress', imageId, queued: this.#queue.length, done: true, error });
      }
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * The decoder's answer for the window: masks as views (large ones thinned), the full answer
   * kept under its id unless it is a hover preview. A refining prompt names the kept answer whose
   * candidate's low-res logits go back in.
   */
  async predict(project: Project, imageId: number, prompt: SamPrompt, preview: boolean, candidates: 'all' | 'best' = 'all'): Promise<Prediction> {
    const epoch = this.#epoch;
    try {
      const answer = await this.#predict(project, imageId, prompt, preview, candidates, epoch);
      if (this.#epoch === epoch) return answer;
    } catch (err) {
      if (this.#epoch === epoch) throw err;
    }
    // the model changed or another project opened while it decoded (its session may be gone)
    if (preview) return { resultId: 0, width: 0, height: 0, masks: [], iouPredictions: [], best: 0, decoderMs: 0 };
    throw new Error('the model or the project changed while this click was decoding; click again');
  }

  async #predict(project: Project, imageId: number, prompt: SamPrompt, preview: boolean, candidates: 'all' | 'best', epoch: number): Promise<Prediction> {
    const model = this.#need();
    const { file, hash } = this.#image(project, imageId);
    const key = `${model.key}:${hash}`;
    if (this.#known.at(-1) !== key) {
      if (this.#known.includes(key)) this.#remember(key); // its place in the engine's LRU moves too
      else await this.encode(project, imageId);
    }
    const segment: SegmentPrompt = { points: prompt.points, ...(prompt.box ? { box: prompt.box } : {}) };
    if (prompt.refine) segment.maskInput = this.#lowRes(imageId, prompt.refine.resultId, prompt.refine.candidate);
    if (preview) {
      const result = await this.engine.hover(model, file, segment, { imageHash: hash });
      // a click reached the engine first: the window ignores a hover's answer after a click
      if (!result) return { resultId: 0, width: 0, height: 0, masks: [], iouPredictions: [], best: 0, decoderMs: 0 };
      this.lastDecoderMs = result.decoderMs;
      const { width, height, iouPredictions, best, decoderMs } = result;
      return { resultId: 0, width, height, masks: [result.views[best]!], iouPredictions: [iouPredictions[best]!], best: 0, decoderMs };
    }
    const onlyBest = candidates === 'best';
    const result = await this.engine.predictViews(model, file, segment, { imageHash: hash, onlyBest });
    this.lastDecoderMs = result.decoderMs;
    const { width, height, iouPredictions, best, decoderMs } = result;
    const views = result.views.map((v, i) => (onlyBest && i !== best ? null : v));
    if (this.#epoch !== epoch) throw new Error('stale'); // not kept: `predict` says why
    const resultId = this.#nextResult++;
    this.#results.set(resultId, { imageId, modelId: model.info.id, family: model.info.family, prompt: segment, result, views });
    for (const id of this.#results.keys()) if (this.#results.size > KEPT_RESULTS) this.#results.delete(id);
    return { resultId, width, height, masks: views, iouPredictions, best, decoderMs };
  }

  /**
   * Every candidate's view of a kept answer, the missing ones made now from its logits (the
   * window's view postprocessing), one per turn of the event loop so that a click's call is
   * not held up behind all of them (a noisy candidate of a large photo takes tens of ms).
   */
  async candidateViews(imageId: number, resultId: number): Promise<MaskView[]> {
    const kept = this.kept(imageId, resultId);
    const { width, height } = kept.result;
    for (let i = 0; i < kept.views.length; i++) {
      if (kept.views[i]) continue;
      await new Promise((resolve) => setImmediate(resolve));
      kept.views[i] ??= viewMaskThinned(this.#candidate(imageId, resultId, i).logits, width, height, MASK_VIEW_MAX_PIXELS, kept.family);
    }
    return kept.views as MaskView[];
  }

  kept(imageId: number, resultId: number): KeptResult {
    const kept = this.#results.get(resultId);
    if (!kept || kept.imageId !== imageId) throw new Error(`answer ${resultId} for image ${imageId} is no longer kept; click again`);
    return kept;
  }

  /** A kept answer's candidate and its 256x256 logits (a view into the answer's). */
  #candidate(imageId: number, resultId: number, candidate: number): { kept: KeptResult; logits: Float32Array } {
    const kept = this.kept(imageId, resultId);
    if (candidate >= kept.views.length) throw new Error(`answer ${resultId} has no candidate ${candidate}`);
    return { kept, logits: kept.result.lowResMasks.subarray(candidate * LOW_RES, (candidate + 1) * LOW_RES) };
  }

  /** a copy: a fed-back mask is handed over to the engine's thread */
  #lowRes(imageId: number, resultId: number, candidate: number): Float32Array {
    return this.#candidate(imageId, resultId, candidate).logits.slice();
  }

  /**
   * The full-resolution mask of a kept answer's candidate, made now from its logits by the view
   * postprocessing the window's views come from (the window only ever got views).
   */
  keptMask(imageId: number, resultId: number, candidate: number): { mask: MaskCrop; kept: KeptResult } {
    const { kept, logits } = this.#candidate(imageId, resultId, candidate);
    return { mask: maskCropOfCandidate(kept.family, logits, kept.result.width, kept.result.height), kept };
  }

  /**
   * "segment everything" on one image: the proposals as views, the set kept for accepting. Its
   * progress goes out as `everything-progress` events; a newer run ends this one ("cancelled").
   */
  async everything(project: Project, imageId: number, options: Partial<AutomaticOptions> = {}): Promise<ProposalSet> {
    const model = this.#need();
    const { file, hash } = this.#image(project, imageId);
    this.#everything?.abort();
    const run = new AbortController();
    this.#everything = run;
    const t0 = performance.now();
    let result: EverythingResult;
    try {
      await this.encode(project, imageId);
      result = await this.engine.segmentEverything(model, file, options, {
        imageHash: hash, signal: run.signal,
        onProgress: (done, total) => this.emit({ type: 'everything-progress', imageId, done, total }),
      });
    } finally {
      if (this.#everything === run) this.#everything = null;
    }
    const proposalsId = this.#nextResult++;
    this.#proposals.set(proposalsId, { imageId, modelId: model.info.id, result });
    for (const id of this.#proposals.keys()) if (this.#proposals.size > KEPT_PROPOSAL_SETS) this.#proposals.delete(id);
    return {
      proposalsId, imageId, seconds: (performance.now() - t0) / 1000, defaultMinScore: automaticDefaults(model.info.family).predIouThresh,
      proposals: result.masks.map((m, index) => ({ index, score: m.predictedIou, stability: m.stabilityScore, mask: maskView(cropFromRle(m.rle)) })),
    };
  }

  /**
   * Masks for the project's box-only annotations (of `imageIds`, else every image's): the store's
   * automatic labelling in boxes mode, the masks `segment` gives for the boxes, one undo step per
   * image, progress as `autolabel-progress` events. A cancel ends it after the image in progress,
   * which is kept: what is done stays done, and a rerun finds only the boxes left.
   */
  async boxesToMasks(project: Project, imageIds?: number[]): Promise<AutolabelResult & { cancelled: boolean; notes: string[] }> {
    const model = this.#need();
    if (this.#boxes) throw new Error('masks for boxes: a run is in progress; wait for it or cancel it');
    const run = new AbortController();
    this.#boxes = run;
    const skipped: string[] = [];
    try {
      const result = await autolabelProject(project, this.engine, model, {
        mode: 'boxes', ...(imageIds ? { imageIds } : {}), signal: run.signal,
        onProgress: (p) => this.emit({ type: 'autolabel-progress', done: p.done, total: p.total, created: p.created, masksPerSecond: p.masksPerSecond, etaSeconds: p.etaSeconds ?? null }),
        onSkipped: (path, why) => skipped.push(`${path}: ${why}`),
      });
      return { ...result, cancelled: run.signal.aborted, notes: skipped };
    } finally {
      this.#boxes = null;
    }
  }

  cancelBoxes(): void {
    this.#boxes?.abort();
  }

  /** Ends the "segment everything" run in progress, if any (its call rejects with "cancelled"). */
  cancelEverything(): void {
    this.#everything?.abort();
  }

  keptProposals(imageId: number, proposalsId: number): { modelId: string; result: EverythingResult } {
    const kept = this.#proposals.get(proposalsId);
    if (!kept || kept.imageId !== imageId) throw new Error(`proposals ${proposalsId} for image ${imageId} are no longer kept; find them again`);
    return kept;
  }

  /**
   * Whether an image that failed to decode after it was added (a file caught mid-write by a sync
   * tool, say) has its file back: the bytes it had when added, whose header was read then. Its
   * error badge is cleared, so one bad moment does not make the image unusable for good.
   */
  #fileIsBack(project: Project, image: ImageRecord): boolean {
    const file = image.sha256 && image.width !== null ? project.resolveImagePath(image) : null;
    if (!file) return false;
    try {
      // hashed again only when the file changed since the last look: hovers over a broken image
      // ask many times a second
      const { size, mtimeMs } = statSync(file);
      const seen = `${file}:${size}:${mtimeMs}`;
      if (this.#stillBroken.get(image.id) === seen) return false;
      if (fileSha256(file) !== image.sha256) {
        this.#stillBroken.set(image.id, seen);
        return false;
      }
    } catch {
      return false;
    }
    this.#stillBroken.delete(image.id);
    try { project.setImageError(image.id, null); } catch { /* a read-only project keeps its badge; the image works */ }
    return true;
  }

  /** an image the engine cannot decode gets its error badge, so the list shows it */
  #recordDecodeError(project: Project, imageId: number, err: unknown): void {
    const message = (err as Error).message ?? String(err);
    if (/decode|unsupported image|corrupt|truncated|Input buffer/i.test(message)) {
      try { project.setImageError(imageId, message); } catch { /* the project closed meanwhile */ }
    }
  }

  cancelAll(): void {
    this.#queue = [];
    this.#queueProject = null;
    this.#results.clear();
    this.#epoch++;
    this.#proposals.clear();
    this.#stillBroken.clear();
    this.cancelEverything();
    this.cancelBoxes();
  }
}
