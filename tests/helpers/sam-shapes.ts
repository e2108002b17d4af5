/**
 * The sam-shapes fixture's ground truth (gt/ masks, objects.json) and the held-out split the
 * quantization tests use.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exporters } from '../../main/formats/index.ts';
import type { DatasetImage, DatasetLabel } from '../../main/formats/index.ts';
import { rleFromMask } from '../../main/masks/index.ts';
import { readMaskPng, SAM_SHAPES_FIXTURE } from './sam-tiny.ts';

export const SAM_SHAPES = SAM_SHAPES_FIXTURE.dir;

/**
 * The split of the 3 public images. Calibration: `large` (1400x1000, 6 objects, the most varied
 * scene). Held out: `landscape` and `portrait` (8 objects), on which quantized models are judged;
 * no quantizer decision may be tuned on them.
 */
export const CALIBRATION_SPLIT = ['large.png'];
export const HELD_OUT_SPLIT = ['landscape.png', 'portrait.png'];

/**
 * The images quantizer choices are decided on: the calibration image and the real photos of
 * resources/samples, which are neither calibration nor held-out (no ground truth: judged by IoU
 * against fp32 only).
 */
export const VALIDATION_PHOTOS = ['astronaut.png', 'chelsea.png', 'coffee.png', 'coins.png', 'hubble_deep_field.jpg', 'retina.jpg', 'rocket.jpg'];

/** A new folder `dir` holding the validation images (see VALIDATION_PHOTOS). */
export function validationFolder(dir: string): string {
  imageFolder(dir, CALIBRATION_SPLIT);
  for (const n of VALIDATION_PHOTOS) copyFileSync(join('resources', 'samples', n), join(dir, n));
  return dir;
}

export interface ShapesObject { id: number; mask: string; box: [number, number, number, number]; area: number; click: [number, number]; kind: string; fill: string }
export interface ShapesImage { image: string; width: number; height: number; objects: ShapesObject[] }

export function shapesObjects(): ShapesImage[] {
  return (JSON.parse(readFileSync(join(SAM_SHAPES, 'objects.json'), 'utf8')) as { images: ShapesImage[] }).images;
}

/** Copies the named fixture images into a new folder `dir`. */
export function imageFolder(dir: string, names: string[]): string {
  mkdirSync(dir, { recursive: true });
  for (const n of names) copyFileSync(join(SAM_SHAPES, n), join(dir, n));
  return dir;
}

/**
 * Writes the fixture's ground truth for `names` as a COCO instances file with our own exporter
 * (one category per object kind, masks as compressed RLE) in `outDir`; returns its path.
 */
export async function writeGroundTruthCoco(outDir: string, names: string[]): Promise<string> {
  const images = shapesObjects().filter((i) => names.includes(i.image));
  const kinds = [...new Set(images.flatMap((i) => i.objects.map((o) => o.kind)))].sort();
  const labels: DatasetLabel[] = kinds.map((name, i) => ({ id: i + 1, name, color: '#ff0000' }));
  let annotationId = 0;
  const dataset: DatasetImage[] = [];
  for (const [index, image] of images.entries()) {
    const annotations = [];
    for (const o of image.objects) {
      const mask = await readMaskPng(join(SAM_SHAPES, o.mask));
      annotations.push({ id: ++annotationId, labelId: kinds.indexOf(o.kind) + 1, rle: rleFromMask(mask) });
    }
    dataset.push({ id: index + 1, path: image.image, absPath: join(SAM_SHAPES, image.image), width: image.width, height: image.height, annotations });
  }
  mkdirSync(outDir, { recursive: true });
  await exporters.coco(labels, dataset, dataset.length, { outDir });
  return join(outDir, 'annotations.json');
}
