/**
 * COCO instances export, `<outDir>/annotations.json`: info, licenses, categories (ids 1..n in
 * label order), images (id, file_name = the path relative to the project folder, or for an image
 * outside it relative to the export folder, never absolute unless on another drive; the report
 * says which; width, height) and
 * annotations (id, image_id, category_id, segmentation, area, bbox [x,y,w,h], iscrowd 0).
 *
 * `coco` writes each mask exactly as compressed RLE {size: [h, w], counts: string}. With iscrowd
 * 0 this is what the Segment Anything datasets (SA-1B) use; pycocotools reads RLE whatever
 * iscrowd says, and iscrowd 0 keeps the masks as ordinary instances in training and evaluation.
 * `coco-polygons` writes one flat polygon per part (outer rings only: COCO polygons cannot carry
 * holes, so holes are filled and the report names every mask concerned); area and bbox still
 * come from the exact mask.
 *
 * Box-only annotations are skipped and reported, or with `boxesAsBboxes` written as bbox-only
 * annotations (segmentation [], area w*h), the form detection datasets use.
 *
 * The file is streamed: images go straight to the file and annotations to a side file that is
 * appended at the end, so 100k annotations never sit in memory as one string.
 */
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import {
  ChunkedFile, labelIndexById, newReport, noteIds, outPath, outerRings, polygonTolerance, takeTurn, visitImages,
  writableAnnotations,
} from './common.ts';
import type { DatasetAnnotation, Exporter, ExportReport } from './types.ts';

type Segmentation = (ann: DatasetAnnotation) => unknown;

function cocoExporter(format: string, makeSegmentation: (report: ExportReport, tolerancePx: number) => {
  segmentation: Segmentation; finish: () => void;
}): Exporter {
  return async (labels, images, imageCount, opts) => {
    const report = newReport(format);
    const tolerancePx = polygonTolerance(opts);
    const { segmentation, finish } = makeSegmentation(report, tolerancePx);
    const fileNameBases = { project: 0, export: 0, absolute: 0 };
    const labelIndex = labelIndexById(labels);
    let boxes = 0;
    const main = new ChunkedFile(outPath(opts, 'annotations.json'));
    const side = new ChunkedFile(outPath(opts, '.annotations.part'));
    try {
      const info = {
        description: 'Exported by PTQ4SAM Studio', version: '1.0', year: new Date().getFullYear(),
        contributor: 'PTQ4SAM Studio', date_created: new Date().toISOString(),
      };
      const categories = labels.map((l, i) => ({ id: i + 1, name: l.name, supercategory: '' }));
      main.write(`{"info":${JSON.stringify(info)},"licenses":[],"categories":${JSON.stringify(categories)},"images":[`);
      await visitImages(images, imageCount, opts, async (image) => {
        const fileName = cocoFileName(image.path, image.absPath, opts.outDir);
        fileNameBases[fileName.base]++;
        main.write(`${report.images ? ',' : ''}\n${JSON.stringify({ id: image.id, file_name: fileName.name, width: image.width, height: image.height })}`);
        report.images++;
        for (const { ann, labelIndex: index, area, bbox } of writableAnnotations(image, labelIndex, report, opts.boxesAsBboxes ?? false)) {
          await takeTurn();
          if (ann.rle === null) boxes++;
          const entry = {
            id: ann.id, image_id: image.id, category_id: index + 1, segmentation: ann.rle === null ? [] : segmentation(ann), area, bbox, iscrowd: 0,
          };
          side.write(`${report.annotations ? ',' : ''}\n${JSON.stringify(entry)}`);
          report.annotations++;
        }
      });
      side.close();
      main.write('\n],"annotations":[');
      main.flush();
      appendFile(main, side.path);
      main.write('\n]}\n');
    } finally {
      main.close();
      side.close();
      rmSync(side.path, { force: true });
    }
    finish();
    if (boxes > 0) report.notes.push(`${boxes} box-only annotation(s) written as bboxes with an empty segmentation`);
    report.notes.push(describeFileNames(fileNameBases));
    report.files.push('annotations.json');
    return report;
  };
}

type FileNameBase = 'project' | 'export' | 'absolute';

/**
 * An image's file_name: the project-relative path the store keeps, else (an image outside the
 * project folder) the path relative to the export folder, so a shared dataset does not carry
 * absolute paths that name this computer's folders (and its user). Absolute only where no
 * relative path exists (another drive).
 */
function cocoFileName(storedPath: string, absPath: string, outDir: string): { name: string; base: FileNameBase } {
  if (!isAbsolute(storedPath)) return { name: storedPath, base: 'project' };
  const fromExport = relative(outDir, absPath);
  if (isAbsolute(fromExport)) return { name: storedPath, base: 'absolute' };
  return { name: fromExport.split(sep).join('/'), base: 'export' };
}

function describeFileNames(counts: Record<FileNameBase, number>): string {
  const parts = [
    counts.project ? `${counts.project} relative to the project folder` : '',
    counts.export ? `${counts.export} relative to this export's folder` : '',
    counts.absolute ? `${counts.absolute} absolute (on another drive)` : '',
  ].filter(Boolean);
  return `image file_names: ${parts.join(', ') || 'none'}`;
}

function appendFile(target: ChunkedFile, sourcePath: string): void {
  const fd = openSync(sourcePath, 'r');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0;) target.writeBytes(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

export const exportCocoRle: Exporter = cocoExporter('coco', () => ({
  segmentation: (ann) => ({ size: ann.rle!.size, counts: ann.rle!.counts }),
  finish: () => {},
}));

export const exportCocoPolygons: Exporter = cocoExporter('coco-polygons', (report, tolerancePx) => {
  const filled: number[] = [];
  return {
    segmentation: (ann) => {
      const { rings, hadHoles } = outerRings(ann, tolerancePx, 'corners');
      if (hadHoles) filled.push(ann.id);
      return rings;
    },
    finish: () => {
      report.notes.push(`polygons traced on pixel edges and simplified with a tolerance of ${tolerancePx} px; area and bbox are those of the exact mask`);
      noteIds(report, filled, 'had holes, which COCO polygons cannot carry: the holes were filled');
    },
  };
});
