/**
 * Distance of each mask pixel to the mask's edge, and the mask's most interior pixel: the click a
 * prompt-per-object protocol uses. The image border counts as the edge (the mask is taken as
 * surrounded by outside pixels).
 *
 * The distance is the Euclidean approximation with a 5x5 chamfer mask (steps 1, 1.4 and 2.1969
 * for a knight's move; at most about 2% off the true distance), in the fixed point with 16
 * fraction bits and the float32 result that OpenCV's distanceTransform(DIST_L2, 5) gives. That
 * is what SAM-style datasets' "most interior pixel" clicks are computed with (the sam-shapes
 * fixture's objects.json among them), and where an exact transform has near-ties it picks
 * another pixel (8 of the fixture's 14 objects), so the same rule is kept here, bit for bit.
 */
import type { BinaryMask } from './binary.ts';

const FIX = 1 << 16;
const STRAIGHT = Math.round(1 * FIX);
const DIAGONAL = Math.round(1.4 * FIX);
const KNIGHT = Math.round(2.1969 * FIX);

/** [dx, dy, step] of the neighbours already visited by a forward raster scan. */
const FORWARD: [number, number, number][] = [
  [-1, -2, KNIGHT], [1, -2, KNIGHT], [-2, -1, KNIGHT], [-1, -1, DIAGONAL], [0, -1, STRAIGHT], [1, -1, DIAGONAL], [2, -1, KNIGHT],
  [-1, 0, STRAIGHT],
];

/** Distance of every pixel to the nearest outside pixel in pixels (0 outside the mask), as float32 values. */
export function distanceToEdge(m: BinaryMask): Float32Array {
  // A grid with a 2-pixel ring of outside pixels around the image: the border counts as edge
  // and the 5x5 neighbourhood never leaves the grid.
  const W = m.width + 4;
  const H = m.height + 4;
  const t = new Float64Array(W * H);
  for (let y = 0; y < m.height; y++) {
    for (let x = 0; x < m.width; x++) if (m.data[y * m.width + x]) t[(y + 2) * W + x + 2] = Infinity;
  }
  for (let y = 2; y < H - 2; y++) {
    for (let x = 2; x < W - 2; x++) {
      const i = y * W + x;
      if (t[i] === 0) continue;
      let v = t[i]!;
      for (const [dx, dy, step] of FORWARD) v = Math.min(v, t[i + dy * W + dx]! + step);
      t[i] = v;
    }
  }
  for (let y = H - 3; y >= 2; y--) {
    for (let x = W - 3; x >= 2; x--) {
      const i = y * W + x;
      if (t[i] === 0) continue;
      let v = t[i]!;
      for (const [dx, dy, step] of FORWARD) v = Math.min(v, t[i - dy * W - dx]! + step);
      t[i] = v;
    }
  }
  const out = new Float32Array(m.width * m.height);
  for (let y = 0; y < m.height; y++) {
    for (let x = 0; x < m.width; x++) out[y * m.width + x] = t[(y + 2) * W + x + 2]! / FIX;
  }
  return out;
}

/**
 * The inside pixel farthest from the mask's edge, as [x, y]; the first in row-major order among
 * equals (what an argmax over the distance image gives). Null for an empty mask.
 */
export function mostInteriorPixel(m: BinaryMask): [number, number] | null {
  const d = distanceToEdge(m);
  let best = -1;
  let bestValue = 0;
  for (let i = 0; i < d.length; i++) {
    if (d[i]! > bestValue) { bestValue = d[i]!; best = i; }
  }
  return best < 0 ? null : [best % m.width, Math.floor(best / m.width)];
}
