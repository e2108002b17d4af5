/**
 * The engine's worker thread: owns the onnxruntime sessions, decodes images, keeps an LRU of
 * embeddings. It answers rpc.ts requests (preload/contract) with the methods below; their table's
 * type is what engine.ts calls.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { decodeImageBuffer, type RgbImage } from './image/index.ts';
import { loadSam, runDecoder, runEncoder, runPredict, validatePrompt, type LoadedSam, type SessionSettings } from './inference.ts';
import type { SegmentPrompt } from './engine-api.ts';
import { answer } from '../../preload/contract/rpc.ts';
import { SAM2_FEATURES_LENGTH } from './sam2-inference.ts';

interface EmbeddingEntry { data: Float32Array; width: number; height: number }

const settings = workerData as SessionSettings & { lruSize?: number };
const models = new Map<string, LoadedSam>();
const embeddings = new Map<string, EmbeddingEntry>();
const lruSize = settings.lruSize ?? 16;

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
    throw new Error(`${path}: cannot read image file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
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
  // Prompts are checked before the encoder runs: a bad click should fail in milliseconds.
  check?.(img.width, img.height);
  const key = `${m.info.id}:${hash}`;
  const hit = recall(key);
  if (hit) return { entry: hit, hash, source: 'memory', encoderMs: 0 };
  const t0 = performance.now();
  const data = await runEncoder(m, img);
  const entry = { data, width: img.width, height: img.height };
  remember(key, entry);
  return { entry, hash, source: 'encoder', encoderMs: performance.now() - t0 };
}

const methods = {
  async loadModel(dir: string) {
    const loaded = await loadSam(dir, settings);
    const key = loaded.info.id;
    models.get(key)?.encoder.release();
    models.set(key, loaded);
    return { key, info: loaded.info, provider: loaded.provider, warnings: loaded.warnings };
  },
  async unloadModel(key: string) {
    const m = models.get(key);
    if (m) await Promise.all([m.encoder.release(), m.decoder.release(), m.decoderCore.release()]);
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
  async hasEmbedding(modelKey: string, imageHash: string) {
    return embeddings.has(`${model(modelKey).info.id}:${imageHash}`);
  },
  async segment(modelKey: string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string } = {}) {
    const { entry } = await embeddingFor(modelKey, imagePath, opts.imageHash, (w, h) => validatePrompt(prompt, w, h));
    return runDecoder(model(modelKey), entry.data, prompt, entry.width, entry.height);
  },
  async predict(modelKey: string, imagePath: string, prompt: SegmentPrompt, opts: { imageHash?: string; onlyBest?: boolean } = {}) {
    const { entry } = await embeddingFor(modelKey, imagePath, opts.imageHash, (w, h) => validatePrompt(prompt, w, h));
    return runPredict(model(modelKey), entry.data, prompt, entry.width, entry.height, { onlyBest: opts.onlyBest ?? false });
  },
};

export type EngineMethods = typeof methods;

parentPort!.on('message', async (request: unknown) => {
  parentPort!.postMessage(await answer(methods, request));
});
