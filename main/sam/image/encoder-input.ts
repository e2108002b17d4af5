/**
 * SAM's image-encoder input (segment_anything `ResizeLongestSide` + `Sam.preprocess`): the image
 * resized with PIL's bilinear filter so its longest side is 1024, normalised per channel, and
 * zero-padded at the bottom and right to 1024 x 1024, as a float32 NCHW tensor.
 */
import { resizeBilinearPil, resizedSize } from './resize.ts';
import type { RgbImage } from './types.ts';

export const SAM_INPUT_SIZE = 1024;
export const SAM_PIXEL_MEAN = [123.675, 116.28, 103.53] as const;
export const SAM_PIXEL_STD = [58.395, 57.12, 57.375] as const;

/**
 * One table per channel from byte to normalised value, computed as PyTorch does in float32:
 * (x - mean) rounded to float32, then divided by std and rounded again.
 */
const normalisedByChannel = SAM_PIXEL_MEAN.map((mean, c) => {
  const m = Math.fround(mean);
  const s = Math.fround(SAM_PIXEL_STD[c]!);
  return Float32Array.from({ length: 256 }, (_, v) => Math.fround(Math.fround(v - m) / s));
});

export function samEncoderInput(img: RgbImage): { tensor: Float32Array; resizedWidth: number; resizedHeight: number } {
  const size = resizedSize(img.width, img.height, SAM_INPUT_SIZE);
  const resized = resizeBilinearPil(img, size.width, size.height);
  const plane = SAM_INPUT_SIZE * SAM_INPUT_SIZE;
  const tensor = new Float32Array(3 * plane);
  const [r, g, b] = normalisedByChannel as [Float32Array, Float32Array, Float32Array];
  const src = resized.data;
  for (let y = 0; y < size.height; y++) {
    let p = y * size.width * 3;
    let o = y * SAM_INPUT_SIZE;
    for (let x = 0; x < size.width; x++, p += 3, o++) {
      tensor[o] = r[src[p]!]!;
      tensor[plane + o] = g[src[p + 1]!]!;
      tensor[2 * plane + o] = b[src[p + 2]!]!;
    }
  }
  return { tensor, resizedWidth: size.width, resizedHeight: size.height };
}
