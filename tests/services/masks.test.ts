/**
 * The window's view of a stored mask is made from its runs (cropFromRle): only the bounding box
 * is touched, so listing an image's annotations costs their size, not the image's, and the crop
 * is the one the full-size mask gives.
 */
import { describe, expect, it } from 'vitest';
import { type BinaryMask, maskArea, maskBbox, paintBrushStroke, rleFromMask } from '../../main/masks/index.ts';
import { cropFromRle, paintStrokeOnRle } from '../../main/services/masks.ts';
import { blobMask, randomMask, seededRandom } from '../masks/helpers.ts';

/** The crop by definition: the mask's bounding box cut out of the full-size mask. */
function cropOfMask(m: BinaryMask) {
  const [x, y, width, height] = maskBbox(m);
  const data = new Uint8Array(width * height);
  for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) data[r * width + c] = m.data[(y + r) * m.width + x + c] ? 1 : 0;
  return { x, y, width, height, data };
}

describe('the crop of a stored mask', () => {
  it('is the full-size mask\'s bounding box, for noise, blobs, empty and full masks and masks touching every edge', () => {
    const rand = seededRandom(31);
    const masks: BinaryMask[] = [];
    for (let i = 0; i < 100; i++) masks.push(randomMask(1 + Math.floor(rand() * 40), 1 + Math.floor(rand() * 40), rand(), rand));
    for (let i = 0; i < 20; i++) masks.push(blobMask(64, 48, rand));
    masks.push({ width: 7, height: 5, data: new Uint8Array(35) }, { width: 7, height: 5, data: new Uint8Array(35).fill(1) });
    for (const m of masks) expect(cropFromRle(rleFromMask(m))).toEqual(cropOfMask(m));
  });

  it('touches only the box on a large image', () => {
    const width = 8000, height = 6000;
    const data = new Uint8Array(width * height);
    for (let y = 100; y < 140; y++) data.fill(1, y * width + 7000, y * width + 7060);
    const crop = cropFromRle(rleFromMask({ width, height, data }));
    expect([crop.x, crop.y, crop.width, crop.height, crop.data.length]).toEqual([7000, 100, 60, 40, 2400]);
    expect(crop.data.every((v) => v === 1)).toBe(true);
  });
});

describe('a brush or eraser stroke on a stored mask', () => {
  it('gives what painting the full-size mask gives, painting only the boxes it touches', () => {
    const rand = seededRandom(37);
    for (let i = 0; i < 150; i++) {
      const width = 8 + Math.floor(rand() * 50), height = 8 + Math.floor(rand() * 50);
      const mask = i % 5 === 0 ? { width, height, data: new Uint8Array(width * height) } : randomMask(width, height, rand() * 0.5, rand);
      // strokes that reach past the image's edges, and single dabs
      const points = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => [rand() * width * 1.4 - width * 0.2, rand() * height * 1.4 - height * 0.2] as [number, number]);
      const radius = 0.5 + rand() * 6;
      for (const value of [1, 0] as const) {
        const stored = maskArea(mask) === 0 ? null : rleFromMask(mask);
        expect(paintStrokeOnRle(stored, width, height, points, radius, value), `stroke ${i}, value ${value}`).toEqual(rleFromMask(paintBrushStroke(mask, points, radius, value)));
      }
    }
  });
});
