/** Conversions between the store's masks (COCO RLE at image size) and the UI's cropped masks. */
import { type BinaryMask, type Rle, emptyMask, forEachInsideRun, paintBrushStroke, rleFromCrop, rleFromMask, rleMeasure } from '../masks/index.ts';
import type { Annotation } from '../project/index.ts';
import { thinnedView } from '../sam/view-masks.ts';
import { MASK_VIEW_MAX_PIXELS, type AnnotationView, type MaskCrop, type MaskView } from '../../preload/contract/index.ts';

/**
 * The crop of a stored mask, made from its runs: only its bounding box is allocated and filled.
 * Decoding the full-size mask and scanning it for the box cost the whole image per annotation
 * (1,000 annotations on an 800x600 image: 1.9 s of the main process; one on 8000x6000: 0.1-0.3 s).
 */
export function cropFromRle(rle: Rle): MaskCrop {
  const [x, y, width, height] = rleMeasure(rle).bbox;
  const data = new Uint8Array(width * height);
  forEachInsideRun(rle, (cx, cy, length) => {
    for (let k = 0, i = (cy - y) * width + cx - x; k < length; k++, i += width) data[i] = 1;
  });
  return { x, y, width, height, data };
}

/**
 * A brush (1) or eraser (0) stroke on a stored mask (null: none yet), as `paintBrushStroke` on
 * the full-size mask gives it, painted in the union of the mask's box and the stroke's box alone:
 * on a 12-megapixel photo the full-size mask cost a decode, a copy and an encode of the whole
 * image per stroke. The eraser has nothing to change outside the mask's box.
 */
export function paintStrokeOnRle(rle: Rle | null, width: number, height: number, points: [number, number][], radiusPx: number, value: 0 | 1): Rle {
  const crop = rle ? cropFromRle(rle) : { x: 0, y: 0, width: 0, height: 0, data: new Uint8Array(0) };
  let [x0, y0, x1, y1] = crop.width ? [crop.x, crop.y, crop.x + crop.width, crop.y + crop.height] : [width, height, 0, 0];
  if (value === 1) {
    for (const [px, py] of points) {
      x0 = Math.min(x0, Math.floor(px - radiusPx - 1)); y0 = Math.min(y0, Math.floor(py - radiusPx - 1));
      x1 = Math.max(x1, Math.ceil(px + radiusPx + 1)); y1 = Math.max(y1, Math.ceil(py + radiusPx + 1));
    }
  }
  [x0, y0, x1, y1] = [Math.max(0, x0), Math.max(0, y0), Math.min(width, x1), Math.min(height, y1)];
  if (x1 <= x0 || y1 <= y0) return rle ?? rleFromCrop(crop, width, height);
  const region: BinaryMask = { width: x1 - x0, height: y1 - y0, data: new Uint8Array((x1 - x0) * (y1 - y0)) };
  for (let r = 0; r < crop.height; r++) region.data.set(crop.data.subarray(r * crop.width, (r + 1) * crop.width), (crop.y - y0 + r) * region.width + crop.x - x0);
  const painted = paintBrushStroke(region, points.map(([px, py]) => [px - x0, py - y0]), radiusPx, value);
  return rleFromCrop({ x: x0, y: y0, width: region.width, height: region.height, data: painted.data }, width, height);
}

/** What the window draws of a crop: every pixel, or every step-th one (block centres) when the box is large. */
export function maskView(crop: MaskCrop): MaskView {
  return thinnedView(crop, MASK_VIEW_MAX_PIXELS);
}

/** The full-size mask a crop stands for; pixels outside the image are an error. */
export function uncropMask(crop: MaskCrop, width: number, height: number, where: string): BinaryMask {
  if (crop.x < 0 || crop.y < 0 || crop.x + crop.width > width || crop.y + crop.height > height) {
    throw new Error(`${where}: mask ${crop.width}x${crop.height} at (${crop.x}, ${crop.y}) lies outside the ${width}x${height} image`);
  }
  const m = emptyMask(width, height);
  for (let r = 0; r < crop.height; r++) {
    const row = crop.data.subarray(r * crop.width, (r + 1) * crop.width);
    for (let c = 0; c < crop.width; c++) m.data[(crop.y + r) * width + crop.x + c] = row[c] ? 1 : 0;
  }
  return m;
}

export function annotationView(a: Annotation): AnnotationView {
  const common = {
    id: a.id, imageId: a.imageId, labelId: a.labelId, bbox: a.bbox, area: a.area, hidden: a.hidden, score: a.score,
    modelId: a.modelId, prompts: a.prompts,
  };
  if (a.rle === null) {
    return { ...common, imageWidth: 0, imageHeight: 0, boxOnly: true, mask: { x: 0, y: 0, width: 0, height: 0, step: 1, data: new Uint8Array(0) } };
  }
  return { ...common, imageWidth: a.rle.size[1], imageHeight: a.rle.size[0], boxOnly: false, mask: maskView(cropFromRle(a.rle)) };
}

export { rleFromMask };
