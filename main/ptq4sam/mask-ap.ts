/**
 * COCO-style mask average precision for one class, as pycocotools' COCOeval computes it for
 * segm with areaRng "all": per IoU threshold 0.50:0.05:0.95, each image's detections in
 * descending score order are greedily matched to the unmatched ground truth of highest IoU at or
 * above the threshold; over all images (scores sorted, ties kept in image order) precision is
 * made non-increasing and read at the 101 recall points 0:0.01:1 (0 where recall never gets
 * there); AP is the mean over recall points, then over thresholds. Only the IoUs and scores are
 * needed, so the maths is tested on hand-made cases apart from any mask.
 */

export interface ApImage {
  /** one score per detection */
  scores: number[];
  /** ious[d][g]: IoU of detection d with ground-truth object g */
  ious: number[][];
  /** number of ground-truth objects in the image */
  gtCount: number;
}

/** pycocotools' thresholds (np.linspace: start + i x step, the last one exact). */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => (i === num - 1 ? stop : start + i * step));
}

export const IOU_THRESHOLDS = linspace(0.5, 0.95, 10);
const RECALL_POINTS = linspace(0, 1, 101);
/** COCO's maxDets for AP */
const MAX_DETECTIONS = 100;

/** Indices of values sorted by descending value, equal values in their original order. */
function descendingOrder(values: number[]): number[] {
  return values.map((_, i) => i).sort((a, b) => values[b]! - values[a]! || a - b);
}

/** AP at one IoU threshold, or null when there is no ground truth at all. */
export function averagePrecisionAt(images: ApImage[], threshold: number): number | null {
  const totalGt = images.reduce((n, im) => n + im.gtCount, 0);
  if (totalGt === 0) return null;
  const scores: number[] = [];
  const matched: boolean[] = [];
  for (const im of images) {
    if (im.ious.length !== im.scores.length) throw new Error(`mask AP: ${im.scores.length} scores but ${im.ious.length} rows of IoUs`);
    const gtTaken = new Array<boolean>(im.gtCount).fill(false);
    for (const d of descendingOrder(im.scores).slice(0, MAX_DETECTIONS)) {
      let best = Math.min(threshold, 1 - 1e-10);
      let match = -1;
      for (let g = 0; g < im.gtCount; g++) {
        const iou = im.ious[d]![g] ?? 0;
        if (gtTaken[g] || iou < best) continue;
        best = iou;
        match = g;
      }
      if (match >= 0) gtTaken[match] = true;
      scores.push(im.scores[d]!);
      matched.push(match >= 0);
    }
  }
  const order = descendingOrder(scores);
  const recall: number[] = [];
  const precision: number[] = [];
  let tp = 0;
  let fp = 0;
  for (const i of order) {
    if (matched[i]) tp++; else fp++;
    recall.push(tp / totalGt);
    precision.push(tp / (tp + fp));
  }
  for (let i = precision.length - 1; i > 0; i--) if (precision[i]! > precision[i - 1]!) precision[i - 1] = precision[i]!;
  let sum = 0;
  for (const r of RECALL_POINTS) {
    const at = recall.findIndex((x) => x >= r);
    if (at >= 0) sum += precision[at]!;
  }
  return sum / RECALL_POINTS.length;
}

/** Mask AP over IoU 0.50:0.95; null when there is no ground truth. */
export function maskAp(images: ApImage[]): number | null {
  const perThreshold = IOU_THRESHOLDS.map((t) => averagePrecisionAt(images, t));
  if (perThreshold.some((ap) => ap === null)) return null;
  return (perThreshold as number[]).reduce((a, b) => a + b, 0) / perThreshold.length;
}
