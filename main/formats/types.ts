/**
 * The plain data exporters read and importers return. Nothing here knows about SQLite: the
 * project store turns its rows into these and back.
 */
import type { BinaryMask, Rle } from '../masks/index.ts';

export interface DatasetLabel {
  id: number;
  name: string;
  /** #rrggbb */
  color: string;
}

export interface DatasetAnnotation {
  id: number;
  labelId: number;
  /** At the image size, [height, width]; null for a box-only annotation (no mask yet). */
  rle: Rle | null;
  /** The box [x, y, w, h] of a box-only annotation; unused when there is a mask. */
  box?: [number, number, number, number];
  score?: number | null;
}

export interface DatasetImage {
  id: number;
  /** As stored: relative to the project where possible. COCO writes it as file_name. */
  path: string;
  absPath: string;
  width: number;
  height: number;
  /** In drawing order: formats that paint (VOC) draw later annotations over earlier ones. */
  annotations: DatasetAnnotation[];
}

export interface ExportOptions {
  /** An existing, empty directory. */
  outDir: string;
  /** Douglas-Peucker tolerance for polygon formats; 1 px when left out, 0 keeps pixel outlines exact. */
  polygonTolerancePx?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /**
   * Box-only annotations (no mask yet) are skipped and reported by every format; with this set,
   * the COCO formats write them as bbox-only annotations (empty segmentation) instead.
   */
  boxesAsBboxes?: boolean;
}

export interface SkippedItem {
  imageId?: number;
  annotationId?: number;
  reason: string;
}

export interface ExportReport {
  format: string;
  /** Images written. */
  images: number;
  /** Annotations written. */
  annotations: number;
  /** Paths of the files written, relative to outDir, with forward slashes. */
  files: string[];
  skipped: SkippedItem[];
  /** What the format changed or could not carry, e.g. which masks had their holes filled. */
  notes: string[];
}

export type Exporter = (
  labels: DatasetLabel[],
  images: Iterable<DatasetImage> | AsyncIterable<DatasetImage>,
  imageCount: number,
  opts: ExportOptions,
) => Promise<ExportReport>;

export interface ImportedAnnotation {
  /** COCO: file_name as written; YOLO: the stem of the label file (= the image stem). */
  imageKey: string;
  labelName: string;
  /** The mask at the image size, canonical compressed COCO RLE (what the store keeps). */
  rle: Rle;
  /** The same mask decoded, computed on each read: an import of 100k masks holds only RLE. */
  readonly mask: BinaryMask;
}

/** A box without a mask (COCO bbox-only, YOLO detection): becomes a box-only annotation. */
export interface ImportedBox {
  imageKey: string;
  labelName: string;
  /** [x, y, w, h] in image pixels, inside the image, w and h positive */
  bbox: [number, number, number, number];
}

export interface ImportResult {
  /** Label names in the order the file defines them. */
  labels: string[];
  annotations: ImportedAnnotation[];
  boxes: ImportedBox[];
  warnings: string[];
}

/** An image's real size: of the project image, or read from the header of a file not yet added. */
export type ImageSizeAnswer = { width: number; height: number; of?: 'project' | 'file' } | undefined;

export interface ImportContext {
  /**
   * The size of the project image an imageKey names, or undefined if the project has none.
   * YOLO needs it (its coordinates are normalised); COCO uses its own sizes and only checks them
   * against this where it answers (for a file not yet in the project, the size in its header).
   */
  imageSize(imageKey: string): ImageSizeAnswer | Promise<ImageSizeAnswer>;
  /** where `imageSize` has no answer although an image is named: why (its size is unknown) */
  whyNoSize?(imageKey: string): string | undefined;
  /** a cancel: importers check it between items and stop */
  signal?: AbortSignal;
  /** how much of the dataset the importer has read, 0..1 (a large COCO file takes minutes) */
  onRead?(fraction: number): void;
}

/** `from`: COCO, the annotations JSON file; YOLO, the folder an export wrote. Throws on malformed input. */
export type Importer = (from: string, ctx: ImportContext) => Promise<ImportResult>;
