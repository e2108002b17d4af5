/**
 * The engine's public types, shared by the CLI, the app's API handlers and the quantizer.
 * Coordinates are original-image pixels of the EXIF-oriented image. The two the app's window also
 * sees (MaskCrop, EmbeddingInfo) are declared in the contract (preload/contract).
 */
import type { EmbeddingInfo, MaskCrop } from '../../preload/contract/types.ts';
import type { MaskView } from '../../preload/contract/index.ts';

export type { EmbeddingInfo, MaskCrop, MaskView };

/** The image encoder's output, 1x256x64x64 float32 (4 MB; 2 MB as fp16 in a cache). */
export const EMBEDDING_SHAPE = [1, 256, 64, 64] as const;

export interface PointPrompt { x: number; y: number; /** 1 positive, 0 negative */ label: 0 | 1 }

export interface SegmentPrompt {
  points: PointPrompt[];
  /** [x0, y0, x1, y1] */
  box?: [number, number, number, number];
  /** previous low-res logits, 1x1x256x256, fed back for refinement */
  maskInput?: Float32Array;
}

export interface SegmentResult {
  width: number;
  height: number;
  /** K full-size masks, row-major HxW, 1 = inside (K = 4 for our models) */
  masks: Uint8Array[];
  iouPredictions: number[];
  /** the mask the official single-mask export would return */
  best: number;
  /** 1xKx256x256 logits */
  lowResMasks: Float32Array;
  decoderMs: number;
  /** SAM 2.1 only: the object score logit (> 0: an object is present); the image predictor ignores it */
  objectScore?: number;
}

/** The UI's variant: masks cropped to their bounding boxes (large images stay cheap to send). */
export interface PredictResult {
  width: number;
  height: number;
  masks: MaskCrop[];
  iouPredictions: number[];
  best: number;
  lowResMasks: Float32Array;
  decoderMs: number;
}

/**
 * The window's variant: each candidate as the view the window draws (thinned when its box holds
 * more than MASK_VIEW_MAX_PIXELS), never at full size; the full crop is made from `lowResMasks`
 * when a candidate is accepted.
 */
export interface PredictViews {
  width: number;
  height: number;
  views: MaskView[];
  iouPredictions: number[];
  best: number;
  lowResMasks: Float32Array;
  decoderMs: number;
  /** the candidates were a hover's at the same point (the pointer rested there): no decoder run */
  fromHover: boolean;
}

/** One box's mask from a batch of boxes: the mask `segment` would pick for that box alone. */
export interface BoxMaskResult {
  /** COCO RLE of the full-size mask */
  rle: { size: [number, number]; counts: string };
  /** the predicted IoU of that mask */
  score: number;
  /** true when the mask has no pixel */
  empty: boolean;
}

export interface BoxBatchResult {
  width: number;
  height: number;
  masks: BoxMaskResult[];
  decoderMs: number;
}

/** One proposal of the automatic generator ("segment everything"). */
export interface EverythingMask {
  rle: { size: [number, number]; counts: string };
  /** inclusive pixel box [x0, y0, x1, y1] */
  box: [number, number, number, number];
  predictedIou: number;
  stabilityScore: number;
  /** the grid point that produced it, image pixels */
  point: [number, number];
  cropBox: [number, number, number, number];
}

export interface EverythingResult {
  width: number;
  height: number;
  masks: EverythingMask[];
  encoderMs: number;
  decodeMs: number;
  filterMs: number;
}

/** What a cancelled batch job (segment everything) rejects with: the contract's. */
export { JOB_CANCELLED } from '../../preload/contract/index.ts';

/** A batch job's progress, posted by the worker beside the rpc.ts answers (the Engine routes it by `jobId`). */
export interface JobProgress { kind: 'job-progress'; jobId: number; done: number; total: number }
