import { describe, expect, it } from 'vitest';
import { maskArea } from '../../main/masks/index.ts';
import { MAX_POLYGON_CROSSINGS, maskFromPolygons, polygonCrossingsCost, type Polygon } from '../../main/masks/polygons.ts';

/** A zigzag between the top and the bottom of the image: every edge spans every row. */
function zigzag(points: number, width: number, height: number): Polygon {
  const outer: number[] = [];
  for (let i = 0; i < points; i++) outer.push((i / points) * width, i % 2 === 0 ? 0 : height);
  return { outer, holes: [] };
}

function circle(points: number, cx: number, cy: number, r: number): Polygon {
  const outer: number[] = [];
  for (let i = 0; i < points; i++) outer.push(cx + r * Math.cos((2 * Math.PI * i) / points), cy + r * Math.sin((2 * Math.PI * i) / points));
  return { outer, holes: [] };
}

describe('the cost cap of maskFromPolygons', () => {
  it('refuses a 100,000-point zigzag across a 6000x4500 image at once, naming its size and the limit', () => {
    const start = performance.now();
    expect(() => maskFromPolygons([zigzag(100_000, 6000, 4500)], 6000, 4500)).toThrow(
      `polygon mask: 1 polygon(s) of 100000 points in total would store 450000000 edge crossings on a 6000x4500 image (at most ${MAX_POLYGON_CROSSINGS}); simplify the polygons`,
    );
    expect(performance.now() - start).toBeLessThan(500);
  });

  it('counts the rows each edge spans, clipped to the image', () => {
    // a square 2..6 spans rows 2..5 twice; a square above the image costs nothing
    expect(polygonCrossingsCost([{ outer: [2, 2, 6, 2, 6, 6, 2, 6], holes: [] }], 10)).toBe(8);
    expect(polygonCrossingsCost([{ outer: [2, -9, 6, -9, 6, -1, 2, -1], holes: [] }], 10)).toBe(0);
    expect(polygonCrossingsCost([{ outer: [0, 0, 5, 0, 5, 100, 0, 100], holes: [[1, 1, 2, 1, 2, 2, 1, 2]] }], 10)).toBe(22);
  });

  it('a detailed hand-drawn outline and a dense comb on an 8000x6000 image still rasterise', () => {
    const outline = circle(5000, 4000, 3000, 2500);
    expect(polygonCrossingsCost([outline], 6000)).toBeLessThan(20_000);
    const area = maskArea(maskFromPolygons([outline], 8000, 6000));
    expect(Math.abs(area - Math.PI * 2500 ** 2) / (Math.PI * 2500 ** 2)).toBeLessThan(1e-3);
    // 500 edges across the full height: far past anything drawn by hand, still under the cap
    const comb = zigzag(500, 8000, 6000);
    expect(polygonCrossingsCost([comb], 6000)).toBeLessThanOrEqual(MAX_POLYGON_CROSSINGS);
    expect(maskArea(maskFromPolygons([comb], 8000, 6000))).toBeGreaterThan(0);
  });

  it('a non-finite coordinate is still refused by the ring check, not by the cap', () => {
    expect(() => maskFromPolygons([{ outer: [0, 0, 4, NaN, 4, 4], holes: [] }], 10, 10)).toThrow('polygon 0: a ring must be an even-length list of finite numbers');
  });
});
