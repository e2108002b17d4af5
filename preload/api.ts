/**
 * The one contract between the renderer and the main process. `main/api/handlers.ts` derives its
 * handler table from `Api` (a missing method fails to compile), `preload/index.ts` forwards each
 * method over IPC, and the renderer calls `window.api`. Every method takes at most ONE argument,
 * a plain object, and returns plain objects and typed arrays only: ArrayBuffer, Map and Blob do
 * not survive every transport we use (Electron IPC and the test harness's page bindings).
 * Coordinates are original-image pixels of the EXIF-oriented image.
 */
import type {
  AddImagesProgress, AddImagesResult, AnnotationPrompts, Bbox, HistoryState, HistoryStep, ImagePage,
  ImageRecord, ImageStatus, Label,
} from '../main/project/types.ts';
import type { EmbeddingInfo, MaskCrop, PredictResult, SegmentPrompt } from '../main/sam/engine-api.ts';
import type { EvalResult, QuantReport } from '../main/ptq4sam/index.ts';

export type { AddImagesProgress, AddImagesResult, Bbox, HistoryState, HistoryStep, ImagePage, ImageRecord, ImageStatus, Label };
export type { EmbeddingInfo, MaskCrop, PredictResult, SegmentPrompt, QuantReport, EvalResult };

/**
 * A mask as the UI draws it: its bounding box in image pixels, sampled every `step` image pixels
 * along each axis. `step` is 1 (every pixel, exactly) unless the box holds more than
 * MASK_VIEW_MAX_PIXELS: a whole-image mask of an 8000x6000 photo would otherwise cross to the
 * window as 48 MB per candidate. The store always keeps every pixel.
 */
export interface MaskView {
  x: number;
  y: number;
  width: number;
  height: number;
  step: number;
  /** ceil(width / step) x ceil(height / step), row-major, 1 = inside */
  data: Uint8Array;
}

export const MASK_VIEW_MAX_PIXELS = 1 << 22;

/** A prompt from the UI: points and a box; `refine` names the answer whose candidate's low-res mask is fed back. */
export interface SamPrompt {
  points: { x: number; y: number; label: 0 | 1 }[];
  box?: [number, number, number, number];
  refine?: { resultId: number; candidate: number };
}

/** The engine's answer as the UI gets it. The main process keeps the full masks and low-res logits under `resultId`. */
export interface Prediction {
  resultId: number;
  width: number;
  height: number;
  masks: MaskView[];
  iouPredictions: number[];
  best: number;
  decoderMs: number;
}

/** An annotation as the UI draws it: the mask cropped to its bounding box. */
export interface AnnotationView {
  id: number;
  imageId: number;
  labelId: number;
  bbox: Bbox;
  area: number;
  hidden: boolean;
  score: number | null;
  modelId: string | null;
  prompts: AnnotationPrompts | null;
  /** width/height of the whole image the mask belongs to */
  imageWidth: number;
  imageHeight: number;
  mask: MaskView;
}

export interface ProjectInfo {
  path: string;
  name: string;
  /** the image the user looked at last, restored on open */
  lastImageId: number | null;
  /** true for the bundled sample project (opened when there is nothing else) */
  sample: boolean;
  /** the project file cannot be written (a read-only medium): it is shown and exported, not edited */
  readOnly: boolean;
  /** prefix of the URLs serving this project's images: `${imageUrlBase}full/<id>` and `thumb/<id>` */
  imageUrlBase: string;
}

export interface ModelEntry {
  id: string;
  name: string;
  dir: string;
  /** e.g. 'fp32', 'w8a8' */
  precision: string;
  bytes: number;
  /** has a quantization report (report.json) */
  hasReport: boolean;
  active: boolean;
}

export interface EngineStatus {
  model: ModelEntry | null;
  executionProvider: string;
  /** decoder time of the last prediction, ms; null before the first */
  lastDecoderMs: number | null;
  /** images waiting for the background encoder */
  queued: number;
  /** why SAM tools cannot run (no model, model failed to load), or null */
  problem: string | null;
}

export type ExportFormat = 'coco' | 'coco-polygons' | 'yolo' | 'voc' | 'labelme';

export interface ExportFormatInfo {
  id: ExportFormat;
  name: string;
  /** what the format cannot carry, shown before exporting */
  note: string;
}

export interface ExportReport {
  format: ExportFormat;
  outDir: string;
  files: string[];
  images: number;
  annotations: number;
  /** items the format could not carry exactly, each with the reason */
  skipped: { imageId?: number; annotationId?: number; reason: string }[];
  /** what the format changed, e.g. which masks had their holes filled */
  notes: string[];
}

export type QuantBits = 'w8a8' | 'w6a6' | 'w4a4';

export interface QuantizeJob { jobId: string }

export type SetupStep = 'download' | 'build' | 'quantize' | 'eval' | 'activate';

export interface SetupChoice {
  /** the catalog entry */
  catalogId: string;
  bits: QuantBits;
  /** a copy of the catalog's file the user already has (checked against its hash): no download */
  localFile?: string | null;
  /** false: stop after the build and use the full-precision model (quantize and eval skipped) */
  quantize?: boolean;
}

export interface SetupState {
  /** the steps finished so far, in order; the wizard resumes after the last */
  done: SetupStep[];
  /** what the last run was asked for (kept, so a restart resumes it) */
  choice: SetupChoice | null;
  /** the model the finished setup made active */
  modelId: string | null;
  /** a run is going on now */
  running: boolean;
  /** why the last run stopped, or null */
  error: string | null;
  /** the user chose to skip the wizard */
  skipped: boolean;
}

export interface SetupDownload {
  receivedBytes: number;
  totalBytes: number | null;
  bytesPerSecond: number;
  etaSeconds: number | null;
}

/** A model's quantization report as the report view draws it. */
export interface ModelReport {
  /** report.json, as the quantizer wrote it */
  report: QuantReport;
  /** eval.json (the setup's comparison with fp32), when there is one */
  eval: EvalResult | null;
  /** BIG's key activations before and after the fold, per attention examined (from report.html) */
  keyHistograms: KeyHistogram[];
}

export interface KeyHistogram {
  module: string;
  /** bar heights, 0..1 of the tallest bar, over [lo, hi] */
  before: { lo: number; hi: number; bars: number[] };
  after: { lo: number; hi: number; bars: number[] } | null;
}

export interface CatalogEntry {
  id: string;
  name: string;
  bytes: number;
  licence: string;
  format: 'pth' | 'onnx-pair';
}

export interface DialogFilter { name: string; extensions: string[] }

/** Events the main process pushes to the renderer. */
export type ApiEvent =
  | { type: 'images-progress'; progress: AddImagesProgress }
  | { type: 'encode-progress'; imageId: number; queued: number; done: boolean; error: string | null }
  | { type: 'quantize-progress'; jobId: string; phase: string; fraction: number; done: boolean; error: string | null; modelId: string | null }
  | { type: 'setup-progress'; step: SetupStep; fraction: number; message: string; download: SetupDownload | null; skipped: boolean; done: boolean; error: string | null; modelId: string | null }
  | { type: 'export-progress'; done: number; total: number }
  | { type: 'menu'; command: MenuCommand };

export type MenuCommand = 'project-new' | 'project-open' | 'images-add' | 'folder-add' | 'export' | 'undo' | 'redo' | 'models' | 'shortcuts';

export interface Api {
  // Dialogs: the only way a path enters the app. main remembers what the user chose and every
  // method taking a path accepts only those.
  dialogOpenFiles(opts: { title: string; filters: DialogFilter[]; multiple: boolean }): Promise<string[]>;
  dialogOpenFolder(opts: { title: string }): Promise<string | null>;
  dialogSaveFile(opts: { title: string; filters: DialogFilter[]; defaultName: string }): Promise<string | null>;

  // Projects
  projectCreate(opts: { path: string }): Promise<ProjectInfo>;
  projectOpen(opts: { path: string }): Promise<ProjectInfo>;
  /** the bundled sample project (copied into the app's data folder the first time) */
  projectOpenSample(): Promise<ProjectInfo>;
  projectCurrent(): Promise<ProjectInfo | null>;
  projectRecent(): Promise<string[]>;
  projectSetLastImage(opts: { imageId: number }): Promise<void>;

  // Images
  imagesAdd(opts: { paths: string[] }): Promise<AddImagesResult>;
  imagesAddFolder(opts: { path: string }): Promise<AddImagesResult>;
  imagesList(opts: { offset: number; limit: number; status?: ImageStatus; labelId?: number }): Promise<ImagePage>;
  imageGet(opts: { imageId: number }): Promise<ImageRecord>;
  imageSetStatus(opts: { imageId: number; status: ImageStatus }): Promise<void>;

  // Labels
  labelsList(): Promise<Label[]>;
  labelCreate(opts: { name: string; color?: string; hotkey?: string | null }): Promise<Label>;
  labelUpdate(opts: { labelId: number; name?: string; color?: string; hotkey?: string | null }): Promise<Label>;
  labelDelete(opts: { labelId: number; mode: 'refuse' | 'delete-annotations' }): Promise<void>;

  // Annotations (each call is one transaction and one undo step)
  annotationsList(opts: { imageId: number }): Promise<AnnotationView[]>;
  annotationAddPolygon(opts: { imageId: number; labelId: number; points: [number, number][] }): Promise<AnnotationView>;
  /** brush (value 1) or eraser (value 0) along a stroke; a brush with no annotation creates one */
  annotationBrush(opts: { imageId: number; annotationId: number | null; labelId: number; points: [number, number][]; radiusPx: number; value: 0 | 1 }): Promise<AnnotationView | null>;
  annotationUpdate(opts: { annotationId: number; labelId?: number; hidden?: boolean }): Promise<AnnotationView>;
  annotationDelete(opts: { annotationId: number }): Promise<void>;
  undo(): Promise<HistoryStep | null>;
  redo(): Promise<HistoryStep | null>;
  historyState(): Promise<HistoryState>;

  // SAM
  engineStatus(): Promise<EngineStatus>;
  /** encodes now (or finds the cached embedding) */
  samEncode(opts: { imageId: number }): Promise<EmbeddingInfo>;
  /** queues background encoding, in the given order, after the current request */
  samPrefetch(opts: { imageIds: number[] }): Promise<void>;
  /** preview: the hover preview, only the best mask comes back and nothing is kept for refining */
  samPredict(opts: { imageId: number; prompt: SamPrompt; preview?: boolean }): Promise<Prediction>;
  /** stores candidate `candidate` of a kept answer, at full resolution, with its prompts and score */
  annotationAddPrediction(opts: { imageId: number; labelId: number; resultId: number; candidate: number }): Promise<AnnotationView>;

  // Models
  modelsList(): Promise<ModelEntry[]>;
  modelImportCheckpoint(opts: { checkpointPath: string; configPath?: string | null; name?: string }): Promise<ModelEntry>;
  modelImportOnnx(opts: { encoderPath: string; decoderPath: string; name?: string }): Promise<ModelEntry>;
  modelSetActive(opts: { modelId: string }): Promise<EngineStatus>;
  /** calibCount: how many calibration images (default the quantizer's) */
  modelQuantize(opts: { modelId: string; bits: QuantBits; calibCount?: number }): Promise<QuantizeJob>;
  modelQuantizeCancel(opts: { jobId: string }): Promise<void>;
  /** the quantization report (report.json, eval.json and the histograms of report.html) */
  modelReport(opts: { modelId: string }): Promise<ModelReport>;

  // First-run setup (issue 6)
  setupState(): Promise<SetupState>;
  setupCatalog(): Promise<CatalogEntry[]>;
  /** starts (or resumes) the setup in the background; progress comes as 'setup-progress' events */
  setupRun(opts: SetupChoice): Promise<SetupState>;
  setupCancel(): Promise<void>;
  setupSkip(): Promise<SetupState>;

  // Export
  exportFormats(): Promise<ExportFormatInfo[]>;
  exportRun(opts: { format: ExportFormat; outDir: string }): Promise<ExportReport>;

  // UI preferences kept by the app (window-independent), e.g. overlay opacity
  prefsGet(): Promise<Record<string, string | number | boolean>>;
  prefsSet(opts: { key: string; value: string | number | boolean }): Promise<void>;
}

export type ApiMethod = keyof Api;

/** What the renderer sees as `window.api`: the methods plus one event subscription. */
export type WindowApi = Api & {
  /** returns an unsubscribe function */
  onEvent(listener: (event: ApiEvent) => void): () => void;
};

/** The IPC channel names, shared by preload and main/app. */
export const CHANNEL_CALL = 'api:call';
export const CHANNEL_EVENT = 'api:event';

/** Every method name, in one list, so preload can build the bridge without reflection. */
export const API_METHODS = [
  'dialogOpenFiles', 'dialogOpenFolder', 'dialogSaveFile',
  'projectCreate', 'projectOpen', 'projectOpenSample', 'projectCurrent', 'projectRecent', 'projectSetLastImage',
  'imagesAdd', 'imagesAddFolder', 'imagesList', 'imageGet', 'imageSetStatus',
  'labelsList', 'labelCreate', 'labelUpdate', 'labelDelete',
  'annotationsList', 'annotationAddPrediction', 'annotationAddPolygon', 'annotationBrush', 'annotationUpdate', 'annotationDelete',
  'undo', 'redo', 'historyState',
  'engineStatus', 'samEncode', 'samPrefetch', 'samPredict',
  'modelsList', 'modelImportCheckpoint', 'modelImportOnnx', 'modelSetActive', 'modelQuantize', 'modelQuantizeCancel', 'modelReport',
  'setupState', 'setupCatalog', 'setupRun', 'setupCancel', 'setupSkip',
  'exportFormats', 'exportRun',
  'prefsGet', 'prefsSet',
] as const satisfies readonly ApiMethod[];

// Compile-time check that API_METHODS names every method exactly (a missing one is an error).
type Missing = Exclude<ApiMethod, (typeof API_METHODS)[number]>;
export const API_METHODS_COMPLETE: Missing extends never ? true : Missing = true;
