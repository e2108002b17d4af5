/**
 * The bridge between the store and main/formats, whose exporters and importers work on plain
 * data: exports stream the project's images with their annotations into an exporter; imports
 * resolve the importer's image keys to project images (adding images a COCO file names that are
 * not in the project yet) and store everything in one transaction, so a malformed file changes
 * nothing.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { IMAGE_EXTENSIONS, isImageFile } from '../base/index.ts';
import { imageStem, StemNames } from '../formats/common.ts';
import type { DatasetImage, DatasetLabel, Exporter, ExportOptions, ExportReport, Importer, ImportFormat } from '../formats/index.ts';
import type { ImportAnnotation, Project } from './project.ts';
import type { ImportProgress, ImportReport } from '../../preload/contract/index.ts';
import { scanImage, scanImages, throwIfAborted, type ScannedImage } from './scan.ts';
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

/** What an import added: the contract's ImportReport, which the app's dialog shows as it is. */
export type DatasetImportReport = ImportReport;

/** How each format's image keys name images: what an importer's key resolves to. */
interface KeyResolver {
  /** the project image the key names, or a file to add, or why neither (thrown when the import cannot go on) */
  resolve(key: string): { image: ImageRecord } | { file: string } | { error: string } | { refused: string };
}

/**
 * COCO file_name: relative to the annotations file, then to the project (or absolute). A file not
 * yet in the project is added only from inside the annotation file's folder or the project's
 * folder (real paths compared, so a symlink cannot lead out): a COCO file from someone else must
 * not pull a system file into the project. Anything else is refused and named in the report.
 */
function cocoResolver(project: Project, from: string): KeyResolver {
  return fileResolver(project, from, dirname(from));
}

/**
 * LabelMe imageKey: the image's absolute path (each JSON's imagePath resolved from its own
 * folder), held to the same rule as COCO's: a file not yet in the project is added only from
 * inside the chosen folder or the project's folder.
 */
function labelmeResolver(project: Project, from: string): KeyResolver {
  return fileResolver(project, from, from);
}

/** Keys that are paths, relative to `base` or to the project (or absolute); new files only from inside `base` or the project. */
function fileResolver(project: Project, from: string, base: string): KeyResolver {
  const roots = [base, project.dir].map((d) => realpathOrSelf(d));
  return {
    resolve(key) {
      // one place when the annotations file sits in the project folder
      const places = isAbsolute(key) ? [key] : [...new Set([resolve(base, key), resolve(project.dir, key)])];
      // the first place that holds the image wins, a project image or a file: a project image
      // further down the list must not take a file beside the annotations
      for (const place of places) {
        const image = project.findImageByPath(place);
        if (image) return { image };
        if (!existsSync(place) || !statSync(place).isFile()) continue;
        const real = realpathOrSelf(place);
        if (!roots.some((root) => isInside(root, real))) {
          return { refused: `image "${key}" named in ${from} is outside the annotation ${base === from ? 'folder' : "file's folder"} and the project's folder (${real}); it was not added and its annotations were not imported` };
        }
        if (!isImageFile(place)) {
          return { refused: `image "${key}" named in ${from} is not an image the app reads (${[...IMAGE_EXTENSIONS].join(', ')}): ${place} was not added and its annotations were not imported` };
        }
        return { file: place };
      }
      return { error: `image "${key}" named in ${from} is not in the project and was not found at ${places.join(' or ')}` };
    },
  };
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * YOLO label file stem: first the name the YOLO export gives an image of this project (so the
 * project reads its own export back: a stem shared by several images names the first, later ones
 * are `<stem>_<image id>`, compared without case; StemNames), else the project image with that
 * file stem, which must then be unique.
 */
function yoloResolver(project: Project, from: string): KeyResolver {
  const byStem = new Map<string, ImageRecord[]>();
  const byExportName = new Map<string, ImageRecord>();
  const names = new StemNames();
  for (let offset = 0; ; offset += 1000) {
    const { items } = project.listImages({ offset, limit: 1000 });
    for (const image of items) {
      const stem = imageStem(image.path);
      byStem.set(stem, [...(byStem.get(stem) ?? []), image]);
      // the export leaves out images of unknown size: they take no name
      if (image.width !== null && image.height !== null) byExportName.set(names.nameFor(image), image);
    }
    if (items.length < 1000) break;
  }
  return {
    resolve(key) {
      const exported = byExportName.get(key);
      if (exported) return { image: exported };
      const matches = byStem.get(key) ?? [];
      if (matches.length === 1) return { image: matches[0]! };
      if (matches.length === 0) return { error: `labels/${key}.txt in ${from} matches no project image named ${key}.*` };
      // thrown at once: the importer would otherwise report it as "no image" and go on
      throw new Error(`labels/${key}.txt in ${from} matches ${matches.length} project images (${matches.map((m) => m.path).join(', ')}): rename one so that stems are unique`);
    },
  };
}

const RESOLVERS: Record<ImportFormat, (project: Project, from: string) => KeyResolver> = { coco: cocoResolver, yolo: yoloResolver, labelme: labelmeResolver };

export interface ImportOptions {
  onProgress?: (progress: ImportProgress) => void;
  /** stops the import before it stores anything */
  signal?: AbortSignal;
}

/**
 * Imports a dataset file or folder into the project: all of it in one transaction (one undo
 * step), or nothing when anything is wrong (malformed file, unknown image, mask of the wrong size)
 * or the import is stopped (`signal`, up to the store's transaction).
 */
export async function importDataset(project: Project, format: ImportFormat, importer: Importer, from: string, options: ImportOptions = {}): Promise<DatasetImportReport> {
  const { onProgress, signal } = options;
  const source = resolve(from);
  let read = 0;
  onProgress?.({ phase: 'reading', done: 0, total: 0, read });
  const resolver = RESOLVERS[format](project, source);
  const resolved = new Map<string, ReturnType<KeyResolver['resolve']>>();
  const lookup = (key: string) => {
    let r = resolved.get(key);
    if (!r) resolved.set(key, (r = resolver.resolve(key)));
    return r;
  };
  // a new file's header is read once: its size answers the importer, its scan is what gets added
  const scanned = new Map<string, ScannedImage>();
  const scan = async (file: string) => {
    let image = scanned.get(file);
    if (!image) {
      throwIfAborted(signal);
      scanned.set(file, (image = await scanImage(file)));
      // sizes asked while the dataset is read: how many new images were read so far
      onProgress?.({ phase: 'reading', done: scanned.size, total: 0, read });
    }
    return image;
  };
  let lastShown = -1;
  const result = await importer(source, {
    ...(signal ? { signal } : {}),
    onRead(fraction) {
      read = fraction;
      // a percent at a time: a large file reports thousands of chunks and files
      if (Math.floor(read * 100) === lastShown) return;
      lastShown = Math.floor(read * 100);
      onProgress?.({ phase: 'reading', done: scanned.size, total: 0, read });
    },
    async imageSize(key) {
      const r = lookup(key);
      if ('image' in r && r.image.width !== null && r.image.height !== null) return { width: r.image.width, height: r.image.height, of: 'project' };
      if ('file' in r) {
        const image = await scan(r.file);
        if (image.width !== null && image.height !== null) return { width: image.width, height: image.height, of: 'file' };
      }
      return undefined;
    },
    whyNoSize(key) {
      const r = lookup(key);
      if ('image' in r) return `project image ${r.image.path} has no known size (${r.image.error ?? 'its header could not be read'})`;
      return undefined;
    },
  });
  const warnings = [...result.warnings];
  const refusedKeys = new Set<string>();
  const newFiles = new Set<string>();
  // each annotation's image: an id of the project, a new file to add, or null where the file was
  // refused (outside the annotation file's folder and the project: named once in the warnings)
  const imageOf = (key: string): { imageId: number } | { imagePath: string } | null => {
    const r = lookup(key);
    if ('error' in r) throw new Error(r.error);
    if ('refused' in r) {
      if (!refusedKeys.has(key)) warnings.push(r.refused);
      refusedKeys.add(key);
      return null;
    }
    if ('file' in r) newFiles.add(r.file);
    return 'image' in r ? { imageId: r.image.id } : { imagePath: r.file };
  };
  const annotations: ImportAnnotation[] = [];
  for (const a of result.annotations) {
    const image = imageOf(a.imageKey);
    if (image) annotations.push({ ...image, labelName: a.labelName, rle: a.rle });
  }
  for (const b of result.boxes) {
    const image = imageOf(b.imageKey);
    if (image) annotations.push({ ...image, labelName: b.labelName, rle: null, bbox: b.bbox });
  }
  throwIfAborted(signal);
  // headers and hashes of the files to add, a few at a time (all at once opened thousands of
  // files together); the ones a size was asked for are read already
  const unread = [...newFiles].filter((f) => !scanned.has(f));
  onProgress?.({ phase: 'images', done: 0, total: unread.length });
  for (const image of await scanImages(unread, (done) => onProgress?.({ phase: 'images', done, total: unread.length }), signal)) scanned.set(image.file, image);
  const images = [...newFiles].map((f) => scanned.get(f)!);
  for (const image of images) if (image.error !== null) warnings.push(`${image.file} was added with an error badge: ${image.error}`);
  throwIfAborted(signal);
  onProgress?.({ phase: 'storing', done: 0, total: annotations.length });
  const before = new Set(project.listLabels().map((l) => l.name));
  const { addedImages, annotationIds } = project.importAnnotations({ images, labels: result.labels.map((name) => ({ name })), annotations });
  return {
    format, from: source, addedImages: addedImages.length,
    addedLabels: project.listLabels().map((l) => l.name).filter((n) => !before.has(n)),
    annotations: annotationIds.length, boxes: result.boxes.length, warnings,
  };
}
