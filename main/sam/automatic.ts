/**
 * "Segment everything": SAM's automatic mask generator. A grid of single foreground points is
 * decoded over the image (and over overlapping crops when crop layers are asked for); each point
 * gives three candidate masks (the multimask outputs), which are kept when
 *   1. the predicted IoU is above `predIouThresh`,
 *   2. the stability score (area of logits > +offset over area of logits > -offset) reaches
 *      `stabilityScoreThresh`,
 *   3. the mask's box does not touch a crop edge that is not also an image edge (20 px slack),
 * then box NMS (on the masks' inclusive pixel boxes, ranked by predicted IoU) removes duplicates
 * per crop, and between crops (ranked by smaller crop first); finally, optionally, holes and
 * islands smaller than `minMaskRegionArea` are removed and a last NMS prefers untouched masks.
 * Comparisons run in float32 where the reference algorithm works on float32 tensors, so the
 * thresholds decide the same way. The decoder is behind `CropDecoder`: this file owns only the
 * algorithm, the engine worker feeds it.
 */

export interface AutomaticOptions {
  /** points per side of the grid (32: 1024 points) */
  pointsPerSide: number;
  /** points decoded per engine call */
  pointsPerBatch: number;
  predIouThresh: number;
  stabilityScoreThresh: number;
  stabilityScoreOffset: number;
  boxNmsThresh: number;
  /** extra layers of crops: layer i has (2^i)^2 crops */
  cropNLayers: number;
  cropNmsThresh: number;
  cropOverlapRatio: number;
  /** layer i has pointsPerSide / factor^i points per side */
  cropNPointsDownscaleFactor: number;
  /** holes and islands smaller than this (pixels) are removed; 0 turns it off */
  minMaskRegionArea: number;
}

/** The reference generator's defaults. */
export const AUTOMATIC_DEFAULTS: AutomaticOptions = {
  pointsPerSide: 32,
  pointsPerBatch: 64,
  predIouThresh: 0.88,
  stabilityScoreThresh: 0.95,
  stabilityScoreOffset: 1.0,
  boxNmsThresh: 0.7,
  cropNLayers: 0,
  cropNmsThresh: 0.7,
  cropOverlapRatio: 512 / 1500,
  cropNPointsDownscaleFactor: 1,
  minMaskRegionArea: 0,
};

/**
 * The defaults of the generator that comes with the model's family: SAM 2's
 * SAM2AutomaticMaskGenerator keeps SAM's but for the predicted-IoU threshold, 0.8.
 */
export function automaticDefaults(family: 'sam' | 'sam2.1'): AutomaticOptions {
  return family === 'sam2.1' ? { ...AUTOMATIC_DEFAULTS, predIouThresh: 0.8 } : AUTOMATIC_DEFAULTS;
}

/** [x0, y0, x1, y1]; for masks, x1/y1 are the last inside column/row (inclusive). */
export type BoxXyxy = [number, number, number, number];

/** The decoder's answer for one point: the multimask candidates' logits at crop size and their predicted IoU. */
export interface PointPrediction {
  /** one plane per candidate, row-major cropHeight x cropWidth, threshold 0; null where `wanted` said no */
  logits: (Float32Array | null)[];
  iou: number[];
}

/**
 * Decodes points of one crop (crop pixel coordinates) against that crop's embedding. Logits of
 * candidates whose predicted IoU `wanted` rejects may be left out (null): a batch of 64 points
 * at full size would otherwise hold 192 logit planes.
 */
export type CropDecoder = (points: [number, number][], wanted: (iou: number) => boolean) => Promise<PointPrediction[]>;

export interface AutomaticMask {
  /** full-image mask, row-major height x width, 1 = inside */
  mask: Uint8Array;
  /** the mask's inclusive pixel box in the image */
  box: BoxXyxy;
  predictedIou: number;
  stabilityScore: number;
  /** the grid point that produced it, image pixels */
  point: [number, number];
  cropBox: BoxXyxy;
}

export interface AutomaticTimings {
  /** decoder calls */
  decodeMs: number;
  /** thresholds, stability, boxes, NMS, region clean-up */
  filterMs: number;
}

const f = Math.fround;

/** A regular grid of n x n points in [0, 1]^2, cell centres, x fastest. */
export function pointGrid(n: number): [number, number][] {
  const offset = 1 / (2 * n);
  // numpy linspace: start + i * step, the last one exactly the stop value
  const step = n > 1 ? (1 - offset - offset) / (n - 1) : 0;
  const side = Array.from({ length: n }, (_, i) => (i === n - 1 && n > 1 ? 1 - offset : offset + i * step));
  const points: [number, number][] = [];
  for (const y of side) for (const x of side) points.push([x, y]);
  return points;
}

/** One grid per crop layer: layer i has floor(n / factor^i) points per side. */
export function layerPointGrids(n: number, layers: number, factor: number): [number, number][][] {
  return Array.from({ length: layers + 1 }, (_, i) => pointGrid(Math.trunc(n / factor ** i)));
}

/**
 * The crops: the whole image (layer 0), then for layer i >= 1 a 2^i x 2^i set of overlapping
 * crops, ordered x-major (every y for the first x, then the next x).
 */
export function cropBoxes(width: number, height: number, layers: number, overlapRatio: number): { box: BoxXyxy; layer: number }[] {
  const out: { box: BoxXyxy; layer: number }[] = [{ box: [0, 0, width, height], layer: 0 }];
  const shortSide = Math.min(width, height);
  const cropLength = (length: number, n: number, overlap: number) => Math.ceil((overlap * (n - 1) + length) / n);
  for (let layer = 1; layer <= layers; layer++) {
    const perSide = 2 ** layer;
    const overlap = Math.trunc(overlapRatio * shortSide * (2 / perSide));
    const cropW = cropLength(width, perSide, overlap);
    const cropH = cropLength(height, perSide, overlap);
    for (let i = 0; i < perSide; i++) {
      for (let j = 0; j < perSide; j++) {
        const x0 = Math.trunc((cropW - overlap) * i);
        const y0 = Math.trunc((cropH - overlap) * j);
        out.push({ box: [x0, y0, Math.min(x0 + cropW, width), Math.min(y0 + cropH, height)], layer });
      }
    }
  }
  return out;
}

/**
 * How little a mask changes when its logit threshold moves by +-offset: the area above
 * threshold + offset divided by the area above threshold - offset (NaN when both are empty).
 */
export function stabilityScore(logits: Float32Array, offset: number, threshold = 0): number {
  const high = f(threshold + offset);
  const low = f(threshold - offset);
  let intersection = 0, union = 0;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > high) intersection++;
    if (v > low) union++;
  }
  return f(intersection / union);
}

/** The inclusive pixel box of a mask; [0, 0, 0, 0] when empty. */
export function maskBox(mask: Uint8Array, width: number, height: number): BoxXyxy {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (mask[row + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1, y1];
}

/** IoU of two boxes with area (x1 - x0) * (y1 - y0), in float32. */
export function boxIou(a: BoxXyxy, b: BoxXyxy): number {
  const areaA = f(f(a[2] - a[0]) * f(a[3] - a[1]));
  const areaB = f(f(b[2] - b[0]) * f(b[3] - b[1]));
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = f(w * h);
  return f(inter / f(f(areaA + areaB) - inter));
}

/**
 * Greedy non-maximum suppression: boxes by decreasing score (ties in input order), each kept
 * unless its IoU with a kept one exceeds `threshold`. Returns the kept indices in that order.
 */
export function nms(boxes: BoxXyxy[], scores: number[], threshold: number): number[] {
  const order = boxes.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const kept: number[] = [];
  const t = f(threshold);
  for (const i of order) {
    if (kept.every((k) => !(boxIou(boxes[k]!, boxes[i]!) > t))) kept.push(i);
  }
  return kept;
}

/** Whether a box (image coordinates) lies within 20 px of a crop edge that is not an image edge. */
export function nearCropEdge(box: BoxXyxy, crop: BoxXyxy, image: BoxXyxy, tolerance = 20): boolean {
  return box.some((v, i) => Math.abs(v - crop[i]!) <= tolerance && !(Math.abs(v - image[i]!) <= tolerance));
}

/** 8-connected components of the pixels equal to `value`: a label per pixel (0 = other) and each component's size. */
function components(mask: Uint8Array, width: number, height: number, value: number): { labels: Int32Array; sizes: number[] } {
  const labels = new Int32Array(width * height);
  const sizes: number[] = [0];
  const stack: number[] = [];
  for (let start = 0; start < labels.length; start++) {
    if ((mask[start] ? 1 : 0) !== value || labels[start] !== 0) continue;
    const label = sizes.length;
    let size = 0;
    labels[start] = label;
    stack.push(start);
    while (stack.length > 0) {
      const p = stack.pop()!;
      size++;
      const px = p % width, py = (p - px) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const y = py + dy;
        if (y < 0 || y >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const x = px + dx;
          if (x < 0 || x >= width) continue;
          const q = y * width + x;
          if (labels[q] === 0 && (mask[q] ? 1 : 0) === value) {
            labels[q] = label;
            stack.push(q);
          }
        }
      }
    }
    sizes.push(size);
  }
  return { labels, sizes };
}

/**
 * Removes 8-connected holes (mode 'holes': filled) or islands (mode 'islands': erased) smaller
 * than `minArea`. When every island is small, the largest one stays. `changed` is false when
 * nothing was small.
 */
export function removeSmallRegions(mask: Uint8Array, width: number, height: number, minArea: number, mode: 'holes' | 'islands'): { mask: Uint8Array; changed: boolean } {
  const { labels, sizes } = components(mask, width, height, mode === 'holes' ? 0 : 1);
  const small = new Set<number>();
  for (let label = 1; label < sizes.length; label++) if (sizes[label]! < minArea) small.add(label);
  if (small.size === 0) return { mask, changed: false };
  const out = new Uint8Array(mask.length);
  if (mode === 'holes') {
    for (let i = 0; i < out.length; i++) out[i] = labels[i] === 0 || small.has(labels[i]!) ? 1 : 0;
  } else {
    const keep = new Set<number>();
    for (let label = 1; label < sizes.length; label++) if (!small.has(label)) keep.add(label);
    if (keep.size === 0) {
      let largest = 1;
      for (let label = 2; label < sizes.length; label++) if (sizes[label]! > sizes[largest]!) largest = label;
      keep.add(largest);
    }
    for (let i = 0; i < out.length; i++) out[i] = keep.has(labels[i]!) ? 1 : 0;
  }
  return { mask: out, changed: true };
}

/** Pastes a crop-sized mask into a full-image one at the crop's offset. */
export function uncropMask(mask: Uint8Array, crop: BoxXyxy, width: number, height: number): Uint8Array {
  const cropW = crop[2] - crop[0];
  if (cropW === width && crop[3] - crop[1] === height) return mask;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < crop[3] - crop[1]; y++) out.set(mask.subarray(y * cropW, (y + 1) * cropW), (crop[1] + y) * width + crop[0]);
  return out;
}

function passesIou(iou: number, o: AutomaticOptions): boolean {
  return !(o.predIouThresh > 0) || f(iou) > f(o.predIouThresh);
}

/** The masks one crop keeps, in NMS order, in image coordinates. */
async function processCrop(
  decode: CropDecoder, crop: BoxXyxy, grid: [number, number][], width: number, height: number, o: AutomaticOptions, timings: AutomaticTimings,
  decoded: (points: number) => void,
): Promise<AutomaticMask[]> {
  const cropW = crop[2] - crop[0], cropH = crop[3] - crop[1];
  const points = grid.map(([x, y]) => [x * cropW, y * cropH] as [number, number]);
  const found: AutomaticMask[] = [];
  const stabilityThresh = f(o.stabilityScoreThresh);
  for (let start = 0; start < points.length; start += o.pointsPerBatch) {
    const batch = points.slice(start, start + o.pointsPerBatch);
    let t0 = performance.now();
    const predictions = await decode(batch, (iou) => passesIou(iou, o));
    timings.decodeMs += performance.now() - t0;
    decoded(batch.length);
    t0 = performance.now();
    predictions.forEach((prediction, p) => {
      prediction.logits.forEach((logits, k) => {
        const iou = prediction.iou[k]!;
        if (!passesIou(iou, o) || logits === null) return;
        const stability = stabilityScore(logits, o.stabilityScoreOffset);
        if (o.stabilityScoreThresh > 0 && !(stability >= stabilityThresh)) return;
        const cropMask = new Uint8Array(logits.length);
        for (let i = 0; i < logits.length; i++) cropMask[i] = logits[i]! > 0 ? 1 : 0;
        const [bx0, by0, bx1, by1] = maskBox(cropMask, cropW, cropH);
        const box: BoxXyxy = [bx0 + crop[0], by0 + crop[1], bx1 + crop[0], by1 + crop[1]];
        if (nearCropEdge(box, crop, [0, 0, width, height])) return;
        const [px, py] = batch[p]!;
        found.push({
          mask: uncropMask(cropMask, crop, width, height), box, predictedIou: iou, stabilityScore: stability,
          point: [px + crop[0], py + crop[1]], cropBox: crop,
        });
      });
    });
    timings.filterMs += performance.now() - t0;
  }
  const t0 = performance.now();
  // box NMS within the crop (on crop coordinates in the reference; a shift changes no IoU)
  const kept = nms(found.map((m) => m.box), found.map((m) => m.predictedIou), o.boxNmsThresh).map((i) => found[i]!);
  timings.filterMs += performance.now() - t0;
  return kept;
}

/**
 * Runs the generator over an image of width x height. `decoderFor(crop)` prepares a decoder for
 * one crop (encoding the crop's pixels) and is called once per crop, the whole image first.
 */
export async function generateMasks(
  width: number, height: number, decoderFor: (crop: BoxXyxy) => Promise<CropDecoder>, options: Partial<AutomaticOptions> = {},
  onProgress?: (done: number, total: number) => void,
): Promise<{ masks: AutomaticMask[]; timings: AutomaticTimings }> {
  const o = { ...AUTOMATIC_DEFAULTS, ...options };
  if (!Number.isInteger(o.pointsPerSide) || o.pointsPerSide < 1) throw new Error(`points per side ${o.pointsPerSide} is not a positive integer`);
  if (!Number.isInteger(o.pointsPerBatch) || o.pointsPerBatch < 1) throw new Error(`points per batch ${o.pointsPerBatch} is not a positive integer`);
  const timings: AutomaticTimings = { decodeMs: 0, filterMs: 0 };
  const grids = layerPointGrids(o.pointsPerSide, o.cropNLayers, o.cropNPointsDownscaleFactor);
  const crops = cropBoxes(width, height, o.cropNLayers, o.cropOverlapRatio);
  // grid points decoded of all crops', after each batch
  const total = crops.reduce((n, c) => n + grids[c.layer]!.length, 0);
  let done = 0;
  onProgress?.(0, total);
  const decoded = (points: number) => { done += points; onProgress?.(done, total); };
  let masks: AutomaticMask[] = [];
  for (const { box, layer } of crops) {
    const decode = await decoderFor(box);
    masks.push(...await processCrop(decode, box, grids[layer]!, width, height, o, timings, decoded));
  }
  const t0 = performance.now();
  if (crops.length > 1) {
    // between crops, the mask from the smaller crop wins (its pixels were seen at a higher resolution)
    const scores = masks.map((m) => f(1 / f((m.cropBox[2] - m.cropBox[0]) * (m.cropBox[3] - m.cropBox[1]))));
    masks = nms(masks.map((m) => m.box), scores, o.cropNmsThresh).map((i) => masks[i]!);
  }
  if (o.minMaskRegionArea > 0) masks = removeSmallRegionsAll(masks, width, height, o.minMaskRegionArea, Math.max(o.boxNmsThresh, o.cropNmsThresh));
  timings.filterMs += performance.now() - t0;
  return { masks, timings };
}

/**
 * Cleans every mask of small holes and islands, then NMS with untouched masks ranked first, so
 * a cleaned mask that now duplicates an untouched one goes. Masks kept take their cleaned form.
 */
function removeSmallRegionsAll(masks: AutomaticMask[], width: number, height: number, minArea: number, threshold: number): AutomaticMask[] {
  if (masks.length === 0) return masks;
  const cleaned = masks.map((m) => {
    const holes = removeSmallRegions(m.mask, width, height, minArea, 'holes');
    const islands = removeSmallRegions(holes.mask, width, height, minArea, 'islands');
    return { mask: islands.mask, unchanged: !holes.changed && !islands.changed };
  });
  const boxes = cleaned.map((c) => maskBox(c.mask, width, height));
  const kept = nms(boxes, cleaned.map((c) => (c.unchanged ? 1 : 0)), threshold);
  return kept.map((i) => (cleaned[i]!.unchanged ? masks[i]! : { ...masks[i]!, mask: cleaned[i]!.mask, box: boxes[i]! }));
}
