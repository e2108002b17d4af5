/**
 * Masks become bitmaps once, not shapes: one small canvas per mask, the size of its bounding
 * box, filled with the label colour and with its boundary pixels opaque (the outline stays inside
 * the mask, so what is coloured on screen is exactly the mask). Thousands of annotations then
 * cost one drawImage each per frame, and an 8000x6000 mask costs no more than its bounding box.
 */
import type { MaskCrop } from '../../preload/api.ts';

const FILL_ALPHA = 120;
const OUTLINE_ALPHA = 255;

export function hexToRgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.replace('#', ''), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function maskBitmap(mask: MaskCrop, color: string, outline: boolean, fillAlpha = FILL_ALPHA): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, mask.width);
  canvas.height = Math.max(1, mask.height);
  if (mask.width === 0 || mask.height === 0) return canvas;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(mask.width, mask.height);
  const [r, g, b] = hexToRgb(color);
  const { width: w, height: h, data } = mask;
  const px = img.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!data[i]) continue;
      const edge = outline && (x === 0 || y === 0 || x === w - 1 || y === h - 1 || !data[i - 1] || !data[i + 1] || !data[i - w] || !data[i + w]);
      const o = i * 4;
      px[o] = r; px[o + 1] = g; px[o + 2] = b;
      px[o + 3] = edge ? OUTLINE_ALPHA : fillAlpha;
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** Bitmaps per annotation object (a changed annotation is a new object) and drawing style. */
export class BitmapCache {
  #byMask = new WeakMap<MaskCrop, Map<string, HTMLCanvasElement>>();

  get(mask: MaskCrop, color: string, outline: boolean, fillAlpha = FILL_ALPHA): HTMLCanvasElement {
    let styles = this.#byMask.get(mask);
    if (!styles) { styles = new Map(); this.#byMask.set(mask, styles); }
    const key = `${color}|${outline}|${fillAlpha}`;
    let bmp = styles.get(key);
    if (!bmp) { bmp = maskBitmap(mask, color, outline, fillAlpha); styles.set(key, bmp); }
    return bmp;
  }
}
