/**
 * The export dialog's back end: the store's `exportDataset` (main/project/dataset.ts) with every
 * exporter of main/formats, so the dialog reports exactly what the command line reports: items
 * skipped with their reason, image files that could not be found, what each format changed.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { checkFolderAbove, withAtomicDir } from '../base/index.ts';
import { exporters } from '../formats/index.ts';
import { exportDataset, type Project } from '../project/index.ts';
import type { ExportFormat, ExportFormatInfo, ExportReport } from '../../preload/contract/index.ts';

const FORMATS: Record<ExportFormat, ExportFormatInfo> = {
  coco: { id: 'coco', name: 'COCO (RLE masks)', note: 'Every mask exactly, holes and several parts included.' },
  'coco-polygons': { id: 'coco-polygons', name: 'COCO (polygons)', note: 'Polygons cannot carry holes: masks with holes are listed in the report.' },
  yolo: { id: 'yolo', name: 'YOLO segmentation', note: 'One polygon per line: holes are filled, several parts are listed in the report.' },
  voc: { id: 'voc', name: 'Pascal VOC (PNG masks)', note: 'Class and instance PNGs; later annotations paint over earlier ones.' },
  labelme: { id: 'labelme', name: 'LabelMe JSON', note: 'Polygons next to each image; holes cannot be carried.' },
};

export function exportFormats(): ExportFormatInfo[] {
  return Object.values(FORMATS);
}

/**
 * Exports into `outDir` (absent or an empty folder) whole or not at all: the files are written
 * in a hidden sibling folder that takes the name only when the export is complete, so a failure
 * or a cancel (`signal`) leaves the chosen folder as it was and a retry finds it empty.
 */
export async function runExport(project: Project, format: ExportFormat, outDir: string, onProgress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<ExportReport> {
  if (existsSync(outDir)) {
    if (!statSync(outDir).isDirectory()) throw new Error(`export: ${outDir} is a file; choose an empty folder`);
    if (readdirSync(outDir).length > 0) throw new Error(`export: ${outDir} is not empty; choose an empty folder`);
  } else {
    try {
      checkFolderAbove(outDir);
    } catch (err) {
      throw new Error(`export: cannot make the folder ${(err as Error).message}`);
    }
  }
  let report;
  try {
    report = await withAtomicDir(outDir, (tmp) => exportDataset(project, exporters[format], { outDir: tmp, ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) }));
  } catch (err) {
    if (signal?.aborted) throw new Error(`export to ${outDir} cancelled; nothing was written`);
    throw err;
  }
  return { format, outDir, files: report.files, images: report.images, annotations: report.annotations, skipped: report.skipped, notes: report.notes };
}
