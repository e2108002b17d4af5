/**
 * The import dialog's back end: the store's `importDataset` (main/project/dataset.ts) with the
 * importers of main/formats, so the dialog adds exactly what `project import` adds and reports
 * the same warnings. The whole import is one undo step; a cancel before the store's transaction
 * leaves the project as it was.
 */
import { existsSync, statSync } from 'node:fs';
import { importers } from '../formats/index.ts';
import { importDataset, type Project } from '../project/index.ts';
import type { ImportFormat, ImportFormatInfo, ImportProgress, ImportReport } from '../../preload/contract/index.ts';

const FORMATS: Record<ImportFormat, ImportFormatInfo> = {
  coco: {
    id: 'coco', name: 'COCO instances (JSON file)', source: 'file',
    note: 'Masks as RLE or polygons; annotations with a box and no mask become boxes waiting for SAM. Images are found beside the file or in the project.',
  },
  yolo: {
    id: 'yolo', name: 'YOLO (dataset folder)', source: 'folder',
    note: 'Segmentation polygons become masks, detection lines (class cx cy w h) boxes waiting for SAM; class names from classes.txt or data.yaml. Label files are matched to project images by name.',
  },
  labelme: {
    id: 'labelme', name: 'LabelMe (folder of JSON files)', source: 'folder',
    note: 'Polygons, circles and masks become masks (shapes of one group_id one object), rectangles boxes waiting for SAM; points and lines are left out. Images are found by each file\'s imagePath.',
  },
};

export function importFormats(): ImportFormatInfo[] {
  return Object.values(FORMATS);
}

export async function runImport(
  project: Project, format: ImportFormat, path: string,
  onProgress?: (progress: ImportProgress) => void, signal?: AbortSignal,
): Promise<ImportReport> {
  const wanted = FORMATS[format].source;
  if (!existsSync(path)) throw new Error(`import: ${path} does not exist`);
  if (statSync(path).isDirectory() !== (wanted === 'folder')) throw new Error(`import: ${path} is ${wanted === 'folder' ? 'a file' : 'a folder'}; ${FORMATS[format].name} reads ${wanted === 'folder' ? 'a folder' : 'a file'}`);
  try {
    return await importDataset(project, format, importers[format], path, { ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) });
  } catch (err) {
    if (signal?.aborted) throw new Error(`import of ${path} cancelled; nothing was changed`);
    throw err;
  }
}
