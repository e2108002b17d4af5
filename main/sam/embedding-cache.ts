/**
 * An image's embedding from the fastest place that has it: the engine's memory, else a
 * persistent fp16 cache (the project's), else the encoder, whose result then fills the cache.
 * The cache is any object with the project's two methods, so main/sam stays free of SQLite.
 */
import { EMBEDDING_SHAPE, type EmbeddingInfo } from './engine-api.ts';
import type { Engine, LoadedModel } from './engine.ts';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../onnx/tensor.ts';
import { SAM2_FEATURES_LENGTH } from './sam2-inference.ts';

/**
 * The stored shape: SAM's 1x256x64x64, or for SAM 2.1 the flat concatenation of its three
 * feature maps (image_embed, high_res_feats_0, high_res_feats_1; 8 MB as fp16).
 */
function cacheShape(model: LoadedModel): number[] {
  return model.info.family === 'sam2.1' ? [SAM2_FEATURES_LENGTH] : [...EMBEDDING_SHAPE];
}

export interface EmbeddingStore {
  getEmbedding(imageSha256: string, modelId: string): { data: Uint16Array } | null;
  putEmbedding(imageSha256: string, modelId: string, embedding: { shape: number[]; data: Uint16Array }): void;
}

/** `width`/`height` are the EXIF-oriented image's; 0 when unknown (the cache is then skipped). */
export async function warmEmbedding(
  engine: Engine, model: LoadedModel, store: EmbeddingStore,
  image: { file: string; hash: string; width: number; height: number },
): Promise<EmbeddingInfo> {
  const { file, hash, width, height } = image;
  if (await engine.hasEmbedding(model, hash)) {
    return { imageHash: hash, modelId: model.info.id, width, height, encoderMs: 0, source: 'memory' };
  }
  const cached = store.getEmbedding(hash, model.info.id);
  const expected = cacheShape(model).reduce((a, b) => a * b, 1);
  if (cached && cached.data.length === expected && width > 0 && height > 0) {
    await engine.putEmbedding(model, hash, float16BitsToFloat32(cached.data), width, height);
    return { imageHash: hash, modelId: model.info.id, width, height, encoderMs: 0, source: 'cache' };
  }
  const { info, embedding } = await engine.encodeWithEmbedding(model, file, { imageHash: hash });
  store.putEmbedding(hash, model.info.id, { shape: cacheShape(model), data: float32ToFloat16Bits(embedding) });
  return info;
}
