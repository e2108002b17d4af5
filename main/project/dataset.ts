/**
 * The bridge between the store and main/formats, whose exporters and importers work on plain
 * data: exports stream the project's images with their annotations into an exporter; imports
 * resolve the importer's image keys to project images (adding images a COCO file names that are
 * not in the project yet) and store everything in one transaction, so a malformed file changes
 * nothing.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { imageStem } from '../formats/common.ts';
import type { DatasetImage, DatasetLabel, Exporter, ExportOptions, ExportReport, Importer, ImportFormat } from '../formats/index.ts';
import type { ImportAnnotation, Project } from './project.ts';
import { scanImages } from './scan.ts';
import type { ImageRecord } from './types.ts';

/**
 * Runs an exporter over the whole project. Every annotation is exported, hidden ones too
 * (hiding is a view setting). Images whose size is unknown (unreadable header) are skipped and
 * reported; images whose file cannot be found are still exported (no format needs the pixels)
 * and named in a note.
 */
export async function exportDataset(project: Project, exporter: Exporter, opts: ExportOptions): Promise<ExportReport> {
  const labels: DatasetLabel[] = project.listLabels().map(({ id, name, color }) => ({ id, name, color }));
  const skipped: ExportReport['skipped'] = [];
  const missing: string[] = [];
  function* images(): Generator<DatasetImage> {
    for (const { image, file, annotations } of project.iterateDataset()) {
      if (image.width === null || image.height === null) {
        skipped.push({ imageId: image.id, reason: `image ${image.path} has no known size (${image.error ?? 'header unreadable'}); its ${annotations.length} annotation(s) were not exported` });
        continue;
      }
      if (file === null) missing.push(image.path);
      yield {
        id: image.id, path: image.path, absPath: file ?? resolve(project.dir, image.path), width: image.width, height: image.height,
        annotations: annotations.map((a) => ({ id: a.id, labelId: a.labelId, rle: a.rle, score: a.score, ...(a.rle === null ? { box: a.bbox } : {}) })),
      };
    }
  }
  const report = await exporter(labels, images(), project.listImages({ limit: 0 }).total, opts);
  report.skipped.unshift(...skipped);
  if (missing.length > 0) report.notes.push(`${missing.length} image file(s) could not be found (their annotations were exported): ${missing.join(', ')}`);
  return report;
}

export interface DatasetImportReport {
  format: ImportFormat;
  from: string;
  addedImages: number;
  addedLabels: string[];
  /** annotations stored (masks and boxes together) */
  annotations: number;
  /** of those, box-only annotations (boxes without a mask yet) */
  boxes: number;
  warnings: string[];
}

/** How each format's image keys name images: what an importer's key resolves to. */
interface KeyResolver {
  /** the project image the key names, or a file to add, or why neither (thrown when the import cannot go on) */
  resolve(key: string): { image: ImageRecord } | { file: string } | { error: string };
}

/** COCO file_name: relative to the annotations file, then to the project (or absolute). */
function cocoResolver(project: Project, from: string): KeyResolver {
  return {
    resolve(key) {
      const places = isAbsolute(key) ? [key] : [resolve(dirname(from), key), resolve(project.dir, key)];
      for (const place of places) {
        const image = project.findImageByPath(place);
        if (image) return { image };
      }
      const file = places.find((p) => existsSync(p) && statSync(p).isFile());
      if (file) return { file };
      return { error: `image "${key}" named in ${from} is not in the project and was not found at ${places.join(' or ')}` };
    },
  };
}

/** YOLO label file stem: the project image with that file stem (which must be unique). */
function yoloResolver(project: Project, from: string): KeyResolver {
  const byStem = new Map<string, ImageRecord[]>();
  for (let offset = 0; ; offset += 1000) {
    const { items } = project.listImages({ offset, limit: 1000 });
    for (const image of items) {
      const stem = imageStem(image.path);
      byStem.set(stem, [...(byStem.get(stem) ?? []), image]);
    }
    if (items.length < 1000) break;
  }
  return {
    resolve(key) {
      const matches = byStem.get(key) ?? [];
      if (matches.length === 1) return { image: matches[0]! };
      if (matches.length === 0) return { error: `labels/${key}.txt in ${from} matches no project image named ${key}.*` };
      // thrown at once: the importer would otherwise report it as "no image" and go on
      throw new Error(`labels/${key}.txt in ${from} matches ${matches.length} project images (${matches.map((m) => m.path).join(', ')}): rename one so that stems are unique`);
    },
  };
}

const RESOLVERS: Record<ImportFormat, (project: Project, from: string) => KeyResolver> = { coco: cocoResolver, yolo: yoloResolver };

/**
 * Imports a dataset file or folder into the project: all of it in one transaction (one undo
 * step), or nothing when anything is wrong (malformed file, unknown image, mask of the wrong size).
 */
export async function importDataset(project: Project, format: ImportFormat, importer: Importer, from: string): Promise<DatasetImportReport> {
  const source = resolve(from);
  const resolver = RESOLVERS[format](project, source);
  const resolved = new Map<string, ReturnType<KeyResolver['resolve']>>();
  const lookup = (key: string) => {
    let r = resolved.get(key);
    if (!r) resolved.set(key, (r = resolver.resolve(key)));
    return r;
  };
  const result = await importer(source, {
    imageSize(key) {
      const r = lookup(key);
      if (!('image' in r) || r.image.width === null || r.image.height === null) return undefined;
      return { width: r.image.width, height: r.image.height };
    },
  });
  const newFiles = new Set<string>();
  const imageOf = (key: string) => {
    const r = lookup(key);
    if ('error' in r) throw new Error(r.error);
    if ('file' in r) newFiles.add(r.file);
    return 'image' in r ? { imageId: r.image.id } : { imagePath: r.file };
  };
  const annotations: ImportAnnotation[] = [
    ...result.annotations.map((a) => ({ ...imageOf(a.imageKey), labelName: a.labelName, rle: a.rle })),
    ...result.boxes.map((b) => ({ ...imageOf(b.imageKey), labelName: b.labelName, rle: null, bbox: b.bbox })),
  ];
  const images = await scanImages([...newFiles], () => {});
  const before = new Set(project.listLabels().map((l) => l.name));
  const { addedImages, annotationIds } = project.importAnnotations({ images, labels: result.labels.map((name) => ({ name })), annotations });
  return {
    format, from: source, addedImages: addedImages.length,
    addedLabels: project.listLabels().map((l) => l.name).filter((n) => !before.has(n)),
    annotations: annotationIds.length, boxes: result.boxes.length, warnings: result.warnings,
  };
}
