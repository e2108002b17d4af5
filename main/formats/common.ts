/**
 * What every exporter shares: walking the images with progress and cancellation, the checks that
 * decide whether an annotation can be written, file names from image stems, buffered writes,
 * and masks as outer rings for the formats that cannot carry holes.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { pixelIndexRing, polygonsFromRle, rleMeasure } from '../masks/index.ts';
import type { DatasetAnnotation, DatasetImage, DatasetLabel, ExportOptions, ExportReport } from './types.ts';

export const defaultPolygonTolerancePx = 1;

export function newReport(format: string): ExportReport {
  return { format, images: 0, annotations: 0, files: [], skipped: [], notes: [] };
}

let lastTurn = performance.now();

/**
 * Lets the event loop run when 30 ms have passed since it last did. `for await` over a plain
 * iterable never leaves the microtask queue: without these turns the app's main process would
 * answer nothing (a cancel included) until an export is written. Exporters call it between
 * images (visitImages) and between annotations (an image with 1,000 polygons to trace blocked
 * for 0.6 s).
 */
export async function takeTurn(): Promise<void> {
  if (performance.now() - lastTurn < 30) return;
  await new Promise((resolve) => setImmediate(resolve));
  lastTurn = performance.now();
}

export async function visitImages(
  images: Iterable<DatasetImage> | AsyncIterable<DatasetImage>,
  imageCount: number,
  opts: ExportOptions,
  visit: (image: DatasetImage) => void | Promise<void>,
): Promise<void> {
  let done = 0;
  for await (const image of images) {
    await takeTurn();
    if (opts.signal?.aborted) throw new Error(`export to ${opts.outDir} cancelled after ${done} of ${imageCount} images`);
    await visit(image);
    opts.onProgress?.(++done, imageCount);
  }
  // the images the dataset left out (unreadable files, reported as skipped) are done too
  if (done < imageCount) opts.onProgress?.(imageCount, imageCount);
}

/** Maps label ids to their 0-based position in the label list (the order every format uses). */
export function labelIndexById(labels: DatasetLabel[]): Map<number, number> {
  return new Map(labels.map((l, i) => [l.id, i]));
}

export interface WritableAnnotation {
  /** `ann.rle` is null only when the caller asked for box-only annotations (`keepBoxes`). */
  ann: DatasetAnnotation;
  /** 0-based position of its label in the label list. */
  labelIndex: number;
  area: number;
  bbox: [number, number, number, number];
}

/**
 * The image's annotations that can be written, measured; the others (unknown label, mask size
 * not the image size, empty mask, a box without a mask unless `keepBoxes`) go to the report's
 * skipped list with the reason. A kept box is measured as its box: area w*h.
 */
export function writableAnnotations(image: DatasetImage, labelIndex: Map<number, number>, report: ExportReport, keepBoxes = false): WritableAnnotation[] {
  const out: WritableAnnotation[] = [];
  for (const ann of image.annotations) {
    const skip = (reason: string) => report.skipped.push({ imageId: image.id, annotationId: ann.id, reason });
    const index = labelIndex.get(ann.labelId);
    if (index !== undefined && ann.rle === null) {
      if (keepBoxes && ann.box) out.push({ ann, labelIndex: index, area: ann.box[2] * ann.box[3], bbox: ann.box });
      else skip('a box without a mask (box-only annotation)');
      continue;
    }
    const [h, w] = ann.rle?.size ?? [0, 0];
    if (index === undefined) {
      skip(`label id ${ann.labelId} is not in the label list`);
    } else if (h !== image.height || w !== image.width) {
      skip(`mask is ${w}x${h} but image ${image.path} is ${image.width}x${image.height}`);
    } else {
      const { area, bbox } = rleMeasure(ann.rle!);
      if (area === 0) skip('empty mask');
      else out.push({ ann, labelIndex: index, area, bbox });
    }
  }
  return out;
}

export function imageStem(path: string): string {
  const name = basename(path.replace(/\\/g, '/'));
  return name.slice(0, name.length - extname(name).length) || name;
}

/** The longest stem an output file takes: 255 bytes less room for an extension and a counter. */
const MAX_STEM_BYTES = 240;

/** The longest prefix of `text` (whole characters) that fits in `bytes` bytes of UTF-8. */
function utf8Prefix(text: string, bytes: number): string {
  let out = '';
  let used = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (used + size > bytes) break;
    out += ch;
    used += size;
  }
  return out;
}

/**
 * One output file name per image, from its stem. Two images with the same stem (compared
 * without case, for case-insensitive file systems) would overwrite each other: the first keeps
 * the stem, later ones get `<stem>_<image id>` (then a counter), and the report lists them. A
 * stem too long for a file name once an extension is added is cut and given `_<image id>`.
 */
export class StemNames {
  private readonly taken = new Set<string>();
  private readonly renamed: string[] = [];
  private readonly shortened: string[] = [];

  nameFor(image: Pick<DatasetImage, 'id' | 'path'>): string {
    let stem = imageStem(image.path);
    // a file name may have 255 bytes: a stem near that leaves no room for ".json" or "_<id>"
    if (Buffer.byteLength(stem) > MAX_STEM_BYTES) stem = `${utf8Prefix(stem, MAX_STEM_BYTES - 24)}_${image.id}`;
    let name = stem;
    for (let n = 1; this.taken.has(name.toLowerCase()); n++) name = n === 1 ? `${stem}_${image.id}` : `${stem}_${image.id}_${n}`;
    this.taken.add(name.toLowerCase());
    if (name !== stem) this.renamed.push(`${image.path} -> ${name}`);
    else if (stem !== imageStem(image.path)) this.shortened.push(`${image.path} -> ${name}`);
    return name;
  }

  addNote(report: ExportReport): void {
    if (this.shortened.length > 0) report.notes.push(`${this.shortened.length} image(s) have a file stem too long for a file name and were written under a shorter one: ${this.shortened.join(', ')}`);
    if (this.renamed.length === 0) return;
    report.notes.push(`${this.renamed.length} image(s) share a file stem with an earlier image and were written under another name: ${this.renamed.join(', ')}`);
  }
}

/** Adds a note naming every annotation id in `ids` when there are any. */
export function noteIds(report: ExportReport, ids: number[], what: string): void {
  if (ids.length > 0) report.notes.push(`${ids.length} annotation(s) ${what}: ids ${ids.join(', ')}`);
}

/** Appends text to a file through a buffer, so a large file is written in chunks, never held whole. */
export class ChunkedFile {
  private readonly fd: number;
  private pending: string[] = [];
  private pendingLength = 0;
  private closed = false;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'w');
  }

  write(text: string): void {
    this.pending.push(text);
    this.pendingLength += text.length;
    if (this.pendingLength >= 1 << 20) this.flush();
  }

  writeBytes(bytes: Uint8Array): void {
    this.flush();
    this.writeAll(bytes);
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const bytes = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingLength = 0;
    this.writeAll(bytes);
  }

  private writeAll(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length;) at += writeSync(this.fd, bytes, at, bytes.length - at);
  }

  /** Flushes and closes; closing again does nothing, so `finally` blocks may always call it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}

export interface OuterRings {
  /** Flat x0,y0,x1,y1,... outer rings, one per part, in pixel-corner coordinates. */
  rings: number[][];
  hadHoles: boolean;
}

/** The outer ring of every part of a mask; holes are dropped (filled), and said so. */
/**
 * Each part's outer ring, on pixel corners (COCO: pycocotools tests pixel centres against the
 * ring) or in pixel-index coordinates (pixelIndexRing: LabelMe's and Ultralytics' readers fill
 * every pixel inside the ring or on it).
 */
export function outerRings(ann: DatasetAnnotation, tolerancePx: number, coordinates: 'corners' | 'pixel-index'): OuterRings {
  if (ann.rle === null) throw new Error(`annotation ${ann.id} has no mask to trace`);
  const polygons = polygonsFromRle(ann.rle, tolerancePx);
  const rings = polygons.map((p) => (coordinates === 'corners' ? p.outer : pixelIndexRing(p.outer)));
  return { rings, hadHoles: polygons.some((p) => p.holes.length > 0) };
}

export function polygonTolerance(opts: ExportOptions): number {
  const t = opts.polygonTolerancePx ?? defaultPolygonTolerancePx;
  if (!(t >= 0)) throw new Error(`polygon tolerance ${t} is not a non-negative number of pixels`);
  return t;
}

export function outPath(opts: ExportOptions, relative: string): string {
  return join(opts.outDir, ...relative.split('/'));
}
