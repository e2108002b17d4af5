/**
 * Image files to 8-bit RGB pixels, the way SAM's reference code sees them: PIL's `Image.open`,
 * `ImageOps.exif_transpose`, then `convert("RGB")`. sharp (libvips) does the decoding; this file
 * pins down every place where libvips' defaults differ from PIL's:
 * - colour management: PIL ignores embedded ICC profiles, so `ignoreIcc` is set and pixel values
 *   are used as stored;
 * - orientation: applied explicitly (`autoOrient`), all eight EXIF values, as exif_transpose does;
 * - alpha: dropped, not composited (PIL's RGBA -> RGB keeps the colour channels as they are);
 * - grey: replicated into R, G and B; palettes: looked up;
 * - 16 bits per sample: the high byte is kept (v >> 8). PIL does exactly this for 16-bit RGB(A)
 *   PNGs. For 16-bit grey PIL clips at 255 instead, which turns nearly every real 16-bit scan
 *   white; we keep the high byte there too, as OpenCV's imread does, so such images stay usable;
 * - CMYK: converted with PIL's own formula (no CMYK profile), not libvips' colour-managed one;
 * - BMP, which libvips cannot read, goes through our own decoder (bmp.ts).
 * Truncated or corrupt data is an error naming the file; decoder warnings PIL also ignores
 * (such as stray bytes between JPEG markers) are not.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS } from '../../base/image-limits.ts';
import { decodeBmp, isBmp } from './bmp.ts';
import { UnusableImageError, type RgbImage } from './types.ts';

/** Largest image accepted, the same everywhere in the app (see main/base/image-limits.ts). */
export const MAX_INPUT_PIXELS = MAX_IMAGE_PIXELS;

const decoderOptions: sharp.SharpOptions = {
  ignoreIcc: true,
  autoOrient: true,
  failOn: 'error',
  limitInputPixels: MAX_INPUT_PIXELS,
};

/**
 * Raster formats sharp may decode for us. SVG is refused: libvips would rasterise a drawing at an
 * arbitrary size, and Pillow cannot open it either.
 */
const rasterFormats = new Set(['jpeg', 'png', 'webp', 'tiff', 'gif', 'heif']);

/** PIL's cmyk2rgb: each channel is (255 - K) scaled down by the ink, with PIL's rounding divide by 255. */
function cmykToRgb(cmyk: Uint8Array, channels: number, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  const mulDiv255 = (a: number, b: number): number => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let i = 0, p = 0, o = 0; i < pixels; i++, p += channels, o += 3) {
    const notK = 255 - cmyk[p + 3]!;
    out[o] = notK - mulDiv255(cmyk[p]!, notK);
    out[o + 1] = notK - mulDiv255(cmyk[p + 1]!, notK);
    out[o + 2] = notK - mulDiv255(cmyk[p + 2]!, notK);
  }
  return out;
}

function validOrientation(value: number | undefined): number {
  return value !== undefined && Number.isInteger(value) && value >= 1 && value <= 8 ? value : 1;
}

async function decodeWithSharp(buf: Uint8Array, name: string): Promise<RgbImage> {
  try {
    const meta = await sharp(buf, decoderOptions).metadata();
    if (!rasterFormats.has(meta.format)) throw new Error(`${meta.format} is not a supported image format`);
    const exifOrientation = validOrientation(meta.orientation);
    if (meta.space === 'cmyk') {
      const { data, info } = await sharp(buf, decoderOptions)
        .pipelineColourspace('cmyk').toColourspace('cmyk')
        .raw().toBuffer({ resolveWithObject: true });
      return { width: info.width, height: info.height, data: cmykToRgb(data, info.channels, info.width * info.height), exifOrientation };
    }
    const { data, info } = await sharp(buf, decoderOptions)
      .removeAlpha().toColourspace('srgb')
      .raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoder returned ${info.channels} channels, expected 3`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), exifOrientation };
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UnusableImageError(`${name}: cannot decode image (${why})`, { cause: err });
  }
}

/** Decodes image bytes (PNG, JPEG, WebP, TIFF, GIF, BMP, recognised by content) into RGB. */
export async function decodeImageBuffer(buf: Uint8Array, nameForErrors: string): Promise<RgbImage> {
  if (buf.length === 0) throw new UnusableImageError(`${nameForErrors}: cannot decode image (the file is empty)`);
  if (isBmp(buf)) return { ...decodeBmp(buf, nameForErrors, MAX_INPUT_PIXELS), exifOrientation: 1 };
  return decodeWithSharp(buf, nameForErrors);
}

/** Reads and decodes an image file; errors name the path. */
export async function decodeImage(path: string): Promise<RgbImage> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new UnusableImageError(`${path}: cannot read image file (${why})`, { cause: err });
  }
  return decodeImageBuffer(buf, path);
}
