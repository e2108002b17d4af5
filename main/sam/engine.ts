/**
 * The SAM engine as seen by the CLI and the app: a client for a worker thread that owns the
 * onnxruntime sessions, so the caller's thread never runs inference. Requests are queued in
 * the worker: decoder calls one at a time in order, a hover still waiting dropped when a click
 * arrives. The messages are the contract's rpc.ts requests, typed by the worker's method table;
 * typed arrays cross the thread boundary transferred, not copied.
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RpcClient } from '../../preload/contract/rpc.ts';
import { JOB_CANCELLED, type BoxBatchResult, type EmbeddingInfo, type EverythingResult, type JobProgress, type PredictResult, type PredictViews, type SegmentPrompt, type SegmentResult } from './engine-api.ts';
import type { EngineMethods } from './engine-worker.ts';
import type { AutomaticOptions } from './automatic.ts';
import type { ModelInfo } from './model-dir.ts';
import type { ExecutionProviderName, PredictPath } from './inference.ts';

export interface EngineOptions {
  /** intra-op threads for onnxruntime; 0 = onnxruntime's default */
  threads?: number;
  executionProvider?: ExecutionProviderName;
  /** embeddings kept in memory (4 MB each; 16 MB for SAM 2.1's three feature maps) */
  lruSize?: number;
  /** the worker script; bundlers pass their emitted file */
  workerPath?: string;
}

export interface LoadedModel {
  key: string;
  info: ModelInfo;
  provider: ExecutionProviderName;
  warnings: string[];
}

/**
 * The worker script: the bundled `.js` next to this file in the app, else the TypeScript source
 * (CLI under tsx, tests), loaded through tsx's ESM hooks registered inside the worker.
 */
function spawnWorker(opts: EngineOptions, workerData: unknown): Worker {
  if (opts.workerPath) return new Worker(opts.workerPath, { workerData });
  const js = fileURLToPath(new URL('./engine-worker.js', import.meta.url));
  if (existsSync(js)) return new Worker(js, { workerData });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const source = new URL('./engine-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

export class Engine {
  private readonly worker: Worker;
  private readonly rpc: RpcClient<EngineMethods>;
  #disposed: Promise<void> | null = null;
  #nextJob = 1;
  readonly #jobProgress = new Map<number, (done: number, total: number) => void>();

  constructor(opts: EngineOptions = {}) {
    this.worker = spawnWorker(opts, { threads: opts.threads ?? 0, executionProvider: opts.executionProvider ?? 'cpu', lruSize: opts.lruSize ?? 16 });
    this.rpc = new RpcClient((request, transfer) => this.worker.postMessage(request, transfer));
    this.worker.on('message', (msg: unknown) => {
      const progress = msg as JobProgress | null;
      if (progress?.kind === 'job-progress') this.#jobProgress.get(progress.jobId)?.(progress.done, progress.total);
      else this.rpc.receive(msg);
    });
    this.worker.on('error', (err) => this.rpc.close(err));
    this.worker.on('exit', (code) => this.rpc.close(new Error(`engine worker exited (code ${code})`)));
  }

  loadModel(dir: string): Promise<LoadedModel> {
    return this.rpc.call('loadModel', dir);
  }

  unloadModel(key: string): Promise<void> {
    return this.rpc.call('unloadModel', key);
  }

  /** Encodes an image (or finds its embedding in memory). */
  async encode(model: LoadedModel | string, imagePath: string, opts: { imageHash?: string } = {}): Promise<EmbeddingInfo> {
    const r = await this.rpc.call('encode', keyOf(model), imagePath, { ...opts, returnEmbedding: false });
    return r.info;
  }

  /**
   * Encodes and returns the embedding itself (1x256x64x64 float32; for SAM 2.1 the three
   * feature maps concatenated, see sam2-inference.ts), e.g. to store in a cache.
   */
  async encodeWithEmbedding(model: LoadedModel | string, imagePath: string, opts: { imageHash?: string } = {}): Promise<{ info: EmbeddingInfo; embedding: Float32Array }> {
    const r = await this.rpc.call('encode', keyOf(model), imagePath, { ...opts, returnEmbedding: true });
    return { info: r.info, embedding: r.embedding! };
  }

  /** Puts an embedding from a persistent cache into the worker's memory; `embedding` is handed over (detached here) when it owns its buffer. */
  putEmbedding(model: LoadedModel | string, imageHash: string, embedding: Float32Array, width: number, height: number): Promise<void> {
    return this.rpc.callTransferring(ownBuffer(embedding), 'putEmbedding', keyOf(model), imageHash, embedding, width, height);
  }

  /** Prepares the first click on an image whose embedding is in memory (false: it is not). */
  prepareClicks(model: LoadedModel | string, imageHash: string): Promise<boolean> {
    return this.rpc.call('prepareClicks', keyOf(model), imageHash);
  }

  hasEmbedding(model: LoadedModel | string, imageHash: string): Promise<boolean> {
    return this.rpc.call('hasEmbedding', keyOf(model), imageHash);
  }

  /** Full-size masks, as the `segment` command writes them. A fed-back `maskInput` is handed over (detached here). */
  segment(model: LoadedModel | string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string } = {}): Promise<SegmentResult> {
    return this.rpc.callTransferring(maskBuffer(prompt), 'segment', keyOf(model), imagePath, prompt, opts);
  }

  /**
   * Masks cropped to their bounding boxes, for the UI; `onlyBest` leaves the other candidates
   * empty. A fed-back `maskInput` is handed over (detached here).
   */
  predict(model: LoadedModel | string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string; onlyBest?: boolean } = {}): Promise<PredictResult> {
    return this.rpc.callTransferring(maskBuffer(prompt), 'predict', keyOf(model), imagePath, prompt, opts);
  }

  /**
   * The window's answer: each candidate as the view it draws (thinned for large masks), computed
   * straight from the logits, never at full size (`runPredictViews`); `onlyBest` leaves the other
   * candidates' views empty (the caller makes them later from the low-res logits if asked).
   */
  predictViews(model: LoadedModel | string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string; onlyBest?: boolean } = {}): Promise<PredictViews> {
    return this.rpc.callTransferring(maskBuffer(prompt), 'predictViews', keyOf(model), imagePath, prompt, opts);
  }

  /**
   * A hover preview: `predictViews` with only the best candidate's view made, answered null when a
   * click (or a newer hover) reached the engine before it started, so a click never waits behind it.
   */
  hover(model: LoadedModel | string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string } = {}): Promise<PredictViews | null> {
    return this.rpc.callTransferring(maskBuffer(prompt), 'hover', keyOf(model), imagePath, prompt, opts);
  }

  /** Selects how `predict` and `hover` run from now on (benchmarks compare today's path with the earlier one). */
  setPredictPath(path: PredictPath): Promise<void> {
    return this.rpc.call('setPredictPath', path);
  }

  /** Several boxes of one image in one call: for each, the mask `segment` gives for that box, as RLE. */
  decodeBoxes(model: LoadedModel | string, imagePath: string, boxes: [number, number, number, number][], opts: { imageHash?: string } = {}): Promise<BoxBatchResult> {
    return this.rpc.call('decodeBoxes', keyOf(model), imagePath, boxes, opts);
  }

  /**
   * "Segment everything": the automatic mask generator's proposals for one image, best first.
   * `onProgress` hears the grid points decoded after each batch; aborting `signal` ends the run
   * between two decoder runs, and the call rejects with "cancelled".
   */
  async segmentEverything(
    model: LoadedModel | string, imagePath: string, options: Partial<AutomaticOptions> = {},
    opts: { imageHash?: string; onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {},
  ): Promise<EverythingResult> {
    const { onProgress, signal, ...rest } = opts;
    if (signal?.aborted) throw new Error(JOB_CANCELLED);
    const jobId = this.#nextJob++;
    if (onProgress) this.#jobProgress.set(jobId, onProgress);
    const cancel = () => { void this.rpc.call('cancelJob', jobId).catch(() => undefined); };
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      return await this.rpc.call('segmentEverything', keyOf(model), imagePath, options, { ...rest, jobId });
    } finally {
      signal?.removeEventListener('abort', cancel);
      this.#jobProgress.delete(jobId);
    }
  }

  /**
   * Stops the engine. The worker refuses new work and ends its batch calls between two
   * onnxruntime runs ("engine disposed"), and the thread is terminated only once no run is in
   * flight: terminating it under a native run aborts the whole process. A run already going (an
   * encode) is waited for.
   */
  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      try {
        await this.rpc.call('shutdown');
      } catch {
        // the worker is already gone: nothing runs there
      }
      this.rpc.close(new Error('engine disposed'));
      await this.worker.terminate();
    })();
    return this.#disposed;
  }
}

/** The array's buffer when the array is all of it: a view into a larger buffer is copied, not handed over. */
function ownBuffer(a: Float32Array): ArrayBuffer[] {
  return a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? [a.buffer] : [];
}

function maskBuffer(prompt: SegmentPrompt): ArrayBuffer[] {
  return prompt.maskInput ? ownBuffer(prompt.maskInput) : [];
}

function keyOf(model: LoadedModel | string): string {
  return typeof model === 'string' ? model : model.key;
}

export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  return new Engine(opts);
}
