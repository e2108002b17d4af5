/**
 * The one contract between the renderer and the main process, and a leaf: it imports nothing
 * from main/ or renderer/ (main's services import their shared records and enumerations from
 * here). `API` declares each method once, its input as a schema (schema.ts: the TypeScript type
 * the renderer compiles against and the check main/api runs on the untrusted argument) and its
 * result type. `main/api/handlers.ts` derives its handler table from it (a missing method fails
 * to compile), `preload/index.ts` forwards each method over IPC as an rpc.ts request, and the
 * renderer calls `window.api`. Every method takes at most ONE argument, a plain object, and
 * returns plain objects and typed arrays only: ArrayBuffer, Map and Blob do not survive every
 * transport we use (Electron IPC and the test harness's page bindings). Coordinates are
 * original-image pixels of the EXIF-oriented image.
 */
import { EXPORT_FORMATS, IMPORT_FORMATS, LABEL_DELETE_MODES, type CatalogFormat, type ExportFormat, type ImportFormat, type MenuCommand, type SetupStep } from './enums.ts';
import {
  BITS, COLOR, DIALOG_FILTER, HOTKEY, ID, IMAGE_STATUS, POINT, SAM_PROMPT, SETUP_CHOICE, type SetupChoice,
} from './inputs.ts';
import { arr, bool, int, nothing, nullable, num, obj, oneOf, optional, refine, str, union, type Infer, type Schema } from './schema.ts';
import type {
  AddImagesProgress, AddImagesResult, AnnotationPrompts, Bbox, EmbeddingInfo, EvalResult, HistoryState, HistoryStep, ImagePage, ImageRecord,
  Label, QuantReport,
} from './types.ts';

export * from './enums.ts';
export * from './inputs.ts';
export type * from './types.ts';
export { ApiInputError } from './schema.ts';

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

/** The engine's answer as the UI gets it. The main process keeps the full masks and low-res logits under `resultId`. */
export interface Prediction {
  resultId: number;
  width: number;
  height: number;
  /**
   * every candidate's view, in the decoder's order; null for a candidate whose view was not asked
   * for yet (`candidates: 'best'`: `samCandidateViews` gives them all)
   */
  masks: (MaskView | null)[];
  iouPredictions: number[];
  best: number;
  decoderMs: number;
}

/** One "segment everything" proposal as the window shows it (the main process keeps its full mask). */
export interface Proposal {
  /** its place in its set: what accepting names */
  index: number;
  /** predicted IoU */
  score: number;
  stability: number;
  mask: MaskView;
}

/** What a cancelled "segment everything" run rejects with (engine, API and window alike). */
export const JOB_CANCELLED = 'cancelled';

/** The automatic mask generator's proposals for one image, best first, kept under `proposalsId`. */
export interface ProposalSet {
  proposalsId: number;
  imageId: number;
  proposals: Proposal[];
  seconds: number;
  /** the model's own generator threshold on the predicted IoU (SAM 0.88, SAM 2.1 0.8): where the slider starts */
  defaultMinScore: number;
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
  /** width/height of the whole image the mask belongs to; 0 for a box-only annotation */
  imageWidth: number;
  imageHeight: number;
  /** a box without a mask yet (a detection import): `mask` is empty and `bbox` is the box */
  boxOnly: boolean;
  mask: MaskView;
}

export interface ProjectInfo {
  path: string;
  name: string;
  /** the image the user looked at last, restored on open */
  lastImageId: number | null;
  /** true for the bundled sample project (opened when there is nothing else) */
  sample: boolean;
  /** the project file cannot be written (a read-only medium, or damage): it is shown and exported, not edited */
  readOnly: boolean;
  /** what the check at open found damaged in the project file (it then opens read-only), or null */
  damage: string | null;
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

export interface ImportFormatInfo {
  id: ImportFormat;
  name: string;
  /** what the user picks: the annotations file (COCO) or the dataset's folder (YOLO, LabelMe) */
  source: 'file' | 'folder';
  /** what it reads and how, shown before importing */
  note: string;
}

/** What an import added to the project, all of it one undo step. */
export interface ImportReport {
  format: ImportFormat;
  from: string;
  addedImages: number;
  addedLabels: string[];
  /** annotations stored, masks and boxes together */
  annotations: number;
  /** of those, box-only annotations (boxes waiting for a mask) */
  boxes: number;
  /** what was left out or changed, each naming the file */
  warnings: string[];
}

/**
 * Where an import is: reading the dataset (`read`: how much of it, 0..1; `done`: the new images
 * read so far for their sizes), then the headers of the other new images it adds (done of
 * total), then storing (total: the annotations).
 */
export interface ImportProgress {
  phase: 'reading' | 'images' | 'storing';
  done: number;
  total: number;
  read?: number;
}

/** A boxes-to-masks run: what it did (each image one undo step). */
export interface BoxesToMasksResult {
  /** images whose boxes it went through */
  images: number;
  /** masks stored in place of boxes */
  created: number;
  /** boxes left as boxes (their mask came out empty, or their image could not be used) */
  skipped: number;
  seconds: number;
  /** stopped by a cancel after the image in progress (what was done stays) */
  cancelled: boolean;
  /** each image left out: its path and why */
  notes: string[];
}

export interface QuantizeJob { jobId: string }

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
  /** the running setup waits for the user's answer to this offer (setupAnswerAlternative), or null */
  offer: SetupAlternativeOffer | null;
}

/**
 * The hub could not give a catalog entry's sha256, and the entry names an alternative URL that
 * publishes none: the setup asks the user before it downloads from there, checked by size only.
 */
export interface SetupAlternativeOffer {
  /** what the answer names, so a late answer cannot confirm a later offer */
  offerId: number;
  /** the catalog entry's id */
  model: string;
  url: string;
  /** the file's size, the only check on this route */
  bytes: number;
  /** why the hub could not be used */
  reason: string;
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
  format: CatalogFormat;
  /** the fp32 model's CPU times and speed class (main/setup/catalog.ts), null where the catalog gives none */
  speed: CatalogEntrySpeed | null;
  /** the wizard's first choice: the fastest measured model */
  preferred: boolean;
}

export interface CatalogEntrySpeed {
  /** CPU seconds (all threads) of one fp32 encoder pass on the 2-core build machine */
  encoderCpuSeconds: number;
  /** CPU milliseconds of one click to mask */
  clickCpuMs: number;
  /** scaled from a measured model, not measured itself */
  estimated: boolean;
  speedClass: 'fast' | 'medium' | 'slow';
}

/** Events the main process pushes to the renderer. */
export type ApiEvent =
  | { type: 'images-progress'; progress: AddImagesProgress }
  | { type: 'encode-progress'; imageId: number; queued: number; done: boolean; error: string | null }
  /** "segment everything": grid points decoded of all (after each batch) */
  | { type: 'everything-progress'; imageId: number; done: number; total: number }
  /** fraction: of the whole quantization (its phases weighted); etaSeconds: the time left, once estimated */
  | { type: 'quantize-progress'; jobId: string; phase: string; fraction: number; etaSeconds: number | null; done: boolean; error: string | null; modelId: string | null }
  | { type: 'setup-progress'; step: SetupStep; fraction: number; message: string; download: SetupDownload | null; skipped: boolean; done: boolean; error: string | null; modelId: string | null }
  | { type: 'setup-alternative'; offer: SetupAlternativeOffer }
  | { type: 'export-progress'; done: number; total: number }
  /** boxes to masks: images done of total, masks made, and the time left once an image is done */
  | { type: 'autolabel-progress'; done: number; total: number; created: number; masksPerSecond: number; etaSeconds: number | null }
  /** reading the dataset, then reading the headers of the images it adds (done of total), then storing */
  | ({ type: 'import-progress' } & ImportProgress)
  | { type: 'menu'; command: MenuCommand };

/** The type of a method's result (the value itself is never used). */
interface Returns<T> { readonly result?: T }
function returns<T>(): Returns<T> {
  return {};
}

function method<I, R>(input: Schema<I>, result: Returns<R>): { input: Schema<I>; result: Returns<R> } {
  return { input, result };
}

const NONE = nothing();

/** Every method: the schema of its argument and the type of its result. */
export const API = {
  // Dialogs: the only way a path enters the app. main remembers what the user chose and every
  // method taking a path accepts only those.
  dialogOpenFiles: method(obj({ title: str(200), filters: arr(DIALOG_FILTER, { max: 20 }), multiple: bool() }), returns<string[]>()),
  dialogOpenFolder: method(obj({ title: str(200) }), returns<string | null>()),
  dialogSaveFile: method(obj({ title: str(200), filters: arr(DIALOG_FILTER, { max: 20 }), defaultName: str(255) }), returns<string | null>()),

  // Projects
  projectCreate: method(obj({ path: str() }), returns<ProjectInfo>()),
  projectOpen: method(obj({ path: str() }), returns<ProjectInfo>()),
  /** the bundled sample project (copied into the app's data folder the first time) */
  projectOpenSample: method(NONE, returns<ProjectInfo>()),
  projectCurrent: method(NONE, returns<ProjectInfo | null>()),
  projectRecent: method(NONE, returns<string[]>()),
  projectSetLastImage: method(obj({ imageId: ID }), returns<void>()),

  // Images
  imagesAdd: method(obj({ paths: arr(str()) }), returns<AddImagesResult>()),
  imagesAddFolder: method(obj({ path: str() }), returns<AddImagesResult>()),
  imagesList: method(obj({ offset: int(0), limit: int(1, 10_000), status: optional(IMAGE_STATUS), labelId: optional(ID) }), returns<ImagePage>()),
  imageGet: method(obj({ imageId: ID }), returns<ImageRecord>()),
  imageSetStatus: method(obj({ imageId: ID, status: IMAGE_STATUS }), returns<void>()),

  // Labels
  labelsList: method(NONE, returns<Label[]>()),
  /** `forAnnotation`: made for the annotation stored next (a project's first), whose undo step then removes it too */
  labelCreate: method(obj({ name: str(200), color: optional(COLOR), hotkey: optional(HOTKEY), forAnnotation: optional(bool()) }), returns<Label>()),
  labelUpdate: method(obj({ labelId: ID, name: optional(str(200)), color: optional(COLOR), hotkey: optional(HOTKEY) }), returns<Label>()),
  /** 'reassign' moves the label's annotations to `toLabelId` (merging two labels); one undo step either way */
  labelDelete: method(obj({ labelId: ID, mode: oneOf(LABEL_DELETE_MODES), toLabelId: optional(ID) }), returns<void>()),

  // Annotations (each call is one transaction and one undo step)
  annotationsList: method(obj({ imageId: ID }), returns<AnnotationView[]>()),
  /** stores candidate `candidate` of a kept answer, at full resolution, with its prompts and score */
  annotationAddPrediction: method(obj({ imageId: ID, labelId: ID, resultId: ID, candidate: int(0, 15) }), returns<AnnotationView>()),
  annotationAddPolygon: method(obj({
    imageId: ID, labelId: ID,
    points: refine(arr(POINT), (points, refuse) => (points.length >= 3 ? points : refuse('a polygon needs at least 3 points'))),
  }), returns<AnnotationView>()),
  /** brush (value 1) or eraser (value 0) along a stroke; a brush with no annotation creates one */
  annotationBrush: method(obj({
    imageId: ID, annotationId: nullable(ID), labelId: ID, points: arr(POINT), radiusPx: num(0.5, 2000), value: oneOf([0, 1] as const),
  }), returns<AnnotationView | null>()),
  annotationUpdate: method(obj({ annotationId: ID, labelId: optional(ID), hidden: optional(bool()) }), returns<AnnotationView>()),
  annotationDelete: method(obj({ annotationId: ID }), returns<void>()),
  undo: method(NONE, returns<HistoryStep | null>()),
  redo: method(NONE, returns<HistoryStep | null>()),
  historyState: method(NONE, returns<HistoryState>()),

  // SAM
  engineStatus: method(NONE, returns<EngineStatus>()),
  /** encodes now (or finds the cached embedding) */
  samEncode: method(obj({ imageId: ID }), returns<EmbeddingInfo>()),
  /** queues background encoding, in the given order, after the current request */
  samPrefetch: method(obj({ imageIds: arr(ID, { max: 1000 }) }), returns<void>()),
  /**
   * preview: the hover preview, only the best mask comes back and nothing is kept for refining;
   * no masks at all when a click reached the engine before the preview started (it was dropped).
   * candidates: 'best' makes only the best candidate's view now (the others null), 'all' (the
   * default) every candidate's
   */
  samPredict: method(obj({ imageId: ID, prompt: SAM_PROMPT, preview: optional(bool()), candidates: optional(oneOf(['all', 'best'])) }), returns<Prediction>()),
  /**
   * every candidate's view of a kept answer (its id from `samPredict`), those it did not carry
   * made now: a click asks for the best view alone (`candidates: 'best'`), draws it, then asks
   * for the others, which only Tab shows
   */
  samCandidateViews: method(obj({ imageId: ID, resultId: ID }), returns<MaskView[]>()),
  /**
   * "segment everything": the automatic mask generator's proposals, with its defaults unless
   * overridden (32 points per side, predicted IoU above 0.88, stability score at least 0.95)
   */
  samEverything: method(obj({ imageId: ID, pointsPerSide: optional(int(1, 64)), predIouThresh: optional(num(0, 1)), stabilityThresh: optional(num(0, 1)) }), returns<ProposalSet>()),
  /** ends the "segment everything" run in progress (its call rejects with "cancelled") */
  samEverythingCancel: method(NONE, returns<void>()),
  /** stores the chosen proposals of a kept set as annotations of one label, one undo step */
  annotationsAcceptProposals: method(obj({ imageId: ID, labelId: ID, proposalsId: ID, indices: arr(int(0, 10_000), { max: 10_000 }) }), returns<AnnotationView[]>()),

  // Models
  modelsList: method(NONE, returns<ModelEntry[]>()),
  modelImportCheckpoint: method(obj({ checkpointPath: str(), configPath: optional(nullable(str())), name: optional(str(200)) }), returns<ModelEntry>()),
  modelImportOnnx: method(obj({ encoderPath: str(), decoderPath: str(), name: optional(str(200)) }), returns<ModelEntry>()),
  modelSetActive: method(obj({ modelId: str(200) }), returns<EngineStatus>()),
  /** calibCount: how many calibration images (default the quantizer's) */
  modelQuantize: method(obj({ modelId: str(200), bits: BITS, calibCount: optional(int(1, 10_000)) }), returns<QuantizeJob>()),
  modelQuantizeCancel: method(obj({ jobId: str(200) }), returns<void>()),
  /** the quantization report (report.json, eval.json and the histograms of report.html) */
  modelReport: method(obj({ modelId: str(200) }), returns<ModelReport>()),

  // First-run setup
  setupState: method(NONE, returns<SetupState>()),
  setupCatalog: method(NONE, returns<CatalogEntry[]>()),
  /** starts (or resumes) the setup in the background; progress comes as 'setup-progress' events */
  setupRun: method(SETUP_CHOICE, returns<SetupState>()),
  setupCancel: method(NONE, returns<void>()),
  setupSkip: method(NONE, returns<SetupState>()),
  /** the user's answer to a 'setup-alternative' offer: accept downloads from its URL checked by size, decline ends the setup */
  setupAnswerAlternative: method(obj({ offerId: ID, accept: bool() }), returns<SetupState>()),

  // Export
  exportFormats: method(NONE, returns<ExportFormatInfo[]>()),
  exportRun: method(obj({ format: oneOf(EXPORT_FORMATS), outDir: str() }), returns<ExportReport>()),
  /** stops the running export: its folder is left as it was (exportRun fails with "cancelled") */
  exportCancel: method(NONE, returns<void>()),

  /** SAM masks for the box-only annotations of these images (default: every image), one undo step per image */
  boxesToMasks: method(obj({ imageIds: optional(arr(ID, { max: 1_000_000 })) }), returns<BoxesToMasksResult>()),
  /** ends the boxes-to-masks run after the image in progress */
  boxesToMasksCancel: method(NONE, returns<void>()),

  // Import
  importFormats: method(NONE, returns<ImportFormatInfo[]>()),
  /** `path` came from a dialog: the COCO file, or the YOLO or LabelMe dataset's folder; one undo step */
  importRun: method(obj({ format: oneOf(IMPORT_FORMATS), path: str() }), returns<ImportReport>()),
  /** stops the running import before it stores anything (importRun fails with "cancelled") */
  importCancel: method(NONE, returns<void>()),

  // UI preferences kept by the app (window-independent), e.g. overlay opacity
  prefsGet: method(NONE, returns<Record<string, string | number | boolean>>()),
  prefsSet: method(obj({ key: str(100), value: union(num(), bool(), str(1000)) }), returns<void>()),
};

export type ApiMethod = keyof typeof API;
export type ApiInput<M extends ApiMethod> = Infer<(typeof API)[M]['input']>;
export type ApiResult<M extends ApiMethod> = (typeof API)[M]['result'] extends Returns<infer R> ? R : never;

/** The methods as the renderer calls them: no parameter where the input is `nothing()`. */
export type Api = {
  [M in ApiMethod]: [ApiInput<M>] extends [undefined] ? () => Promise<ApiResult<M>> : (opts: ApiInput<M>) => Promise<ApiResult<M>>;
};

/** Every method name, so preload can build the bridge without reflection. */
export const API_METHODS = Object.keys(API) as ApiMethod[];

/** What the renderer sees as `window.api`: the methods plus one event subscription. */
export type WindowApi = Api & {
  /** returns an unsubscribe function */
  onEvent(listener: (event: ApiEvent) => void): () => void;
};

/** The IPC channel names, shared by preload and main/app. */
export const CHANNEL_CALL = 'api:call';
export const CHANNEL_EVENT = 'api:event';

export { packMaskViews, unpackMaskViews } from './mask-packing.ts';
