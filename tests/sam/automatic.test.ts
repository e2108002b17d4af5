/** The automatic mask generator, stage by stage on hand-made data (no model). */
import { describe, expect, it } from 'vitest';
import {
  AUTOMATIC_DEFAULTS, automaticDefaults, boxIou, type CropDecoder, cropBoxes, generateMasks, layerPointGrids, maskBox, nearCropEdge, nms, pointGrid, removeSmallRegions,
  stabilityScore, uncropMask,
} from '../../main/sam/automatic.ts';

/** A width x height mask from rows of '#' and '.'. */
function maskOf(rows: string[]): Uint8Array {
  return Uint8Array.from(rows.join('').split(''), (c) => (c === '#' ? 1 : 0));
}

describe('automatic mask generator stages', () => {
  it('takes the defaults of the generator of the model\'s family', () => {
    // SamAutomaticMaskGenerator and SAM2AutomaticMaskGenerator differ only in pred_iou_thresh
    expect(automaticDefaults('sam')).toEqual({ ...AUTOMATIC_DEFAULTS, predIouThresh: 0.88 });
    expect(automaticDefaults('sam2.1')).toEqual({ ...AUTOMATIC_DEFAULTS, predIouThresh: 0.8 });
    expect(AUTOMATIC_DEFAULTS).toMatchObject({ pointsPerSide: 32, pointsPerBatch: 64, stabilityScoreThresh: 0.95, stabilityScoreOffset: 1, boxNmsThresh: 0.7, cropNLayers: 0, minMaskRegionArea: 0 });
  });

  it('the point grid holds cell centres, x fastest', () => {
    expect(pointGrid(4)).toEqual([0.125, 0.375, 0.625, 0.875].flatMap((y) => [0.125, 0.375, 0.625, 0.875].map((x) => [x, y])));
    const grid = pointGrid(32);
    expect(grid).toHaveLength(1024);
    expect(grid[0]).toEqual([1 / 64, 1 / 64]);
    // linspace: start + i * step, the last value exactly the stop
    expect(grid[1]).toEqual([1 / 64 + (1 - 1 / 64 - 1 / 64) / 31, 1 / 64]);
    expect(grid[1023]).toEqual([1 - 1 / 64, 1 - 1 / 64]);
    expect(layerPointGrids(32, 2, 2).map((g) => g.length)).toEqual([1024, 256, 64]);
  });

  it('crop boxes: the image, then 2x2 overlapping crops ordered x-major', () => {
    // short side 1000, overlap int(512/1500 * 1000) = 341, crop 921 x 671
    expect(cropBoxes(1500, 1000, 1, 512 / 1500)).toEqual([
      { box: [0, 0, 1500, 1000], layer: 0 },
      { box: [0, 0, 921, 671], layer: 1 },
      { box: [0, 330, 921, 1000], layer: 1 },
      { box: [580, 0, 1500, 671], layer: 1 },
      { box: [580, 330, 1500, 1000], layer: 1 },
    ]);
  });

  it('stability score: pixels above +1 over pixels above -1, in float32', () => {
    const logits = Float32Array.of(2, 1.5, 0.5, -0.5, -1, -2, 1, -0.99);
    expect(stabilityScore(logits, 1)).toBe(Math.fround(2 / 6));
    expect(stabilityScore(logits, 0.6)).toBe(Math.fround(3 / 5));
    expect(stabilityScore(Float32Array.of(-3, -2), 1)).toBeNaN();
  });

  it('mask boxes are inclusive pixel boxes; an empty mask has [0, 0, 0, 0]', () => {
    expect(maskBox(maskOf(['.....', '..#..', '.###.', '.....']), 5, 4)).toEqual([1, 1, 3, 2]);
    expect(maskBox(new Uint8Array(20), 5, 4)).toEqual([0, 0, 0, 0]);
  });

  it('NMS keeps by decreasing score, dropping boxes over the IoU threshold; ties keep input order', () => {
    const boxes: [number, number, number, number][] = [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 7]];
    expect(boxIou(boxes[0]!, boxes[1]!)).toBe(Math.fround(81 / 100));
    expect(boxIou(boxes[1]!, boxes[3]!)).toBe(Math.fround(54 / 97));
    expect(nms(boxes, [0.9, 0.95, 0.5, 0.8], 0.7)).toEqual([1, 3, 2]);
    expect(nms(boxes, [0.9, 0.95, 0.5, 0.8], 0.85)).toEqual([1, 0, 3, 2]);
    expect(nms([[0, 0, 4, 4], [0, 0, 4, 4], [10, 10, 12, 12]], [1, 1, 1], 0.7)).toEqual([0, 2]);
  });

  it('a box near a crop edge that is not an image edge is flagged', () => {
    const image: [number, number, number, number] = [0, 0, 1000, 800];
    expect(nearCropEdge([100, 100, 480, 300], [0, 0, 500, 400], image)).toBe(true);
    expect(nearCropEdge([100, 100, 300, 381], [0, 0, 500, 400], image)).toBe(true);
    expect(nearCropEdge([100, 100, 479 - 20, 300], [0, 0, 500, 400], image)).toBe(false);
    expect(nearCropEdge([5, 5, 300, 300], [0, 0, 500, 400], image)).toBe(false);
  });

  it('small holes are filled and small islands erased (8-connected); all-small islands keep the largest', () => {
    const ring = maskOf(['#####', '#.#.#', '#####', '#...#', '#####']);
    const holes = removeSmallRegions(ring, 5, 5, 2, 'holes');
    expect(holes.changed).toBe(true);
    expect(Array.from(holes.mask)).toEqual(Array.from(maskOf(['#####', '#####', '#####', '#...#', '#####'])));
    const islands = maskOf(['##...', '##...', '.....', '...#.', '....#']);
    expect(Array.from(removeSmallRegions(islands, 5, 5, 3, 'islands').mask)).toEqual(Array.from(maskOf(['##...', '##...', '.....', '.....', '.....'])));
    expect(Array.from(removeSmallRegions(islands, 5, 5, 10, 'islands').mask)).toEqual(Array.from(maskOf(['##...', '##...', '.....', '.....', '.....'])));
    expect(removeSmallRegions(islands, 5, 5, 2, 'islands').changed).toBe(false);
  });

  it('uncropping pastes a crop mask at its offset', () => {
    expect(Array.from(uncropMask(maskOf(['#.', '.#']), [1, 1, 3, 3], 4, 3))).toEqual(Array.from(maskOf(['....', '.#..', '..#.'])));
  });

  it('crop layers: crops are decoded in their own frame, masks touching an inner crop edge go, the smaller crop wins duplicates', async () => {
    // 200x200, one crop layer: overlap int(512/1500 * 200) = 68, crops of 134 at x0, y0 in {0, 66}
    const square = (cropW: number, cropH: number, x0: number, y0: number, size = 20) => {
      const plane = new Float32Array(cropW * cropH).fill(-5);
      for (let y = y0; y < y0 + size; y++) for (let x = x0; x < x0 + size; x++) plane[y * cropW + x] = 5;
      return plane;
    };
    const empty = (w: number, h: number) => new Float32Array(w * h).fill(-5);
    const answers: Record<string, { plane: (w: number, h: number) => Float32Array; iou: number }> = {
      '0,0,200,200': { plane: (w, h) => square(w, h, 40, 40), iou: 0.9 },
      '0,0,134,134': { plane: (w, h) => square(w, h, 40, 40), iou: 0.95 },
      // touches the crop's top edge (y 66), far from the image's: dropped
      '0,66,134,200': { plane: (w, h) => square(w, h, 40, 0), iou: 0.99 },
      '66,0,200,134': { plane: (w, h) => square(w, h, 60, 60), iou: 0.91 },
      '66,66,200,200': { plane: empty, iou: 0.99 },
    };
    const crops: string[] = [];
    const decoderFor = async (crop: [number, number, number, number]): Promise<CropDecoder> => {
      crops.push(crop.join(','));
      const w = crop[2] - crop[0], h = crop[3] - crop[1];
      const answer = answers[crop.join(',')]!;
      return async (points) => points.map(() => ({ logits: [answer.plane(w, h), empty(w, h), empty(w, h)], iou: [answer.iou, 0.1, 0.1] }));
    };
    const progress: string[] = [];
    const { masks } = await generateMasks(200, 200, decoderFor, { pointsPerSide: 1, cropNLayers: 1 }, (done, total) => progress.push(`${done}/${total}`));
    expect(crops).toEqual(['0,0,200,200', '0,0,134,134', '0,66,134,200', '66,0,200,134', '66,66,200,200']);
    // every crop's grid counts: 1 point for the image and 1 for each of the 4 crops of layer 1
    expect(progress).toEqual(['0/5', '1/5', '2/5', '3/5', '4/5', '5/5']);
    expect(masks.map((m) => [m.predictedIou, m.box, m.point, m.cropBox])).toEqual([
      [0.95, [40, 40, 59, 59], [67, 67], [0, 0, 134, 134]],
      [0.91, [126, 60, 145, 79], [133, 67], [66, 0, 200, 134]],
    ]);
    expect(masks[1]!.mask[60 * 200 + 126]).toBe(1);
    expect(masks[1]!.mask.reduce((a, b) => a + b, 0)).toBe(400);
  });

  it('small-region removal cleans masks, then an NMS prefers the masks it left untouched', async () => {
    const plane = (rows: string[]) => Float32Array.from(rows.join('').split(''), (c) => (c === '#' ? 5 : -5));
    const withIsland = ['......', '.##...', '.##...', '......', '......', '.....#'];
    const clean = ['......', '.##...', '.##...', '......', '......', '......'];
    const holed = ['#####.', '#.#.#.', '#####.', '......', '......', '......'];
    const decode: CropDecoder = async (points) => points.map(() => ({ logits: [plane(withIsland), plane(clean), plane(holed)], iou: [0.95, 0.9, 0.89] }));
    const without = await generateMasks(6, 6, async () => decode, { pointsPerSide: 1 });
    expect(without.masks.map((m) => m.box)).toEqual([[1, 1, 5, 5], [1, 1, 2, 2], [0, 0, 4, 2]]);
    const { masks } = await generateMasks(6, 6, async () => decode, { pointsPerSide: 1, minMaskRegionArea: 2 });
    // the island mask, cleaned, duplicates the clean one and goes; the holed one is filled and kept
    expect(masks.map((m) => [m.predictedIou, m.box])).toEqual([[0.9, [1, 1, 2, 2]], [0.89, [0, 0, 4, 2]]]);
    expect(Array.from(masks[1]!.mask)).toEqual(Array.from(plane(['#####.', '#####.', '#####.', '......', '......', '......']), (v) => (v > 0 ? 1 : 0)));
  });

  it('the whole generator on hand-made logits: IoU and stability filters, then NMS order by predicted IoU', async () => {
    // 8x8 image, a 2x2 grid (points at 2 and 6): each point answers three candidates
    const plane = (rows: string[], inside = 3, outside = -3) => Float32Array.from(rows.join('').split(''), (c) => (c === '#' ? inside : c === '~' ? 0.5 : outside));
    const square = ['........', '.####...', '.####...', '.####...', '.####...', '........', '........', '........'];
    const shifted = ['........', '........', '.####...', '.####...', '.####...', '.####...', '........', '........'];
    const blurry = ['........', '.~~~~...', '.~~~~...', '.~~~~...', '.~~~~...', '........', '........', '........'];
    const corner = ['........', '........', '........', '........', '........', '.....###', '.....###', '.....###'];
    const answers: Record<string, { logits: Float32Array[]; iou: number[] }> = {
      '2,2': { logits: [plane(square), plane(blurry), plane(corner)], iou: [0.9, 0.95, 0.5] },
      '6,2': { logits: [plane(shifted), plane(corner), plane(square)], iou: [0.93, 0.89, 0.88] },
      '2,6': { logits: [plane(corner), plane(corner), plane(corner)], iou: [0.1, 0.2, 0.3] },
      '6,6': { logits: [plane(corner), plane(square), plane(shifted)], iou: [0.91, 0.97, 0.2] },
    };
    const asked: string[] = [];
    const decode: CropDecoder = async (points, wanted) => points.map(([x, y]) => {
      asked.push(`${x},${y}`);
      const a = answers[`${x},${y}`]!;
      return { logits: a.logits.map((l, k) => (wanted(a.iou[k]!) ? l : null)), iou: a.iou };
    });
    const progress: string[] = [];
    const { masks } = await generateMasks(8, 8, async () => decode, { pointsPerSide: 2, pointsPerBatch: 3 }, (done, total) => progress.push(`${done}/${total}`));
    expect(asked).toEqual(['2,2', '6,2', '2,6', '6,6']);
    // the grid points decoded, at the start and after each batch of 3
    expect(progress).toEqual(['0/4', '3/4', '4/4']);
    // kept: square (0.97, from 6,6), corner (0.91), shifted (0.93) overlaps square with IoU 9/15 < 0.7 and stays;
    // square 0.9 duplicates square 0.97; blurry fails stability; 0.88 is not above the threshold
    expect(masks.map((m) => [m.predictedIou, m.box, m.point])).toEqual([
      [0.97, [1, 1, 4, 4], [6, 6]],
      [0.93, [1, 2, 4, 5], [6, 2]],
      [0.91, [5, 5, 7, 7], [6, 6]],
    ]);
    expect(masks.map((m) => m.stabilityScore)).toEqual([1, 1, 1]);
  });
});
