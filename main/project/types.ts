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
  rle: Rle;
  bbox: Bbox;
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
  rle: Rle;
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
  labels: number;
  imagesByStatus: Record<ImageStatus, number>;
  imagesWithErrors: number;
  annotationsByLabel: { labelId: number; name: string; count: number }[];
  historyEntries: number;
  embeddingCache: { entries: number; bytes: number; budgetBytes: number };
  schemaVersion: number;
}
