/**
 * YOLO segmentation export (the Ultralytics layout): `labels/<image stem>.txt` with one line per
 * polygon, `class x1 y1 x2 y2 ...` (class = 0-based label index, coordinates divided by the image
 * width and height, 6 decimals), `classes.txt` (one name per line) and `data.yaml` (names, nc,
 * paths). Every image gets a label file, empty when it has no annotations (a background image).
 * A line is one polygon and cannot say that two belong together, so an instance in several parts
 * becomes several lines (the report names them); lines cannot carry holes either, so holes are
 * filled (named too).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import {
  StemNames, labelIndexById, newReport, noteIds, outPath, outerRings, polygonTolerance, takeTurn, visitImages, writableAnnotations,
} from './common.ts';
import type { DatasetLabel, Exporter } from './types.ts';

export const exportYolo: Exporter = async (labels, images, imageCount, opts) => {
  const report = newReport('yolo');
  const tolerancePx = polygonTolerance(opts);
  const labelIndex = labelIndexById(labels);
  const names = new StemNames();
  const filled: number[] = [];
  const multiPart: number[] = [];
  mkdirSync(outPath(opts, 'labels'), { recursive: true });
  writeFileSync(outPath(opts, 'classes.txt'), labels.map((l) => `${oneLine(l.name)}\n`).join(''));
  writeFileSync(outPath(opts, 'data.yaml'), dataYaml(labels));
  report.files.push('classes.txt', 'data.yaml');
  await visitImages(images, imageCount, opts, async (image) => {
    const lines: string[] = [];
    for (const { ann, labelIndex: index } of writableAnnotations(image, labelIndex, report)) {
      await takeTurn();
      const { rings, hadHoles } = outerRings(ann, tolerancePx, 'pixel-index');
      if (hadHoles) filled.push(ann.id);
      if (rings.length > 1) multiPart.push(ann.id);
      for (const ring of rings) {
        const coords = ring.map((v, i) => (v / (i % 2 === 0 ? image.width : image.height)).toFixed(6));
        lines.push(`${index} ${coords.join(' ')}\n`);
      }
      report.annotations++;
    }
    const file = `labels/${names.nameFor(image)}.txt`;
    writeFileSync(outPath(opts, file), lines.join(''));
    report.files.push(file);
    report.images++;
  });
  report.notes.push(`polygons through the centres of each part's boundary pixels (pixel-index coordinates, which readers fill inside and on the outline) simplified with a tolerance of ${tolerancePx} px`);
  noteIds(report, multiPart, 'have several parts, written as one line per part (YOLO lines cannot group parts)');
  noteIds(report, filled, 'had holes, which YOLO lines cannot carry: the holes were filled');
  names.addNote(report);
  return report;
};

function oneLine(name: string): string {
  return name.replace(/[\r\n]+/g, ' ');
}

function dataYaml(labels: DatasetLabel[]): string {
  return [
    '# YOLO segmentation dataset exported by PTQ4SAM Studio.',
    '# labels/ holds one <image stem>.txt per image. Images are not copied: put them (or links to',
    '# them) in images/ beside labels/, under the same stems, for training code to pair them.',
    // No "path": Ultralytics then takes this file's folder as the dataset root. "path: ." would
    // be resolved against the working directory training starts in, not against this file.
    '# No "path" key: the dataset root is the folder of this file, wherever training is started.',
    'train: images',
    'val: images',
    `nc: ${labels.length}`,
    'names:',
    ...labels.map((l, i) => `  ${i}: ${JSON.stringify(oneLine(l.name))}`),
    '',
  ].join('\n');
}
