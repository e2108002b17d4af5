/**
 * LabelMe export: `<stem>.json` per image, in LabelMe 5's layout: version, flags, shapes
 * (label, points [[x, y], ...], group_id, description, shape_type "polygon", flags, mask null),
 * imagePath (the image relative to the JSON file), imageData null, imageHeight, imageWidth.
 * Every part of an instance is one polygon shape; all parts of an instance share its group_id
 * (the annotation id), which is how LabelMe groups shapes into one object. Polygons cannot carry
 * holes: holes are filled and the report names every mask concerned.
 */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import {
  StemNames, labelIndexById, newReport, noteIds, outPath, outerRings, polygonTolerance, takeTurn, visitImages, writableAnnotations,
} from './common.ts';
import type { Exporter } from './types.ts';

const labelmeVersion = '5.5.0';

export const exportLabelme: Exporter = async (labels, images, imageCount, opts) => {
  const report = newReport('labelme');
  const tolerancePx = polygonTolerance(opts);
  const labelIndex = labelIndexById(labels);
  const names = new StemNames();
  const filled: number[] = [];
  await visitImages(images, imageCount, opts, async (image) => {
    const shapes = [];
    for (const { ann, labelIndex: index } of writableAnnotations(image, labelIndex, report)) {
      await takeTurn();
      const { rings, hadHoles } = outerRings(ann, tolerancePx, 'pixel-index');
      if (hadHoles) filled.push(ann.id);
      report.annotations++;
      shapes.push(...rings.map((ring) => ({
        label: labels[index]!.name,
        points: Array.from({ length: ring.length / 2 }, (_, i) => [ring[2 * i]!, ring[2 * i + 1]!]),
        group_id: ann.id,
        description: '',
        shape_type: 'polygon',
        flags: {},
        mask: null,
      })));
    }
    const file = `${names.nameFor(image)}.json`;
    const doc = {
      version: labelmeVersion,
      flags: {},
      shapes,
      imagePath: relative(opts.outDir, image.absPath).split(/[\\/]/).join('/'),
      imageData: null,
      imageHeight: image.height,
      imageWidth: image.width,
    };
    writeFileSync(outPath(opts, file), `${JSON.stringify(doc, null, 2)}\n`);
    report.files.push(file);
    report.images++;
  });
  report.notes.push(`polygons through the centres of each part's boundary pixels (pixel-index coordinates, which readers fill inside and on the outline) simplified with a tolerance of ${tolerancePx} px; the parts of one instance share its group_id`);
  noteIds(report, filled, 'had holes, which LabelMe polygons cannot carry: the holes were filled');
  names.addNote(report);
  return report;
};
