/** The export dialog's back end: every exporter of main/formats over the open project. */
import { mkdirSync, readdirSync } from 'node:fs';
import { exportCocoPolygons, exportCocoRle } from '../formats/coco.ts';
import { exportLabelme } from '../formats/labelme.ts';
import type { DatasetImage, Exporter } from '../formats/types.ts';
import { exportVoc } from '../formats/voc.ts';
import { exportYolo } from '../formats/yolo.ts';
import type { Project } from '../project/index.ts';
import type { ExportFormat, ExportFormatInfo, ExportReport } from '../../preload/api.ts';

const FORMATS: Record<ExportFormat, ExportFormatInfo & { run: Exporter }> = {
  coco: { id: 'coco', name: 'COCO (RLE masks)', note: 'Every mask exactly, holes and several parts included.', run: exportCocoRle },
  'coco-polygons': { id: 'coco-polygons', name: 'COCO (polygons)', note: 'Polygons cannot carry holes: masks with holes are listed in the report.', run: exportCocoPolygons },
  yolo: { id: 'yolo', name: 'YOLO segmentation', note: 'One polygon per line: holes are filled, several parts are listed in the report.', run: exportYolo },
  voc: { id: 'voc', name: 'Pascal VOC (PNG masks)', note: 'Class and instance PNGs; later annotations paint over earlier ones.', run: exportVoc },
  labelme: { id: 'labelme', name: 'LabelMe JSON', note: 'Polygons next to each image; holes cannot be carried.', run: exportLabelme },
};

export const EXPORT_FORMAT_IDS = Object.keys(FORMATS) as ExportFormat[];

export function exportFormats(): ExportFormatInfo[] {
  return Object.values(FORMATS).map(({ id, name, note }) => ({ id, name, note }));
}

function* datasetImages(project: Project, skipped: ExportReport['skipped']): Generator<DatasetImage> {
  for (const item of project.iterateDataset()) {
    const { image, file } = item;
    if (!file || image.width === null || image.height === null) {
      skipped.push({ imageId: image.id, reason: `${image.path}: ${image.error ?? 'file not found'}` });
      continue;
    }
    yield {
      id: image.id, path: image.path, absPath: file, width: image.width, height: image.height,
      annotations: item.annotations.map((a) => ({ id: a.id, labelId: a.labelId, rle: a.rle, score: a.score })),
    };
  }
}

export async function runExport(project: Project, format: ExportFormat, outDir: string): Promise<ExportReport> {
  mkdirSync(outDir, { recursive: true });
  if (readdirSync(outDir).length > 0) throw new Error(`export: ${outDir} is not empty; choose an empty folder`);
  const skipped: ExportReport['skipped'] = [];
  const labels = project.listLabels().map((l) => ({ id: l.id, name: l.name, color: l.color }));
  const total = project.stats().images;
  const report = await FORMATS[format].run(labels, datasetImages(project, skipped), total, { outDir });
  return {
    format, outDir, files: report.files, images: report.images, annotations: report.annotations,
    skipped: [...skipped, ...report.skipped], notes: report.notes,
  };
}
