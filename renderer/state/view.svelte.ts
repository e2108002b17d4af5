/**
 * The canvas viewport: image pixels map to stage pixels as stagePx = imagePx * scale + offset.
 * Fit, zoom about the cursor, pan and 1:1. The canvas reads it; only these methods change it.
 */
type Point = { x: number; y: number };

const MIN_SCALE = 0.01;
const MAX_SCALE = 64;

export class ViewState {
  scale = $state(1);
  x = $state(0);
  y = $state(0);
  stageWidth = $state(800);
  stageHeight = $state(600);
  imageWidth = $state(0);
  imageHeight = $state(0);
  overlayOpacity = $state(0.6);
  showOutlines = $state(true);
  /** the view shows the whole image and keeps doing so when the stage changes size, until a zoom or pan */
  fitted = true;

  toImage(stagePx: Point): Point {
    return { x: (stagePx.x - this.x) / this.scale, y: (stagePx.y - this.y) / this.scale };
  }

  resize(width: number, height: number): void {
    this.stageWidth = Math.max(1, Math.round(width));
    this.stageHeight = Math.max(1, Math.round(height));
    if (this.fitted) this.fit();
  }

  setImage(width: number, height: number): void {
    this.imageWidth = width;
    this.imageHeight = height;
    this.fit();
  }

  fit(): void {
    if (!this.imageWidth || !this.imageHeight) return;
    this.fitted = true;
    const s = Math.min(this.stageWidth / this.imageWidth, this.stageHeight / this.imageHeight) * 0.98;
    this.scale = s;
    this.x = Math.round((this.stageWidth - this.imageWidth * s) / 2);
    this.y = Math.round((this.stageHeight - this.imageHeight * s) / 2);
  }

  /** one image pixel per screen pixel, centred, on whole pixels (so masks read back exactly) */
  oneToOne(): void {
    this.fitted = false;
    this.scale = 1;
    this.x = Math.round((this.stageWidth - this.imageWidth) / 2);
    this.y = Math.round((this.stageHeight - this.imageHeight) / 2);
  }

  /** zoom by `factor` keeping the image point under `stagePx` where it is */
  zoomAt(stagePx: Point, factor: number): void {
    const s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    const at = this.toImage(stagePx);
    this.fitted = false;
    this.scale = s;
    this.x = stagePx.x - at.x * s;
    this.y = stagePx.y - at.y * s;
  }

  panBy(dx: number, dy: number): void {
    this.fitted = false;
    this.x += dx;
    this.y += dy;
  }

  setOpacity(v: number): void { this.overlayOpacity = Math.min(1, Math.max(0, v)); }
}
