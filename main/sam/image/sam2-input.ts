/**
 * SAM 2.1's encoder input (sam2/utils/transforms.py SAM2Transforms): the RGB image as floats in
 * [0, 1], stretched to 1024 x 1024 without keeping the aspect ratio (no padding) by torchvision's
 * Resize on a float tensor, i.e. F.interpolate(bilinear, align_corners=False, antialias=True),
 * never rounded back to 8 bits, then normalised with ImageNet mean/std. Unlike SAM 1's PIL path
 * the resize must stay in floats: transformers' processor resizes the 8-bit image and lands up to
 * 0.017 away from Meta's input (fixture README), which moves the embedding by 0.07.
 */
import type { RgbImage } from './types.ts';

export const SAM2_INPUT_SIZE = 1024;
export const SAM2_PIXEL_MEAN = [0.485, 0.456, 0.406] as const;
export const SAM2_PIXEL_STD = [0.229, 0.224, 0.225] as const;

/** One axis of PyTorch's antialiased bilinear filter: output i reads `size[i]` inputs from `start[i]`. */
interface AxisWeights { start: Int32Array; size: Int32Array; weights: Float64Array; maxSize: number }

/**
 * aten's _compute_indices_weights_aa for the bilinear (triangle) filter: centre (i + 0.5) *
 * in/out; when shrinking the triangle is widened by the scale (that is the antialiasing), when
 * enlarging it is plain half-pixel bilinear with edge taps dropped and the rest renormalised.
 */
function axisWeights(inSize: number, outSize: number): AxisWeights {
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const maxSize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const size = new Int32Array(outSize);
  const weights = new Float64Array(outSize * maxSize);
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xsize = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let j = 0; j < xsize; j++) {
      const wgt = Math.max(0, 1 - Math.abs((j + xmin - center + 0.5) * invScale));
      weights[i * maxSize + j] = wgt;
      total += wgt;
    }
    if (total > 0) for (let j = 0; j < xsize; j++) weights[i * maxSize + j]! /= total;
    start[i] = xmin;
    size[i] = xsize;
  }
  return { start, size, weights, maxSize };
}

/** The 1x3x1024x1024 float32 NCHW tensor SAM2ImagePredictor.set_image feeds the encoder. */
export function sam2EncoderInput(img: RgbImage): Float32Array {
  const S = SAM2_INPUT_SIZE;
  const { width: W, height: H, data } = img;
  const horizontal = axisWeights(W, S);
  const vertical = axisWeights(H, S);
  const plane = S * S;
  const out = new Float32Array(3 * plane);
  // horizontal pass per channel into H x S floats, then the vertical pass into the output
  const rows = new Float64Array(H * S);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      const src = y * W * 3 + c;
      for (let x = 0; x < S; x++) {
        const s = horizontal.start[x]!;
        const base = x * horizontal.maxSize;
        let acc = 0;
        for (let j = 0; j < horizontal.size[x]!; j++) acc += horizontal.weights[base + j]! * data[src + (s + j) * 3]!;
        rows[y * S + x] = acc / 255;
      }
    }
    const mean = SAM2_PIXEL_MEAN[c]!;
    const std = SAM2_PIXEL_STD[c]!;
    for (let y = 0; y < S; y++) {
      const s = vertical.start[y]!;
      const base = y * vertical.maxSize;
      const n = vertical.size[y]!;
      const o = c * plane + y * S;
      for (let x = 0; x < S; x++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += vertical.weights[base + j]! * rows[(s + j) * S + x]!;
        out[o + x] = (acc - mean) / std;
      }
    }
  }
  return out;
}
