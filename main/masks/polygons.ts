/**
 * Masks to polygons and back.
 *
 * Tracing: every 8-connected part of the mask (background is then 4-connected, so a hole touching
 * the outside only at a corner is not a hole) becomes one Polygon: its outer ring and one ring per
 * hole. Rings run along pixel edges with vertices on pixel corners (integer coordinates, the
 * corner (x, y) is the top-left of pixel (x, y)), listed only where the direction changes. Outer
 * rings run clockwise on screen (y down) and holes anticlockwise. Where two pixels of a part
 * touch only at a corner the ring passes through that corner twice.
 *
 * Rasterising (maskFromPolygons): a pixel is inside a Polygon when its centre (x + 0.5, y + 0.5)
 * is inside by the even-odd rule over the outer ring and its holes; Polygons are then unioned.
 * This is how pycocotools (frPyObjects + annToMask) reads COCO polygons: each polygon of a
 * segmentation is rasterised on its own (its edge crossings are taken at column centres and rows
 * from ceil(y - 0.5) on) and the results are merged. Traced rings therefore come back exactly.
 */
import { type BinaryMask, checkSize, emptyMask, maskBbox } from './binary.ts';

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

/** Outer rings and holes of every 8-connected part, simplified by Douglas-Peucker with `tolerancePx`. */
export function polygonsFromMask(m: BinaryMask, tolerancePx: number): Polygon[] {
  if (!(tolerancePx >= 0)) throw new Error(`polygon tolerance ${tolerancePx} is not a non-negative number`);
  const [bx, by, bw, bh] = maskBbox(m);
  if (bw === 0) return [];
  // Work on the bounding box only: exports call this once per annotation on full-size masks.
  const inside = (x: number, y: number) => x >= 0 && y >= 0 && x < bw && y < bh && m.data[(y + by) * m.width + x + bx] !== 0;
  const labels = labelParts(inside, bw, bh);
  const gw = bw + 1;
  const edges = new Uint8Array(gw * (bh + 1)); // bit d set: an edge leaves this corner in direction d
  for (let y = 0; y <= bh; y++) {
    for (let x = 0; x <= bw; x++) {
      const here = inside(x, y);
      let bits = 0;
      if (x < bw && here !== inside(x, y - 1)) bits |= here ? 1 : 0; // east along the top of (x, y)
      if (y < bh && inside(x - 1, y) !== here) bits |= here ? 0 : 2; // south, inside on the west
      if (x > 0 && inside(x - 1, y - 1) && !inside(x - 1, y)) bits |= 4; // west along the bottom of (x-1, y-1)
      if (y > 0 && inside(x, y - 1) && !inside(x - 1, y - 1)) bits |= 8; // north, inside on the east
      edges[y * gw + x] = bits;
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
      const startDir = Math.log2(left[v]! & -left[v]!);
      const ring = traceRing(edges, left, gw, v, startDir);
      const sx = v % gw, sy = (v - sx) / gw;
      // The pixel on the right of the first edge is inside: it names the part the ring bounds.
      const px = sx + [0, -1, -1, 0][startDir]!, py = sy + [0, 0, -1, -1][startDir]!;
      const label = labels[py * bw + px]!;
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

/** Labels 8-connected parts 1, 2, ... in raster order of their first pixel; 0 outside. */
function labelParts(inside: (x: number, y: number) => boolean, w: number, h: number): Int32Array {
  const labels = new Int32Array(w * h);
  const stack: number[] = [];
  let next = 0;
  for (let start = 0; start < w * h; start++) {
    if (labels[start] || !inside(start % w, Math.floor(start / w))) continue;
    labels[start] = ++next;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop()!;
      const x = i % w, y = (i - x) / w;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx, ny = y + dy;
          if (!inside(nx, ny)) continue;
          const j = ny * w + nx;
          if (labels[j]) continue;
          labels[j] = next;
          stack.push(j);
        }
      }
    }
  }
  return labels;
}

function traceRing(edges: Uint8Array, left: Uint8Array, gw: number, start: number, startDir: number): number[] {
  const ring: number[] = [];
  let v = start, dir = startDir;
  for (;;) {
    left[v]! &= ~(1 << dir);
    v += DX[dir]! + DY[dir]! * gw;
    const out = edges[v]!;
    // One way out, or two at a diagonal corner: then the left turn.
    const next = (out & (out - 1)) === 0 ? Math.log2(out) : LEFT_OF[dir]!;
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
  let far = 0, farD = -1;
  for (let i = 1; i < n; i++) {
    const d = Math.hypot(ring[2 * i]! - ring[0]!, ring[2 * i + 1]! - ring[1]!);
    if (d > farD) [far, farD] = [i, d];
  }
  const keep = new Uint8Array(n + 1);
  keep[0] = keep[far] = keep[n] = 1;
  const px = (i: number) => ring[2 * (i % n)]!, py = (i: number) => ring[2 * (i % n) + 1]!;
  const stack: [number, number][] = [[0, far], [far, n]];
  while (stack.length) {
    const [a, b] = stack.pop()!;
    let best = -1, bestD = tolerancePx;
    for (let i = a + 1; i < b; i++) {
      const d = segmentDistance(px(i), py(i), px(a), py(a), px(b), py(b));
      if (d > bestD) [best, bestD] = [i, d];
    }
    if (best < 0) continue;
    keep[best] = 1;
    stack.push([a, best], [best, b]);
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(px(i), py(i));
  return out.length >= 6 ? out : ring;
}

function segmentDistance(x: number, y: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax, dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len2));
  return Math.hypot(x - ax - t * dx, y - ay - t * dy);
}

/** Rasterises polygons (even-odd within each Polygon, union across them) at pixel centres. */
export function maskFromPolygons(polys: Polygon[], width: number, height: number): BinaryMask {
  checkSize(width, height, 'polygon mask');
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
