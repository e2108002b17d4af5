// Deterministic test masks: a seeded generator and the shapes the checks reuse.
import type { BinaryMask } from '../../main/masks/index.ts';

export { mulberry32 as seededRandom } from '../../main/sam/synth.ts';

export function maskOf(width: number, height: number, inside: (x: number, y: number) => boolean): BinaryMask {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = inside(x, y) ? 1 : 0;
  return { width, height, data };
}

export function randomMask(width: number, height: number, density: number, rand: () => number): BinaryMask {
  return maskOf(width, height, () => rand() < density);
}

/** Blobs: a few random discs, so parts are large and smooth the way SAM masks are. */
export function blobMask(width: number, height: number, rand: () => number, discs = 4): BinaryMask {
  const centres = Array.from({ length: discs }, () => [rand() * width, rand() * height, 3 + rand() * Math.min(width, height) * 0.25]);
  return maskOf(width, height, (x, y) => centres.some(([cx, cy, r]) => (x + 0.5 - cx!) ** 2 + (y + 0.5 - cy!) ** 2 <= r! ** 2));
}

/** Rows of text art: '#' inside, anything else outside. */
export function maskFromArt(art: string): BinaryMask {
  const rows = art.trim().split('\n').map((r) => r.trim());
  return maskOf(rows[0]!.length, rows.length, (x, y) => rows[y]![x] === '#');
}

export function iou(a: BinaryMask, b: BinaryMask): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.data.length; i++) {
    if (a.data[i] && b.data[i]) inter++;
    if (a.data[i] || b.data[i]) union++;
  }
  return union === 0 ? 1 : inter / union;
}

/** Equal sizes and pixels; compares bytes directly because deep equality is slow on big arrays. */
export function sameMask(a: BinaryMask, b: BinaryMask): boolean {
  return a.width === b.width && a.height === b.height && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;
}
