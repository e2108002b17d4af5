import { describe, expect, it } from 'vitest';
import {
  type BinaryMask, maskArea, maskBbox, maskFromPixelIndexPolygons, maskFromPolygons, pixelIndexRing, polygonsFromMask, polygonsFromRle, rleFromCrop, rleFromMask, rleOfPolygons,
} from '../../main/masks/index.ts';
import { blobMask, iou, maskFromArt, maskOf, randomMask, sameMask, seededRandom } from './helpers.ts';

const ringWithIslandInHole = maskFromArt(`
  .........
  .#######.
  .#.....#.
  .#.###.#.
  .#.#.#.#.
  .#.###.#.
  .#.....#.
  .#######.
  .........`);

const diagonalParts = maskFromArt(`
  ##..
  ##..
  ..##
  ..##`);

const holeTouchingOutsideAtCorner = maskFromArt(`
  ###.
  #.#.
  ##.#
  ...#`);

function roundTrip(mask: BinaryMask, tolerancePx: number): BinaryMask {
  return maskFromPolygons(polygonsFromMask(mask, tolerancePx), mask.width, mask.height);
}

/**
 * The "within tolerance" metric: every pixel that changed has, in the original mask, a pixel of the
 * other value (beyond the image counts as outside) whose centre is within `maxPx`, so the change
 * lies within about that distance of the edge.
 */
function changesStayNearTheEdge(original: BinaryMask, other: BinaryMask, maxPx: number): boolean {
  const { width: w, height: h, data } = original;
  const reach = Math.ceil(maxPx);
  for (let i = 0; i < data.length; i++) {
    if (data[i] === other.data[i]) continue;
    const x = i % w, y = Math.floor(i / w);
    let near = false;
    for (let dy = -reach; dy <= reach && !near; dy++) {
      for (let dx = -reach; dx <= reach && !near; dx++) {
        const nx = x + dx, ny = y + dy;
        const value = nx >= 0 && ny >= 0 && nx < w && ny < h ? data[ny * w + nx] : 0; // beyond the image is outside
        near = value !== data[i] && Math.hypot(dx, dy) <= maxPx;
      }
    }
    if (!near) return false;
  }
  return true;
}

/** SAM-sized parts: three overlapping discs of radius 25-65 px in a 320x240 image. */
function samSizedMask(rand: () => number): BinaryMask {
  const discs = Array.from({ length: 3 }, () => [60 + rand() * 200, 60 + rand() * 120, 25 + rand() * 40] as const);
  return maskOf(320, 240, (x, y) => discs.some(([cx, cy, r]) => (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r ** 2));
}

describe('polygons from masks', () => {
  it('traces one pixel as the square of its corners, clockwise on screen', () => {
    const mask = maskOf(4, 3, (x, y) => x === 2 && y === 1);
    expect(polygonsFromMask(mask, 0)).toEqual([{ outer: [3, 1, 3, 2, 2, 2, 2, 1], holes: [] }]);
  });

  it('gives a ring with a hole one polygon with one hole, and an island in the hole its own polygon', () => {
    const polys = polygonsFromMask(ringWithIslandInHole, 0);
    expect(polys.map((p) => p.holes.length)).toEqual([1, 1]);
    expect(polys[1]!.outer).toEqual([6, 3, 6, 6, 3, 6, 3, 3]);
  });

  it('joins parts that touch at a corner into one polygon (8-connectivity)', () => {
    expect(polygonsFromMask(diagonalParts, 0)).toHaveLength(1);
  });

  it('counts a gap that reaches the outside only through a pixel corner as a hole, as the text says', () => {
    const polys = polygonsFromMask(holeTouchingOutsideAtCorner, 0);
    expect(polys).toHaveLength(1);
    // the pixel at (1,1), closed by the part's pixels (2,1) and (1,2) meeting at corner (2,2);
    // the background pixel (2,2) itself is outside (it reaches (2,3) through an edge)
    expect(polys[0]!.holes).toEqual([[1, 2, 2, 2, 2, 1, 1, 1]]);
  });

  it('returns no polygons for an empty mask', () => {
    expect(polygonsFromMask(maskOf(5, 5, () => false), 0)).toEqual([]);
  });

  it.each([
    ['ring with an island in its hole', ringWithIslandInHole],
    ['parts touching at a corner', diagonalParts],
    ['hole touching the outside at a corner', holeTouchingOutsideAtCorner],
    ['full mask', maskOf(6, 4, () => true)],
    ['checkerboard', maskOf(9, 7, (x, y) => (x + y) % 2 === 0)],
    ['1xN row', maskOf(17, 1, (x) => x % 4 !== 0)],
    ['Nx1 column', maskOf(1, 17, (_x, y) => y % 3 !== 0)],
  ])('comes back exactly at tolerance 0 for the %s', (_name, mask) => {
    expect(sameMask(roundTrip(mask, 0), mask)).toBe(true);
  });

  it('comes back exactly at tolerance 0 for 300 random masks with holes and many parts', () => {
    const rand = seededRandom(3);
    for (let i = 0; i < 300; i++) {
      const mask = randomMask(1 + Math.floor(rand() * 30), 1 + Math.floor(rand() * 30), rand(), rand);
      expect(sameMask(roundTrip(mask, 0), mask)).toBe(true);
    }
  });

  it('changes only pixels within the tolerance of the edge when simplifying', () => {
    const rand = seededRandom(5);
    for (let i = 0; i < 10; i++) {
      const mask = i % 2 ? samSizedMask(rand) : blobMask(90, 70, rand);
      for (const tolerancePx of [0.5, 1, 2, 3]) {
        expect(changesStayNearTheEdge(mask, roundTrip(mask, tolerancePx), tolerancePx + 1)).toBe(true);
      }
    }
  });

  it('traces the same polygons from RLE as from the decoded mask', () => {
    const rand = seededRandom(13);
    for (let i = 0; i < 100; i++) {
      const mask = randomMask(1 + Math.floor(rand() * 25), 1 + Math.floor(rand() * 25), rand() * 0.6, rand);
      expect(polygonsFromRle(rleFromMask(mask), 1)).toEqual(polygonsFromMask(mask, 1));
    }
  });

  it('keeps SAM-sized masks simplified at 1 px within IoU 0.98 of the original', () => {
    const rand = seededRandom(9);
    for (let i = 0; i < 10; i++) {
      const mask = samSizedMask(rand);
      expect(iou(mask, roundTrip(mask, 1))).toBeGreaterThanOrEqual(0.98);
    }
  });

  it('simplifies a smooth disc to far fewer vertices than its pixel staircase', () => {
    const disc = maskOf(101, 101, (x, y) => (x - 50) ** 2 + (y - 50) ** 2 <= 40 ** 2);
    const exact = polygonsFromMask(disc, 0)[0]!.outer.length / 2;
    const simplified = polygonsFromMask(disc, 1)[0]!.outer.length / 2;
    expect(simplified).toBeLessThan(exact / 4);
  });

  it('gives no more vertices for a larger tolerance than for a smaller one, down to a quadrilateral a part', () => {
    const rand = seededRandom(21);
    const disc = maskOf(101, 101, (x, y) => (x - 50) ** 2 + (y - 50) ** 2 <= 40 ** 2);
    for (const mask of [disc, blobMask(90, 70, rand), samSizedMask(rand)]) {
      const parts = polygonsFromMask(mask, 0).length;
      const counts = [0, 1, 3, 10, 50, 1e6, Infinity].map((t) => polygonsFromMask(mask, t).reduce((k, p) => k + p.outer.length / 2, 0));
      // (a part Douglas-Peucker leaves a triangle may come back as the quadrilateral of the fallback)
      for (let i = 1; i < counts.length; i++) expect(counts[i], `tolerances ${counts.join(', ')}`).toBeLessThanOrEqual(Math.max(counts[i - 1]!, 4 * parts));
      expect(polygonsFromMask(mask, Infinity).every((p) => p.outer.length / 2 >= 3 && p.outer.length / 2 <= 4)).toBe(true);
      expect(maskArea(roundTrip(mask, Infinity))).toBeGreaterThan(0);
    }
  });

  it('never drops a small part, however large the tolerance', () => {
    const mask = maskOf(8, 8, (x, y) => x === 3 && y === 3);
    expect(maskArea(roundTrip(mask, 10))).toBe(1);
  });
});

describe('masks from polygons', () => {
  it('fills the pixels whose centres are inside', () => {
    const mask = maskFromPolygons([{ outer: [0.4, 0.4, 2.6, 0.4, 2.6, 1.6, 0.4, 1.6], holes: [] }], 4, 3);
    expect(Array.from(mask.data)).toEqual([1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0]);
  });

  it('leaves holes empty by the even-odd rule', () => {
    const mask = maskFromPolygons([{ outer: [0, 0, 3, 0, 3, 3, 0, 3], holes: [[1, 1, 2, 1, 2, 2, 1, 2]] }], 3, 3);
    expect(Array.from(mask.data)).toEqual([1, 1, 1, 1, 0, 1, 1, 1, 1]);
  });

  it('unions overlapping polygons the way COCO merges a segmentation list', () => {
    const square = (x: number) => ({ outer: [x, 0, x + 2, 0, x + 2, 1, x, 1], holes: [] });
    expect(Array.from(maskFromPolygons([square(0), square(1)], 3, 1).data)).toEqual([1, 1, 1]);
  });

  it('clips polygons that reach outside the image', () => {
    const mask = maskFromPolygons([{ outer: [-5, -5, 10, -5, 10, 10, -5, 10], holes: [] }], 3, 2);
    expect(maskArea(mask)).toBe(6);
  });

  it('rejects a ring with an odd number of coordinates', () => {
    expect(() => maskFromPolygons([{ outer: [0, 0, 1, 0, 1], holes: [] }], 2, 2)).toThrow(/polygon 0: a ring must be an even-length list/);
  });
});

describe('outer rings in pixel-index coordinates (what LabelMe and YOLO readers fill)', () => {
  /** The parts with their holes filled: what a format without holes can carry. */
  const filled = (mask: BinaryMask) => maskFromPolygons(polygonsFromMask(mask, 0).map((p) => ({ outer: p.outer, holes: [] })), mask.width, mask.height);
  const readBack = (mask: BinaryMask, tolerancePx: number) => maskFromPixelIndexPolygons(
    polygonsFromMask(mask, tolerancePx).map((p) => ({ outer: pixelIndexRing(p.outer), holes: [] })), mask.width, mask.height);

  it('come back exactly at tolerance 0, filled inside and on the outline: noise, blobs, lines, diagonal contacts, lone pixels', () => {
    const rand = seededRandom(21);
    for (let i = 0; i < 300; i++) {
      const mask = i % 3 === 0 ? blobMask(40, 30, rand) : randomMask(1 + Math.floor(rand() * 30), 1 + Math.floor(rand() * 30), rand(), rand);
      expect(sameMask(readBack(mask, 0), filled(mask)), `mask ${i}`).toBe(true);
    }
    const shapes = maskFromArt(`
      #.....#...
      .#....#.##
      ..#...#...
      ..##......
      ......#.#.
      .......#..`);
    expect(sameMask(readBack(shapes, 0), shapes)).toBe(true);
  });

  it('are what a reader that fills inside and on the outline needs: corner rings read so grow every part', () => {
    const rand = seededRandom(22);
    let corners = 0;
    for (let i = 0; i < 50; i++) {
      const mask = blobMask(40, 30, rand);
      corners += iou(maskFromPixelIndexPolygons(polygonsFromMask(mask, 0).map((p) => ({ outer: p.outer, holes: [] })), mask.width, mask.height), filled(mask));
    }
    expect(corners / 50).toBeLessThan(0.95);
  });

  it('keep SAM-sized masks simplified at 1 px within IoU 0.98, with no growth to the right and below', () => {
    const rand = seededRandom(9);
    for (let i = 0; i < 10; i++) {
      const mask = filled(samSizedMask(rand));
      const back = readBack(mask, 1);
      expect(iou(mask, back)).toBeGreaterThanOrEqual(0.98);
      // a half-pixel bias would show as one more pixel than the mask along every right and bottom edge
      expect(Math.abs(maskArea(back) - maskArea(mask)) / maskArea(mask)).toBeLessThan(0.01);
    }
  });
});

describe('polygons to RLE in their bounding box', () => {
  it('gives the RLE of the full-size rasterisation, both readings, polygons inside, across and outside the image', () => {
    const rand = seededRandom(41);
    for (let i = 0; i < 200; i++) {
      const width = 5 + Math.floor(rand() * 60), height = 5 + Math.floor(rand() * 60);
      const ring = Array.from({ length: 2 * (3 + Math.floor(rand() * 6)) }, (_, k) => (rand() * 1.4 - 0.2) * (k % 2 === 0 ? width : height));
      const polys = [{ outer: ring, holes: [] }];
      expect(rleOfPolygons(polys, width, height), `centres ${i}`).toEqual(rleFromMask(maskFromPolygons(polys, width, height)));
      expect(rleOfPolygons(polys, width, height, 'pixel-index'), `pixel-index ${i}`).toEqual(rleFromMask(maskFromPixelIndexPolygons(polys, width, height)));
    }
    const outside = [{ outer: [-9, -9, -5, -9, -5, -5], holes: [] }];
    expect(rleOfPolygons(outside, 10, 8)).toEqual(rleFromMask({ width: 10, height: 8, data: new Uint8Array(80) }));
  });

  it('makes the RLE of a crop as the full-size mask would (rleFromCrop)', () => {
    const rand = seededRandom(43);
    for (let i = 0; i < 100; i++) {
      const mask = randomMask(1 + Math.floor(rand() * 30), 1 + Math.floor(rand() * 30), rand(), rand);
      const [x, y, w, h] = maskBbox(mask);
      const data = new Uint8Array(w * h);
      for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) data[r * w + c] = mask.data[(y + r) * mask.width + x + c]!;
      expect(rleFromCrop({ x, y, width: w, height: h, data }, mask.width, mask.height)).toEqual(rleFromMask(mask));
      // any crop holding the mask, with margins, up to the whole image; inside values other than 1
      const x0 = Math.floor(rand() * (x + 1)), y0 = Math.floor(rand() * (y + 1));
      const x1 = x + w + Math.floor(rand() * (mask.width - x - w + 1)), y1 = y + h + Math.floor(rand() * (mask.height - y - h + 1));
      for (const [cx, cy, cw, ch] of [[x0, y0, x1 - x0, y1 - y0], [0, 0, mask.width, mask.height]] as const) {
        const wide = new Uint8Array(cw * ch);
        for (let r = 0; r < ch; r++) for (let c = 0; c < cw; c++) wide[r * cw + c] = 255 * mask.data[(cy + r) * mask.width + cx + c]!;
        expect(rleFromCrop({ x: cx, y: cy, width: cw, height: ch, data: wide }, mask.width, mask.height)).toEqual(rleFromMask(mask));
      }
    }
    // an empty crop anywhere: the whole image outside
    expect(rleFromCrop({ x: 3, y: 2, width: 0, height: 0, data: new Uint8Array(0) }, 7, 5)).toEqual(rleFromMask({ width: 7, height: 5, data: new Uint8Array(35) }));
  });
});
