/**
 * The decoder's postprocessing (SamOnnxModel.mask_postprocessing) in TypeScript, evaluated only
 * inside a mask's bounding box: upsample the 256x256 low-res logits to 1024 (bilinear x4), crop
 * the pre-padding size, resize to the original size with PyTorch's float32 source coordinates,
 * threshold at 0. The UI uses it so that a click on an 8000x6000 image does not compute four
 * full-size logit planes; `segment` uses the graph's own `masks` output. Both agree (tests).
 * SAM 2.1's counterpart (one resize straight to the original size) is here too.
 */
import type { MaskCrop } from './engine-api.ts';

const f = Math.fround;
const LOW = 256;
const FRAME = 1024;

export interface AxisTable { i0: Int32Array; i1: Int32Array; w0: Float32Array; w1: Float32Array }

/** F.interpolate(bilinear, align_corners=False) source indices/weights for outputs [from, to). */
export function axisTable(inSize: number, outSize: number, from: number, to: number): AxisTable {
  const n = to - from;
  const t: AxisTable = { i0: new Int32Array(n), i1: new Int32Array(n), w0: new Float32Array(n), w1: new Float32Array(n) };
  const scale = f(inSize / outSize);
  for (let k = 0; k < n; k++) {
    const dst = from + k;
    const src = Math.max(f(f(scale * f(dst + 0.5)) - 0.5), 0);
    const i0 = Math.floor(src);
    t.i0[k] = i0;
    t.i1[k] = Math.min(i0 + 1, inSize - 1);
    t.w1[k] = f(src - i0);
    t.w0[k] = f(1 - t.w1[k]!);
  }
  return t;
}

/** The pre-padding size of an image in the 1024 frame, as the decoder graph computes it. */
export function prepaddedSize(width: number, height: number): { width: number; height: number } {
  const scale = f(FRAME / Math.max(width, height));
  return { width: Math.floor(f(f(width * scale) + 0.5)), height: Math.floor(f(f(height * scale) + 0.5)) };
}

/**
 * One mask at the original size, cropped to its bounding box.
 * `lowRes` is the 256x256 logit plane of this mask.
 */
export function maskCropFromLowRes(lowRes: Float32Array, width: number, height: number): MaskCrop {
  // Low-res bounding box of positive logits, dilated by one cell: a bilinear value can only be
  // positive where some contributing low-res cell is.
  let r0 = LOW, r1 = -1, c0 = LOW, c1 = -1;
  for (let r = 0; r < LOW; r++) {
    const row = r * LOW;
    for (let c = 0; c < LOW; c++) {
      if (lowRes[row + c]! > 0) {
        if (r < r0) r0 = r;
        if (r > r1) r1 = r;
        if (c < c0) c0 = c;
        if (c > c1) c1 = c;
      }
    }
  }
  if (r1 < 0) return { x: 0, y: 0, width: 0, height: 0, data: new Uint8Array(0) };
  const pre = prepaddedSize(width, height);
  // Frame (1024) rows/cols influenced by the dilated low-res box, then original pixels reading them.
  const frameY0 = Math.max(0, (r0 - 1) * 4 - 2), frameY1 = Math.min(pre.height, (r1 + 2) * 4 + 2);
  const frameX0 = Math.max(0, (c0 - 1) * 4 - 2), frameX1 = Math.min(pre.width, (c1 + 2) * 4 + 2);
  const sy = pre.height / height, sx = pre.width / width;
  const y0 = Math.max(0, Math.floor((frameY0 - 1) / sy) - 1), y1 = Math.min(height, Math.ceil((frameY1 + 1) / sy) + 1);
  const x0 = Math.max(0, Math.floor((frameX0 - 1) / sx) - 1), x1 = Math.min(width, Math.ceil((frameX1 + 1) / sx) + 1);

  const ty = axisTable(pre.height, height, y0, y1);
  const tx = axisTable(pre.width, width, x0, x1);
  // Frame rows/cols those output pixels read.
  let fy0 = FRAME, fy1 = 0, fx0 = FRAME, fx1 = 0;
  for (let k = 0; k < ty.i0.length; k++) { fy0 = Math.min(fy0, ty.i0[k]!); fy1 = Math.max(fy1, ty.i1[k]!); }
  for (let k = 0; k < tx.i0.length; k++) { fx0 = Math.min(fx0, tx.i0[k]!); fx1 = Math.max(fx1, tx.i1[k]!); }
  const fh = fy1 - fy0 + 1, fw = fx1 - fx0 + 1;
  const uy = axisTable(LOW, FRAME, fy0, fy1 + 1);
  const ux = axisTable(LOW, FRAME, fx0, fx1 + 1);
  const frame = new Float32Array(fh * fw);
  for (let a = 0; a < fh; a++) {
    const ra = uy.i0[a]! * LOW, rb = uy.i1[a]! * LOW, wa = uy.w0[a]!, wb = uy.w1[a]!;
    for (let b = 0; b < fw; b++) {
      const ca = ux.i0[b]!, cb = ux.i1[b]!, va = ux.w0[b]!, vb = ux.w1[b]!;
      const top = f(f(lowRes[ra + ca]! * va) + f(lowRes[ra + cb]! * vb));
      const bottom = f(f(lowRes[rb + ca]! * va) + f(lowRes[rb + cb]! * vb));
      frame[a * fw + b] = f(f(top * wa) + f(bottom * wb));
    }
  }
  const outW = x1 - x0, outH = y1 - y0;
  const full = new Uint8Array(outW * outH);
  let by0 = outH, by1 = -1, bx0 = outW, bx1 = -1;
  for (let a = 0; a < outH; a++) {
    const ra = (ty.i0[a]! - fy0) * fw, rb = (ty.i1[a]! - fy0) * fw, wa = ty.w0[a]!, wb = ty.w1[a]!;
    for (let b = 0; b < outW; b++) {
      const ca = tx.i0[b]! - fx0, cb = tx.i1[b]! - fx0, va = tx.w0[b]!, vb = tx.w1[b]!;
      const top = f(f(frame[ra + ca]! * va) + f(frame[ra + cb]! * vb));
      const bottom = f(f(frame[rb + ca]! * va) + f(frame[rb + cb]! * vb));
      if (f(f(top * wa) + f(bottom * wb)) > 0) {
        full[a * outW + b] = 1;
        if (a < by0) by0 = a;
        if (a > by1) by1 = a;
        if (b < bx0) bx0 = b;
        if (b > bx1) bx1 = b;
      }
    }
  }
  if (by1 < 0) return { x: 0, y: 0, width: 0, height: 0, data: new Uint8Array(0) };
  const cw = bx1 - bx0 + 1, ch = by1 - by0 + 1;
  const data = new Uint8Array(cw * ch);
  for (let a = 0; a < ch; a++) data.set(full.subarray((by0 + a) * outW + bx0, (by0 + a) * outW + bx0 + cw), a * cw);
  return { x: x0 + bx0, y: y0 + by0, width: cw, height: ch, data };
}

/** Expands a crop into a full-size mask. */
export function fullMaskFromCrop(crop: MaskCrop, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let r = 0; r < crop.height; r++) out.set(crop.data.subarray(r * crop.width, (r + 1) * crop.width), (crop.y + r) * width + crop.x);
  return out;
}

/**
 * SAM2Transforms.postprocess_masks for one mask, evaluated only inside its bounding box:
 * bilinear (align_corners=False) from 256x256 straight to H x W in PyTorch's float32 source
 * coordinates, threshold at 0. The UI's counterpart of the decoder graph's `masks` output.
 */
export function sam2MaskCropFromLowRes(lowRes: Float32Array, width: number, height: number): MaskCrop {
  const f = Math.fround;
  let r0 = LOW, r1 = -1, c0 = LOW, c1 = -1;
  for (let r = 0; r < LOW; r++) {
    for (let c = 0; c < LOW; c++) {
      if (lowRes[r * LOW + c]! > 0) { r0 = Math.min(r0, r); r1 = Math.max(r1, r); c0 = Math.min(c0, c); c1 = Math.max(c1, c); }
    }
  }
  const empty = { x: 0, y: 0, width: 0, height: 0, data: new Uint8Array(0) };
  if (r1 < 0) return empty;
  // Output pixels whose two source cells can include a positive one (one cell of margin).
  const sy = LOW / height, sx = LOW / width;
  const y0 = Math.max(0, Math.floor((r0 - 1) / sy) - 1), y1 = Math.min(height, Math.ceil((r1 + 2) / sy) + 1);
  const x0 = Math.max(0, Math.floor((c0 - 1) / sx) - 1), x1 = Math.min(width, Math.ceil((c1 + 2) / sx) + 1);
  const axis = (outSize: number, from: number, to: number) => {
    const scale = f(LOW / outSize);
    return Array.from({ length: to - from }, (_, k) => {
      const src = Math.max(f(f(scale * f(from + k + 0.5)) - 0.5), 0);
      const i0 = Math.floor(src);
      const w1 = f(src - i0);
      return { i0, i1: Math.min(i0 + 1, LOW - 1), w0: f(1 - w1), w1 };
    });
  };
  const ty = axis(height, y0, y1);
  const tx = axis(width, x0, x1);
  const outW = x1 - x0, outH = y1 - y0;
  const full = new Uint8Array(outW * outH);
  let by0 = outH, by1 = -1, bx0 = outW, bx1 = -1;
  for (let a = 0; a < outH; a++) {
    const { i0: ra, i1: rb, w0: wa, w1: wb } = ty[a]!;
    for (let b = 0; b < outW; b++) {
      const { i0: ca, i1: cb, w0: va, w1: vb } = tx[b]!;
      const top = f(f(lowRes[ra * LOW + ca]! * va) + f(lowRes[ra * LOW + cb]! * vb));
      const bottom = f(f(lowRes[rb * LOW + ca]! * va) + f(lowRes[rb * LOW + cb]! * vb));
      if (f(f(top * wa) + f(bottom * wb)) > 0) {
        full[a * outW + b] = 1;
        by0 = Math.min(by0, a); by1 = Math.max(by1, a); bx0 = Math.min(bx0, b); bx1 = Math.max(bx1, b);
      }
    }
  }
  if (by1 < 0) return empty;
  const cw = bx1 - bx0 + 1, ch = by1 - by0 + 1;
  const data = new Uint8Array(cw * ch);
  for (let a = 0; a < ch; a++) data.set(full.subarray((by0 + a) * outW + bx0, (by0 + a) * outW + bx0 + cw), a * cw);
  return { x: x0 + bx0, y: y0 + by0, width: cw, height: ch, data };
}
