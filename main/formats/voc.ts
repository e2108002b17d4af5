/**
 * Pascal VOC segmentation export: `SegmentationClass/<stem>.png` (pixel = class index: 0
 * background, label i -> i + 1) and `SegmentationObject/<stem>.png` (pixel = instance number
 * 1, 2, ... in the image's annotation order), both 8-bit palette PNGs with the VOC colour map,
 * plus `labels.txt` (line i names class index i, line 0 `background`). Where masks overlap,
 * later annotations are drawn over earlier ones. 255 stays VOC's "void" and is never written,
 * so an image holds at most 254 instances and the list at most 254 labels; more are skipped and
 * reported. Images without annotations get all-background PNGs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { forEachInsideRun } from '../masks/index.ts';
import { StemNames, labelIndexById, newReport, outPath, takeTurn, visitImages, writableAnnotations } from './common.ts';
import { encodePalettePng } from './png.ts';
import type { Exporter } from './types.ts';

const maxIndex = 254;

/** The VOC colour map: the bits of the index spread over R, G and B, high bits first. */
export const vocPalette: Uint8Array = (() => {
  const palette = new Uint8Array(768);
  for (let i = 0; i < 256; i++) {
    let r = 0, g = 0, b = 0;
    for (let bit = 0, c = i; bit < 8; bit++, c >>= 3) {
      r |= (c & 1) << (7 - bit);
      g |= ((c >> 1) & 1) << (7 - bit);
      b |= ((c >> 2) & 1) << (7 - bit);
    }
    palette.set([r, g, b], i * 3);
  }
  return palette;
})();

export const exportVoc: Exporter = async (labels, images, imageCount, opts) => {
  const report = newReport('voc');
  const labelIndex = labelIndexById(labels);
  const names = new StemNames();
  for (const dir of ['SegmentationClass', 'SegmentationObject']) mkdirSync(outPath(opts, dir), { recursive: true });
  writeFileSync(outPath(opts, 'labels.txt'), ['background', ...labels.slice(0, maxIndex).map((l) => l.name.replace(/[\r\n]+/g, ' '))].map((n) => `${n}\n`).join(''));
  report.files.push('labels.txt');
  if (labels.length > maxIndex) report.notes.push(`only the first ${maxIndex} labels fit in 8-bit class PNGs; annotations of the other ${labels.length - maxIndex} were skipped`);
  await visitImages(images, imageCount, opts, async (image) => {
    const classPx = new Uint8Array(image.width * image.height);
    const objectPx = new Uint8Array(image.width * image.height);
    let instance = 0;
    for (const { ann, labelIndex: index } of writableAnnotations(image, labelIndex, report)) {
      await takeTurn();
      const classValue = index + 1;
      if (classValue > maxIndex) {
        report.skipped.push({ imageId: image.id, annotationId: ann.id, reason: `label index ${classValue} does not fit in a VOC class PNG (at most ${maxIndex} labels)` });
        continue;
      }
      if (instance === maxIndex) {
        report.skipped.push({ imageId: image.id, annotationId: ann.id, reason: `image ${image.path} already has ${maxIndex} instances, the most a VOC object PNG holds` });
        continue;
      }
      instance++;
      forEachInsideRun(ann.rle!, (x, y, length) => {
        for (let k = 0, i = y * image.width + x; k < length; k++, i += image.width) {
          classPx[i] = classValue;
          objectPx[i] = instance;
        }
      });
      report.annotations++;
    }
    const name = names.nameFor(image);
    for (const [dir, px] of [['SegmentationClass', classPx], ['SegmentationObject', objectPx]] as const) {
      writeFileSync(outPath(opts, `${dir}/${name}.png`), encodePalettePng(image.width, image.height, px, vocPalette));
      report.files.push(`${dir}/${name}.png`);
    }
    report.images++;
  });
  report.notes.push('where masks overlap, later annotations are drawn over earlier ones');
  names.addNote(report);
  return report;
};
