/**
 * Masks to polygons and back.
 *
 * Tracing: every 8-connected part of the mask becomes one Polygon: its outer ring and one ring per
 * hole. The background is then 4-connected, so a gap that reaches the outside only through a pixel
 * corner is a hole: the part's two pixels meeting at that corner close it (it is filled, and named,
 * where a format cannot carry holes). Rings run along pixel edges with vertices on pixel corners (integer coordinates, the
 * corner (x, y) is the top-left of pixel (x, y)), listed only where the direction changes. Outer
 * rings run clockwise on screen (y down) and holes anticlockwise. Where two pixels of a part
 * touch only at a corner the ring passes through that corner twice.
 *
 * Rasterising (maskFromPolygons): a pixel is inside a Polygon when its centre (x + 0.5, y + 0.5)
 * is inside by the even-odd rule over the outer ring and its holes; Polygons are then unioned.
 * That is pycocotools' reading of COCO polygons (frPyObjects + annToMask): each polygon of a
 * segmentation is rasterised on its own, its edges crossed at column centres and a pixel counted
 * when its centre lies past the crossing (pycocotools first rounds vertices to a 1/5 px grid, so
 * pixels whose centre lies within 0.1 px of an edge may differ), and the polygons are merged.
 * Traced rings have their vertices on pixel corners, so they come back exactly either way.
 */
import { type BinaryMask, checkSize, emptyMask, maskBbox } from './binary.ts';
import { type Rle, forEachInsideRun, rleBbox, rleFromCrop } from './rle.ts';

export interface Polygon {
  /** x0, y0, x1, y1, ... in pixel-corner coordinates; the ring closes back to the first point. */
  outer: number[];
  holes: number[][];
}

// Directions on the corner grid: east, south, west, north (y grows downwards).
const DX = [1, 0, -1, 0];
const DY = [0, 1, 0, -1];
// At a corner where two pixels of the part meet diagonally, turning left keeps them in one ring.
const LEFT_OF = [3, 0, 1, 2];
// The direction of a single edge bit (1, 2, 4, 8 -> 0, 1, 2, 3).
const DIR_OF_BIT = [-1, 0, 1, -1, 2, -1, -1, -1, 3];

/** Outer rings and holes of every 8-connected part, simplified by Douglas-Peucker with `tolerancePx`. */
export function polygonsFromMask(m: BinaryMask, tolerancePx: number): Polygon[] {
  checkTolerance(tolerancePx);
  const [bx, by, bw, bh] = maskBbox(m);
  if (bw === 0) return [];
  const pw = bw + 2;
  const padded = new Uint8Array(pw * (bh + 2));
  for (let y = 0; y < bh; y++) {
    const row = (y + by) * m.width + bx;
    for (let x = 0; x < bw; x++) padded[(y + 1) * pw + x + 1] = m.data[row + x] ? 1 : 0;
  }
  return tracePadded(padded, bx, by, bw, bh, tolerancePx);
}

/** polygonsFromMask for a mask held as RLE, without decoding the full-size mask first. */
export function polygonsFromRle(r: Rle, tolerancePx: number): Polygon[] {
  checkTolerance(tolerancePx);
  const [bx, by, bw, bh] = rleBbox(r);
  if (bw === 0) return [];
  const pw = bw + 2;
  const padded = new Uint8Array(pw * (bh + 2));
  forEachInsideRun(r, (x, y, length) => {
    for (let k = 0, i = (y - by + 1) * pw + x - bx + 1; k < length; k++, i += pw) padded[i] = 1;
  });
  return tracePadded(padded, bx, by, bw, bh, tolerancePx);
}

function checkTolerance(tolerancePx: number): void {
  if (!(tolerancePx >= 0)) throw new Error(`polygon tolerance ${tolerancePx} is not a non-negative number`);
}

/**
 * Traces the mask's bounding box (bw x bh at bx, by), given with a one-pixel empty border (row
 * width bw + 2) so that neighbour lookups need no bounds checks: exports trace one annotation at
 * a time on full-size images, and only the box is worth touching.
 */
function tracePadded(padded: Uint8Array, bx: number, by: number, bw: number, bh: number, tolerancePx: number): Polygon[] {
  const pw = bw + 2;
  const labelAt = labelParts(padded, pw);
  // Corner (x, y) of the box sits between padded pixels TL = (x, y), TR, BL and BR.
  const gw = bw + 1;
  const edges = new Uint8Array(gw * (bh + 1)); // bit d set: an edge leaves this corner in direction d
  for (let y = 0; y <= bh; y++) {
    for (let x = 0; x <= bw; x++) {
      const tl = padded[y * pw + x]!, tr = padded[y * pw + x + 1]!;
      const bl = padded[(y + 1) * pw + x]!, br = padded[(y + 1) * pw + x + 1]!;
      // east along the top of an inside BR, south with BL inside and BR not, west, north likewise
      edges[y * gw + x] = (br & (tr ^ 1)) | ((bl & (br ^ 1)) << 1) | ((tl & (bl ^ 1)) << 2) | ((tr & (tl ^ 1)) << 3);
    }
  }
  const left = edges.slice();
  const parts = new Map<number, { outer: number[]; holes: number[][] }>();
  const ringsOf = (label: number) => {
    let p = parts.get(label);
    if (!p) parts.set(label, (p = { outer: [], holes: [] }));
    return p;
  };
  for (let v = 0; v < left.length; v++) {
    while (left[v]) {
      const startDir = DIR_OF_BIT[left[v]! & -left[v]!]!;
      const ring = traceRing(edges, left, gw, v, startDir);
      const sx = v % gw, sy = (v - sx) / gw;
      // The pixel on the right of the first edge is inside: it names the part the ring bounds.
      const label = labelAt(sx + [1, 0, 0, 1][startDir]!, sy + [1, 1, 0, 0][startDir]!);
      const offset = ring.map((c, i) => c + (i % 2 === 0 ? bx : by));
      if (signedArea(ring) > 0) ringsOf(label).outer = offset;
      else ringsOf(label).holes.push(offset);
    }
  }
  return [...parts.keys()].sort((a, b) => a - b).map((label) => {
    const p = parts.get(label)!;
    return { outer: simplifyRing(p.outer, tolerancePx), holes: p.holes.map((h) => simplifyRing(h, tolerancePx)) };
  });
}

/**
 * Labels the 8-connected parts of a mask with an empty border (row width `pw`) 1, 2, ... in
 * raster order of their first pixel. Works on horizontal runs with union-find, so the cost
 * follows the number of runs, not of pixels (a 400 px disc: 400 runs, 125k pixels).
 * Returns the label of an inside pixel.
 */
function labelParts(padded: Uint8Array, pw: number): (x: number, y: number) => number {
  const rows = padded.length / pw;
  const starts: number[] = [], ends: number[] = []; // run [start, end) in padded columns
  const rowFirst = new Int32Array(rows + 1);
  for (let y = 0; y < rows; y++) {
    rowFirst[y] = starts.length;
    for (let x = 0; x < pw; x++) {
      if (!padded[y * pw + x]) continue;
      const start = x;
      while (padded[y * pw + x]) x++;
      starts.push(start);
      ends.push(x);
    }
  }
  rowFirst[rows] = starts.length;
  const parent = Int32Array.from(starts, (_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  for (let y = 1; y < rows; y++) {
    // Runs touch, diagonals included, when each starts at most one past the other's end.
    let p = rowFirst[y - 1]!;
    for (let c = rowFirst[y]!; c < rowFirst[y + 1]!; c++) {
      while (p < rowFirst[y]! && ends[p]! < starts[c]!) p++;
      for (let q = p; q < rowFirst[y]! && starts[q]! <= ends[c]!; q++) {
        const a = root(q), b = root(c);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  }
  const labelOfRoot = new Map<number, number>();
  const runLabel = Int32Array.from(starts, (_, i) => {
    const r = root(i);
    if (!labelOfRoot.has(r)) labelOfRoot.set(r, labelOfRoot.size + 1);
    return labelOfRoot.get(r)!;
  });
  return (x, y) => {
    for (let i = rowFirst[y]!; i < rowFirst[y + 1]!; i++) if (starts[i]! <= x && x < ends[i]!) return runLabel[i]!;
    throw new Error(`internal: pixel (${x}, ${y}) is in no run`);
  };
}

function traceRing(edges: Uint8Array, left: Uint8Array, gw: number, start: number, startDir: number): number[] {
  const ring: number[] = [];
  let v = start, dir = startDir;
  for (;;) {
    left[v]! &= ~(1 << dir);
    v += DX[dir]! + DY[dir]! * gw;
    const out = edges[v]!;
    // One way out, or two at a diagonal corner: then the left turn.
    const next = (out & (out - 1)) === 0 ? DIR_OF_BIT[out]! : LEFT_OF[dir]!;
    if (next !== dir) ring.push(v % gw, Math.floor(v / gw));
    if (v === start && next === startDir) return ring;
    dir = next;
  }
}

/** Shoelace area in y-down coordinates: positive for clockwise-on-screen rings. */
function signedArea(ring: number[]): number {
  let a = 0;
  const n = ring.length;
  for (let i = 0; i < n; i += 2) {
    const j = (i + 2) % n;
    a += ring[i]! * ring[j + 1]! - ring[j]! * ring[i + 1]!;
  }
  return a / 2;
}

/**
 * Douglas-Peucker on a closed ring of pixel corners (vertices stay on the pixel grid): split at
 * the first point and the point farthest from it, simplify both chains. A ring that would fall
 * below 3 points is kept exact, so small parts are never dropped.
 */
function simplifyRing(ring: number[], tolerancePx: number): number[] {
  const n = ring.length / 2;
  if (tolerancePx === 0 || n <= 3) return ring;
  let far = 0, farD2 = -1;
  for (let i = 1; i < n; i++) {
    const d2 = (ring[2 * i]! - ring[0]!) ** 2 + (ring[2 * i + 1]! - ring[1]!) ** 2;
    if (d2 > farD2) {
      far = i;
      farD2 = d2;
    }
  }
  // Point n is point 0 again, so both chains are plain index ranges.
  const xs = new Float64Array(n + 1), ys = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) {
    xs[i] = ring[2 * (i % n)]!;
    ys[i] = ring[2 * (i % n) + 1]!;
  }
  const keep = new Uint8Array(n + 1);
  keep[0] = keep[far] = keep[n] = 1;
  const tol2 = tolerancePx * tolerancePx;
  const stack: number[] = [0, far, far, n];
  while (stack.length) {
    const b = stack.pop()!, a = stack.pop()!;
    let best = -1, bestD2 = tol2;
    for (let i = a + 1; i < b; i++) {
      const d2 = segmentDistance2(xs[i]!, ys[i]!, xs[a]!, ys[a]!, xs[b]!, ys[b]!);
      if (d2 > bestD2) {
        best = i;
        bestD2 = d2;
      }
    }
    if (best < 0) continue;
    keep[best] = 1;
    stack.push(a, best, best, b);
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(xs[i]!, ys[i]!);
  if (out.length >= 6) return out;
  // Every point lies within the tolerance of the chord 0-far: keep each chain's farthest point
  // from it (a quadrilateral, so even a one-pixel part keeps its area), not the exact ring: a
  // larger tolerance must never give more points.
  const farthest = (a: number, b: number) => {
    let best = -1, bestD2 = 0;
    for (let i = a + 1; i < b; i++) {
      const d2 = segmentDistance2(xs[i]!, ys[i]!, xs[0]!, ys[0]!, xs[far]!, ys[far]!);
      if (d2 > bestD2) {
        best = i;
        bestD2 = d2;
      }
    }
    return best;
  };
  const corners = [0, farthest(0, far), far, farthest(far, n)].filter((i) => i >= 0);
  return corners.length >= 3 ? corners.flatMap((i) => [xs[i]!, ys[i]!]) : ring;
}

/** Squared distance from (x, y) to the segment a-b. */
function segmentDistance2(x: number, y: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax, dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len2));
  const ex = x - ax - t * dx, ey = y - ay - t * dy;
  return ex * ex + ey * ey;
}

/**
 * The most edge crossings a rasterisation may store and sort: each edge costs the pixel rows it
 * spans. A hand-drawn or imported outline of thousands of points on an 8000x6000 image stores
 * tens of thousands (even 1600 edges each across the full height, 9.6 million, pass: a few
 * seconds), a crafted 100k-point zigzag across a 4500-row image (450 million: over a minute and
 * gigabytes of a blocked main process) does not.
 */
export const MAX_POLYGON_CROSSINGS = 10_000_000;

/** The crossings maskFromPolygons stores: over every edge, the rows whose centres it spans. */
export function polygonCrossingsCost(polys: Polygon[], height: number): number {
  let cost = 0;
  for (const poly of polys) {
    for (const ring of [poly.outer, ...poly.holes]) {
      const n = Math.floor(ring.length / 2);
      for (let i = 0; i < n; i++) {
        const y1 = ring[2 * i + 1]!, y2 = ring[2 * ((i + 1) % n) + 1]!;
        const rows = Math.min(height, Math.ceil(Math.max(y1, y2) - 0.5)) - Math.max(0, Math.ceil(Math.min(y1, y2) - 0.5));
        // a non-finite coordinate gives NaN here: it costs nothing, the ring check refuses it
        if (rows > 0) cost += rows;
      }
    }
  }
  return cost;
}

/**
 * A traced outer ring (pixel corners, the mask inside) moved onto its boundary pixels' centres, in
 * pixel-index coordinates (pixel (x, y) is the point (x, y)): how LabelMe (PIL's polygon with its
 * outline) and Ultralytics (cv2.fillPoly) read polygon points, filling every pixel inside the ring
 * or on it. Read that way a corner ring grows by a pixel along its right and bottom edges (a
 * 10x5 block comes back 11x6). Each vertex moves half a pixel inward along the mitre of its two
 * edges (capped where a simplified ring turns sharply), then by -0.5 on both axes; a one pixel
 * wide part becomes a line through its pixels' centres, a lone pixel a point.
 */
export function pixelIndexRing(ring: number[]): number[] {
  const n = ring.length / 2;
  // inside lies right of the direction of travel on screen for a clockwise ring (positive area)
  const side = signedArea(ring) < 0 ? -1 : 1;
  // a corner the ring passes twice joins two pixels that touch diagonally: its mitre would name
  // the pixel between them, outside the part, so it gives those two pixels' centres instead
  const visits = new Map<string, number>();
  for (let i = 0; i < n; i++) visits.set(`${ring[2 * i]},${ring[2 * i + 1]}`, (visits.get(`${ring[2 * i]},${ring[2 * i + 1]}`) ?? 0) + 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = ring[2 * i]!, y = ring[2 * i + 1]!;
    const [ax, ay] = unit(x - ring[2 * ((i + n - 1) % n)]!, y - ring[2 * ((i + n - 1) % n) + 1]!);
    const [bx, by] = unit(ring[2 * ((i + 1) % n)]! - x, ring[2 * ((i + 1) % n) + 1]! - y);
    const n1x = -ay * side, n1y = ax * side, n2x = -by * side, n2y = bx * side;
    if (visits.get(`${x},${y}`)! > 1) {
      out.push(x + 0.5 * (n1x - ax) - 0.5, y + 0.5 * (n1y - ay) - 0.5, x + 0.5 * (n2x + bx) - 0.5, y + 0.5 * (n2y + by) - 0.5);
      continue;
    }
    const along = Math.max(1 + n1x * n2x + n1y * n2y, 0.25); // 0.25: a mitre at most twice the half-pixel's diagonal
    out.push(x + (0.5 * (n1x + n2x)) / along - 0.5, y + (0.5 * (n1y + n2y)) / along - 0.5);
  }
  return out;
}

function unit(dx: number, dy: number): [number, number] {
  const length = Math.hypot(dx, dy);
  return length === 0 ? [0, 0] : [dx / length, dy / length];
}

/**
 * Rasterises polygons in pixel-index coordinates as PIL and OpenCV do (pixelIndexRing): every
 * pixel whose centre is inside a ring (even-odd, as maskFromPolygons) or on one of its edges
 * (the pixel nearest each one-pixel step along it). YOLO label files are read so.
 */
export function maskFromPixelIndexPolygons(polys: Polygon[], width: number, height: number): BinaryMask {
  let steps = 0;
  for (const poly of polys) {
    for (const ring of [poly.outer, ...poly.holes]) {
      const n = Math.floor(ring.length / 2);
      for (let i = 0; i < n; i++) {
        const j = (i + 1) % n;
        steps += Math.ceil(Math.max(Math.abs(ring[2 * j]! - ring[2 * i]!), Math.abs(ring[2 * j + 1]! - ring[2 * i + 1]!)));
      }
    }
  }
  if (steps > MAX_POLYGON_CROSSINGS) throw new Error(`polygon mask: edges of ${steps} pixel steps in total on a ${width}x${height} image (at most ${MAX_POLYGON_CROSSINGS}); simplify the polygons`);
  const shift = (ring: number[]) => ring.map((v) => v + 0.5);
  const mask = maskFromPolygons(polys.map((p) => ({ outer: shift(p.outer), holes: p.holes.map(shift) })), width, height);
  for (const poly of polys) {
    for (const ring of [poly.outer, ...poly.holes]) {
      const n = ring.length / 2;
      for (let i = 0; i < n; i++) {
        const j = (i + 1) % n;
        const x1 = ring[2 * i]!, y1 = ring[2 * i + 1]!, dx = ring[2 * j]! - x1, dy = ring[2 * j + 1]! - y1;
        // one step a pixel along the longer axis, as Bresenham's line (half steps would round a
        // diagonal's midpoints, x.5 and y.5, onto a pixel beside it)
        const count = Math.max(1, Math.ceil(Math.max(Math.abs(dx), Math.abs(dy))));
        for (let k = 0; k <= count; k++) {
          const x = Math.round(x1 + (dx * k) / count), y = Math.round(y1 + (dy * k) / count);
          if (x >= 0 && x < width && y >= 0 && y < height) mask.data[y * width + x] = 1;
        }
      }
    }
  }
  return mask;
}

/**
 * The RLE of polygons on a width x height image, read at pixel centres (maskFromPolygons, COCO)
 * or as pixel indices filled inside and on the outline (maskFromPixelIndexPolygons, YOLO), made
 * in the polygons' bounding box alone: a full-size mask per polygon cost the whole image for
 * every one (a 160x120 polygon on a 12-megapixel photo: 116 ms).
 */
export function rleOfPolygons(polys: Polygon[], width: number, height: number, reading: 'centres' | 'pixel-index' = 'centres'): Rle {
  checkSize(width, height, 'polygon mask');
  let xMin = Infinity, yMin = Infinity, xMax = -Infinity, yMax = -Infinity;
  for (const poly of polys) {
    for (const ring of [poly.outer, ...poly.holes]) {
      for (let i = 0; i + 1 < ring.length; i += 2) {
        xMin = Math.min(xMin, ring[i]!); xMax = Math.max(xMax, ring[i]!);
        yMin = Math.min(yMin, ring[i + 1]!); yMax = Math.max(yMax, ring[i + 1]!);
      }
    }
  }
  // a pixel beyond the extremes on every side covers both readings; NaN leaves the whole image, where the ring check refuses it
  const x0 = Number.isFinite(xMin) ? Math.max(0, Math.min(width, Math.floor(xMin) - 1)) : 0;
  const y0 = Number.isFinite(yMin) ? Math.max(0, Math.min(height, Math.floor(yMin) - 1)) : 0;
  const x1 = Number.isFinite(xMax) ? Math.max(x0, Math.min(width, Math.ceil(xMax) + 2)) : width;
  const y1 = Number.isFinite(yMax) ? Math.max(y0, Math.min(height, Math.ceil(yMax) + 2)) : height;
  const shift = (ring: number[]) => ring.map((v, i) => v - (i % 2 === 0 ? x0 : y0));
  const moved = polys.map((p) => ({ outer: shift(p.outer), holes: p.holes.map(shift) }));
  if (x1 === x0 || y1 === y0) return rleFromCrop({ x: 0, y: 0, width: 0, height: 0, data: new Uint8Array(0) }, width, height);
  const crop = reading === 'centres' ? maskFromPolygons(moved, x1 - x0, y1 - y0) : maskFromPixelIndexPolygons(moved, x1 - x0, y1 - y0);
  return rleFromCrop({ x: x0, y: y0, width: crop.width, height: crop.height, data: crop.data }, width, height);
}

/** Rasterises polygons (even-odd within each Polygon, union across them) at pixel centres. */
export function maskFromPolygons(polys: Polygon[], width: number, height: number): BinaryMask {
  checkSize(width, height, 'polygon mask');
  const cost = polygonCrossingsCost(polys, height);
  if (cost > MAX_POLYGON_CROSSINGS) {
    const points = polys.reduce((sum, p) => sum + [p.outer, ...p.holes].reduce((n, ring) => n + Math.floor(ring.length / 2), 0), 0);
    throw new Error(`polygon mask: ${polys.length} polygon(s) of ${points} points in total would store ${cost} edge crossings on a ${width}x${height} image (at most ${MAX_POLYGON_CROSSINGS}); simplify the polygons`);
  }
  const mask = emptyMask(width, height);
  for (const [index, poly] of polys.entries()) {
    const rings = [poly.outer, ...poly.holes];
    const crossings: number[][] = Array.from({ length: height }, () => []);
    for (const ring of rings) {
      if (ring.length % 2 !== 0 || ring.some((c) => !Number.isFinite(c))) {
        throw new Error(`polygon ${index}: a ring must be an even-length list of finite numbers`);
      }
      const n = ring.length / 2;
      for (let i = 0; i < n; i++) {
        const x1 = ring[2 * i]!, y1 = ring[2 * i + 1]!;
        const j = (i + 1) % n;
        const x2 = ring[2 * j]!, y2 = ring[2 * j + 1]!;
        if (y1 === y2) continue;
        const yLo = Math.min(y1, y2), yHi = Math.max(y1, y2);
        const rowFirst = Math.max(0, Math.ceil(yLo - 0.5));
        const rowEnd = Math.min(height, Math.ceil(yHi - 0.5)); // centres in [yLo, yHi)
        for (let row = rowFirst; row < rowEnd; row++) {
          crossings[row]!.push(x1 + ((row + 0.5 - y1) * (x2 - x1)) / (y2 - y1));
        }
      }
    }
    for (let row = 0; row < height; row++) {
      const xs = crossings[row]!.sort((a, b) => a - b);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        const first = Math.max(0, Math.ceil(xs[k]! - 0.5));
        const end = Math.min(width, Math.ceil(xs[k + 1]! - 0.5)); // centres in [xa, xb)
        mask.data.fill(1, row * width + first, row * width + Math.max(first, end));
      }
    }
  }
  return mask;
}
