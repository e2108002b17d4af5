/** The plain objects the project store hands out and takes in (no classes, no Maps). */

import type { Rle } from '../masks/index.ts';
import type { ImageStatus } from '../../preload/contract/enums.ts';
import type {
  AddImagesProgress, AddImagesResult, AnnotationPrompts, Bbox, HistoryState, HistoryStep, ImageListItem, ImagePage, ImageRecord, Label, PromptPoint,
} from '../../preload/contract/types.ts';

// The records the app's window also sees are declared in the contract (preload/contract).
export type {
  AddImagesProgress, AddImagesResult, AnnotationPrompts, Bbox, HistoryState, HistoryStep, ImageListItem, ImagePage, ImageRecord, ImageStatus, Label,
  PromptPoint, Rle,
};
export { IMAGE_STATUSES } from '../../preload/contract/enums.ts';

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

export type LabelDeletePolicy =
  | { mode: 'refuse' }
  | { mode: 'delete-annotations' }
  | { mode: 'reassign'; toLabelId: number };

export interface AddImagesOptions {
  onProgress?: (progress: AddImagesProgress) => void;
  signal?: AbortSignal;
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
