/** An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC), 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
  /** The EXIF Orientation the file carried (1..8; 1 when absent), already applied to `data`. */
  exifOrientation: number;
}
