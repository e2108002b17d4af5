/**
 * The export dialog's back end: the store's `exportDataset` (main/project/dataset.ts) with every
 * exporter of main/formats, so the dialog reports exactly what the command line reports: items
 * skipped with their reason, image files that could not be found, what each format changed.
 */
import { mkdirSync, readdirSync } from 'node:fs';
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

export async function runExport(project: Project, format: ExportFormat, outDir: string, onProgress?: (done: number, total: number) => void): Promise<ExportReport> {
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (err) {
    // EEXIST / ENOTDIR: the folder or one above it is a file
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`export: cannot make the folder ${outDir}: ${code === 'EEXIST' || code === 'ENOTDIR' ? 'it or a folder above it is a file' : (err as Error).message}`);
  }
  if (readdirSync(outDir).length > 0) throw new Error(`export: ${outDir} is not empty; choose an empty folder`);
  const report = await exportDataset(project, exporters[format], { outDir, ...(onProgress ? { onProgress } : {}) });
  return { format, outDir, files: report.files, images: report.images, annotations: report.annotations, skipped: report.skipped, notes: report.notes };
}
