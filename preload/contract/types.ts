/**
 * The records the API hands out, declared here so the contract needs nothing from main/: the
 * project store's records (main/project), the engine's embedding and mask crops (main/sam) and
 * the quantizer's report (main/ptq4sam) are these types, imported from here.
 */
import type { ImageStatus } from './enums.ts';

// ---- the project store (main/project) ----

export interface ImageRecord {
  id: number;
  /** as stored: relative to the project folder ('/' separated) when inside it, else absolute */
  path: string;
  sha256: string | null;
  /** oriented size (after the EXIF orientation); null when the header could not be read */
  width: number | null;
  height: number | null;
  exifOrientation: number;
  status: ImageStatus;
  /** why the image cannot be used (unreadable file, undecodable data); null when fine */
  error: string | null;
  addedAt: number;
  position: number;
}

export interface ImageListItem extends ImageRecord {
  annotationCount: number;
}

export interface ImagePage {
  /** images matching the filter, all pages together */
  total: number;
  items: ImageListItem[];
}

export interface Label {
  id: number;
  name: string;
  /** '#rrggbb', lower case */
  color: string;
  hotkey: string | null;
  sortOrder: number;
}

export interface PromptPoint {
  x: number;
  y: number;
  /** 1 = foreground, 0 = background */
  label: number;
}

/** The prompts that produced a mask, in original-image pixel coordinates. */
export interface AnnotationPrompts {
  points?: PromptPoint[];
  box?: [number, number, number, number];
}

export type Bbox = [x: number, y: number, w: number, h: number];

/** What an undo or redo changed, so the UI can refresh exactly that. */
export interface HistoryStep {
  entryId: number;
  kind: string;
  /** the image whose annotations changed; null for project-wide edits (labels, imports) */
  imageId: number | null;
  annotationIds: number[];
  labelIds: number[];
}

export interface HistoryState {
  /** what undo() would revert, or null */
  undo: { kind: string; imageId: number | null } | null;
  /** what redo() would reapply, or null */
  redo: { kind: string; imageId: number | null } | null;
}

export interface AddImagesProgress {
  /** 'scan': walking folders (total unknown, 0; done = files found so far); 'read': hashing and reading headers */
  phase: 'scan' | 'read';
  done: number;
  total: number;
  path: string;
}

export interface AddImagesResult {
  /** ids of the images inserted, in order */
  added: number[];
  /** absolute paths already in the project (or given twice), skipped */
  duplicates: string[];
  /** files given explicitly that are not of an image type, skipped */
  unsupported: string[];
  /** inserted, but with an error badge (their header could not be read) */
  unreadable: { path: string; error: string }[];
}

// ---- the SAM engine (main/sam) ----

export interface MaskCrop {
  /** bounding box of the mask in image pixels; width/height 0 for an empty mask */
  x: number; y: number; width: number; height: number;
  /** row-major width*height, 1 = inside */
  data: Uint8Array;
}

export interface EmbeddingInfo {
  /** sha256 of the image file */
  imageHash: string;
  modelId: string;
  width: number;
  height: number;
  encoderMs: number;
  /** where it came from */
  source: 'memory' | 'cache' | 'encoder';
}

// ---- the quantizer (main/ptq4sam) ----

/** Counts of values in `counts.length` equal bins over [lo, hi]. */
export interface Histogram { lo: number; hi: number; counts: number[] }

/** BIG on one decoder attention: its votes, the paper's test, the fold and its keys (image 0, prompt 0). */
export interface BigAttention {
  module: string;
  /** images whose first prompt's keys had bimodal per-channel centres (the test named in `big.test`) */
  votes: number;
  of: number;
  /** the paper's test (one KDE over all values of K): image 0, prompt 0 */
  paper_bimodal: boolean;
  folded: boolean;
  keys_before: Histogram;
  /** null where nothing was folded (the keys are unchanged) */
  keys_after: Histogram | null;
}

export interface QuantReport {
  method: string;
  bits: { w: number; a: number };
  /** `test`: the statistic behind `bimodal` (the fold's decision), in words */
  big: { test: string; bimodal: string[]; folded: string[]; paper_bimodal: string[]; examined: BigAttention[] };
  agq: { name: string; tau: number; scale: number; errors: Record<number, number> }[];
  /** how the softmax output was quantized: AGQ (float ops) or uniform (integer A.V); `mixed`: see softmax_by_graph */
  softmax: 'agq' | 'uniform' | 'mixed';
  softmax_by_graph: { encoder: 'agq' | 'uniform'; decoder: 'agq' | 'uniform' };
  /**
   * bits of each graph's softmax grid: a uniform grid chosen for speed keeps 8 bits below a8
   * (the named deviation that keeps A.V an integer product); older reports lack it
   */
  softmax_bits?: { encoder: number; decoder: number };
  /**
   * how the integer linears store their weight codes: int8 (u8 x s8 kernels), or uint8 where the
   * quantizing machine's u8 x s8 kernel adds product pairs in saturating 16 bits (CPUs without
   * VNNI); older reports lack it
   */
  weight_codes?: 'int8' | 'uint8';
  /**
   * how the products of two activations (QK^T, uniform A.V) store their second operand: int8
   * where the quantizing machine's u8 x s8 kernel is exact (VNNI: faster than u8 x u8), else
   * uint8; older reports lack it (uint8)
   */
  operand_codes?: 'int8' | 'uint8';
  size_bytes: { fp32: number; quantized: number };
  /** integer kernels in onnxruntime's optimized encoder + decoder graphs */
  integer_ops: Record<string, number>;
  /** modules kept float beyond the spec's float parts: the decoder's token-only ops (registry.ts, DECODER_TOKEN_SIDE) */
  float_modules: string[];
  /** linears, QK^T and uniform A.V products we emitted as integer products */
  integer_products_expected: number;
  quantized_layers: number;
  latency_ms: { model: { encoder: number; decoder: number }; reference: { encoder: number; decoder: number } };
  fidelity: {
    prompts: number; mean_iou: number; min_iou: number; embedding_rel_error: number;
    /** the measured images' file names, and whether none of them was a calibration image (older reports lack both) */
    images?: string[]; held_out?: boolean;
  };
  calibration: {
    images: number; forward_seconds: number; quantize_seconds: number;
    /** content sha256 of each calibration image: `eval` reports held_out false on any of them */
    image_sha256: string[];
  };
  model_id: string;
}

export interface KindResult {
  /** null when the prompt set has no prompt of this kind */
  mean_iou: number | null;
  min_iou: number | null;
  n: number;
  /**
   * Only the prompts whose reference mask is not empty: two empty masks count as IoU 1 and say
   * nothing (a model whose single-mask output is nearly empty, as sam-shapes' for boxes).
   */
  nonempty_reference: { mean_iou: number | null; n: number };
}

export interface GtScores { miou: number; mask_ap: number }
export interface GtModelScores { boxes: GtScores; clicks: GtScores }

export interface EvalResult {
  prompts: number;
  mean_iou: number;
  min_iou: number;
  by_kind: { points: KindResult; boxes: KindResult };
  /** false when an evaluated image is among the model's calibration images, or when the model's report.json does not record them */
  held_out: boolean;
  /** evaluated images whose content is among the model's calibration images */
  calibration_overlap: string[];
  embedding_rel_error: number;
  latency_ms: { model: { encoder: number; decoder: number }; reference: { encoder: number; decoder: number } };
  /** with ground truth: per-object box and click prompts scored against the GT masks */
  gt?: { images: number; objects: number; model: GtModelScores; reference: GtModelScores };
}
