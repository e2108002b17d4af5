/** An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC), 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
  /** The EXIF Orientation the file carried (1..8; 1 when absent), already applied to `data`. */
  exifOrientation: number;
}

/** The code an `UnusableImageError` carries, also across the engine worker's boundary. */
export const UNUSABLE_IMAGE = 'unusable-image';

/**
 * An image file that cannot be used: unreadable, undecodable, or a shape the model cannot take.
 * A batch over many images skips such an image and goes on; any other error stops it.
 */
export class UnusableImageError extends Error {
  readonly code = UNUSABLE_IMAGE;
}
