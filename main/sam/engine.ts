/**
 * The SAM engine as seen by the CLI and the app: a client for a worker thread that owns the
 * onnxruntime sessions, so the caller's thread never runs inference. Requests are queued in
 * the worker in order; the app drops stale hover requests before they are sent.
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BoxBatchResult, EmbeddingInfo, EverythingResult, PredictResult, SegmentPrompt, SegmentResult } from './engine-api.ts';
import type { AutomaticOptions } from './automatic.ts';
import type { ModelInfo } from './model-dir.ts';
import type { ExecutionProviderName } from './inference.ts';

export interface EngineOptions {
  /** intra-op threads for onnxruntime; 0 = onnxruntime's default */
  threads?: number;
  executionProvider?: ExecutionProviderName;
  /** embeddings kept in memory (4 MB each) */
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
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private exited: Error | null = null;

  constructor(opts: EngineOptions = {}) {
    this.worker = spawnWorker(opts, { threads: opts.threads ?? 0, executionProvider: opts.executionProvider ?? 'cpu', lruSize: opts.lruSize ?? 16 });
    this.worker.on('message', (msg: { id: number; result?: unknown; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(msg.error));
      else p.resolve(msg.result);
    });
    const fail = (err: Error) => {
      this.exited = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`engine worker exited (code ${code})`)));
  }

  private call<T>(method: string, ...args: unknown[]): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, method, args });
    });
  }

  loadModel(dir: string): Promise<LoadedModel> {
    return this.call('loadModel', dir);
  }

  unloadModel(key: string): Promise<void> {
    return this.call('unloadModel', key);
  }

  /** Encodes an image (or finds its embedding in memory). */
  async encode(model: LoadedModel | string, imagePath: string, opts: { imageHash?: string } = {}): Promise<EmbeddingInfo> {
    const r = await this.call<{ info: EmbeddingInfo }>('encode', keyOf(model), imagePath, { ...opts, returnEmbedding: false });
    return r.info;
  }

  /** Encodes and returns the embedding itself (1x256x64x64 float32), e.g. to store in a cache. */
  async encodeWithEmbedding(model: LoadedModel | string, imagePath: string, opts: { imageHash?: string } = {}): Promise<{ info: EmbeddingInfo; embedding: Float32Array }> {
    const r = await this.call<{ info: EmbeddingInfo; embedding: Float32Array }>('encode', keyOf(model), imagePath, { ...opts, returnEmbedding: true });
    return r;
  }

  /** Puts an embedding from a persistent cache into the worker's memory. */
  putEmbedding(model: LoadedModel | string, imageHash: string, embedding: Float32Array, width: number, height: number): Promise<void> {
    return this.call('putEmbedding', keyOf(model), imageHash, embedding, width, height);
  }

  hasEmbedding(model: LoadedModel | string, imageHash: string): Promise<boolean> {
    return this.call('hasEmbedding', keyOf(model), imageHash);
  }

  /** Full-size masks, as the `segment` command writes them. */
  segment(model: LoadedModel | string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string } = {}): Promise<SegmentResult> {
    return this.call('segment', keyOf(model), imagePath, prompt, opts);
  }

  /** Masks cropped to their bounding boxes, for the UI; `onlyBest` leaves the other candidates empty (hover previews). */
  predict(model: LoadedModel | string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string; onlyBest?: boolean } = {}): Promise<PredictResult> {
    return this.call('predict', keyOf(model), imagePath, prompt, opts);
  }

  /** Several boxes of one image in one call: for each, the mask `segment` gives for that box, as RLE. */
  decodeBoxes(model: LoadedModel | string, imagePath: string, boxes: [number, number, number, number][], opts: { imageHash?: string } = {}): Promise<BoxBatchResult> {
    return this.call('decodeBoxes', keyOf(model), imagePath, boxes, opts);
  }

  /** "Segment everything": the automatic mask generator's proposals for one image, best first. */
  segmentEverything(model: LoadedModel | string, imagePath: string, options: Partial<AutomaticOptions> = {}, opts: { imageHash?: string } = {}): Promise<EverythingResult> {
    return this.call('segmentEverything', keyOf(model), imagePath, options, opts);
  }

  async dispose(): Promise<void> {
    await this.worker.terminate();
  }
}

function keyOf(model: LoadedModel | string): string {
  return typeof model === 'string' ? model : model.key;
}

export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  return new Engine(opts);
}
