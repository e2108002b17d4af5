/** The plain objects the project store hands out and takes in (no classes, no Maps). */

import type { Rle } from '../masks/index.ts';

export type { Rle };

export type ImageStatus = 'new' | 'in_progress' | 'done' | 'skipped';
export const IMAGE_STATUSES: readonly ImageStatus[] = ['new', 'in_progress', 'done', 'skipped'];

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

export interface Annotation {
  id: number;
  imageId: number;
  labelId: number;
  /** null for a box-only annotation (a label and a box, e.g. from a detection dataset, no mask yet) */
  rle: Rle | null;
  /** the mask's bounding box; for a box-only annotation, the box itself */
  bbox: Bbox;
  /** mask pixels; 0 for a box-only annotation */
  area: number;
  prompts: AnnotationPrompts | null;
  modelId: string | null;
  score: number | null;
  hidden: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface NewAnnotation {
  imageId: number;
  labelId: number;
  /** null for a box-only annotation, which then needs `bbox` */
  rle: Rle | null;
  /** computed from the mask when left out */
  bbox?: Bbox;
  /** computed from the mask when left out */
  area?: number;
  prompts?: AnnotationPrompts | null;
  modelId?: string | null;
  score?: number | null;
}

/** Fields of an annotation an edit may change; a mask change recomputes bbox and area. */
export interface AnnotationChange {
  rle?: Rle;
  labelId?: number;
  hidden?: boolean;
  prompts?: AnnotationPrompts | null;
  modelId?: string | null;
  score?: number | null;
}

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

export type LabelDeletePolicy =
  | { mode: 'refuse' }
  | { mode: 'delete-annotations' }
  | { mode: 'reassign'; toLabelId: number };

export interface AddImagesProgress {
  /** 'scan': walking folders (total unknown, 0; done = files found so far); 'read': hashing and reading headers */
  phase: 'scan' | 'read';
  done: number;
  total: number;
  path: string;
}

export interface AddImagesOptions {
  onProgress?: (progress: AddImagesProgress) => void;
  signal?: AbortSignal;
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

export interface Embedding {
  dtype: 'fp16';
  shape: number[];
  /** raw IEEE half-precision values */
  data: Uint16Array;
}

export interface DatasetItem {
  image: ImageRecord;
  /** absolute path of the file if it can be found, else null */
  file: string | null;
  annotations: Annotation[];
}

export interface ProjectStats {
  images: number;
  annotations: number;
  /** annotations that are a box without a mask yet */
  boxOnlyAnnotations: number;
  labels: number;
  imagesByStatus: Record<ImageStatus, number>;
  imagesWithErrors: number;
  annotationsByLabel: { labelId: number; name: string; count: number }[];
  historyEntries: number;
  embeddingCache: { entries: number; bytes: number; budgetBytes: number };
  schemaVersion: number;
}

/** A box annotation's mask, as automatic labelling found it. */
export interface BoxMask {
  annotationId: number;
  rle: Rle;
  modelId: string;
  score: number | null;
}
