/**
 * Masks become bitmaps once, not shapes: one small canvas per mask, the size of its bounding
 * box, filled with the label colour and with its boundary pixels opaque (the outline stays inside
 * the mask, so what is coloured on screen is exactly the mask). Thousands of annotations then
 * cost one drawImage each per frame, and an 8000x6000 mask costs no more than its bounding box.
 */
import type { MaskView } from '../../preload/contract/index.ts';

const FILL_ALPHA = 120;
const OUTLINE_ALPHA = 255;

export function hexToRgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.replace('#', ''), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** One canvas pixel per mask sample (a thinned mask is drawn stretched over its box). */
export function maskBitmap(mask: MaskView, color: string, outline: boolean, fillAlpha = FILL_ALPHA): HTMLCanvasElement {
  const w = Math.ceil(mask.width / mask.step);
  const h = Math.ceil(mask.height / mask.step);
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, w);
  canvas.height = Math.max(1, h);
  if (w === 0 || h === 0) return canvas;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(w, h);
  const [r, g, b] = hexToRgb(color);
  const data = mask.data;
  // whole pixels as 32-bit words (RGBA bytes in memory order: little-endian ABGR)
  const px = new Uint32Array(img.data.buffer);
  const rgb = (b << 16) | (g << 8) | r;
  const fill = ((fillAlpha << 24) | rgb) >>> 0;
  const edgeColour = ((OUTLINE_ALPHA << 24) | rgb) >>> 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const i = row + x;
      if (!data[i]) continue;
      const edge = outline && (x === 0 || y === 0 || x === w - 1 || y === h - 1 || !data[i - 1] || !data[i + 1] || !data[i - w] || !data[i + w]);
      px[i] = edge ? edgeColour : fill;
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** Bitmaps per annotation object (a changed annotation is a new object) and drawing style. */
export class BitmapCache {
  #byMask = new WeakMap<MaskView, Map<string, HTMLCanvasElement>>();

  get(mask: MaskView, color: string, outline: boolean, fillAlpha = FILL_ALPHA): HTMLCanvasElement {
    let styles = this.#byMask.get(mask);
    if (!styles) { styles = new Map(); this.#byMask.set(mask, styles); }
    const key = `${color}|${outline}|${fillAlpha}`;
    let bmp = styles.get(key);
    if (!bmp) { bmp = maskBitmap(mask, color, outline, fillAlpha); styles.set(key, bmp); }
    return bmp;
  }
}
