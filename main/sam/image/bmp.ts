/**
 * Windows BMP decoding, because sharp's libvips has no BMP loader. Covers what cameras, scanners
 * and paint programs write: uncompressed 1/4/8-bit paletted, 16-bit (5-5-5 or bit fields),
 * 24-bit and 32-bit (BI_RGB or bit fields), bottom-up or top-down rows, with the 12-byte OS/2
 * header or any Windows header from 40 bytes up. RLE and embedded JPEG/PNG are refused by name.
 * Output matches PIL's `Image.open(...).convert("RGB")`: palette looked up, alpha dropped, and
 * n-bit fields scaled to 8 bits as `v * 255 / max` truncated.
 */
import { UnusableImageError } from './types.ts';

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;
const compressionNames: Record<number, string> = { 1: 'RLE8', 2: 'RLE4', 4: 'JPEG', 5: 'PNG' };

export function isBmp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d;
}

interface Channel { shift: number; max: number }

function channelFromMask(mask: number): Channel {
  if (mask === 0) return { shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

function scaled(pixel: number, c: Channel): number {
  if (c.max === 0) return 0;
  return Math.trunc((((pixel >>> c.shift) & c.max) * 255) / c.max);
}

/** Decodes a BMP file into 8-bit RGB rows, top row first. Throws with `name` on bad input. */
export function decodeBmp(buf: Uint8Array, name: string, maxPixels: number): { width: number; height: number; data: Uint8Array } {
  const fail = (why: string): never => {
    throw new UnusableImageError(`${name}: cannot decode image (BMP: ${why})`);
  };
  if (!isBmp(buf) || buf.length < 26) fail('not a BMP file');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const pixelOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  let width: number;
  let height: number;
  let bitCount: number;
  let compression = BI_RGB;
  let paletteEntrySize = 4;
  let colorsUsed = 0;
  if (headerSize === 12) {
    width = view.getUint16(18, true);
    height = view.getInt16(20, true);
    bitCount = view.getUint16(24, true);
    paletteEntrySize = 3;
  } else if (headerSize >= 40) {
    if (buf.length < 14 + 40) fail('truncated header');
    width = view.getInt32(18, true);
    height = view.getInt32(22, true);
    bitCount = view.getUint16(28, true);
    compression = view.getUint32(30, true);
    colorsUsed = view.getUint32(46, true);
  } else {
    return fail(`unsupported header size ${headerSize}`);
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height <= 0) fail(`invalid size ${width}x${height}`);
  if (width * height > maxPixels) fail(`${width}x${height} exceeds the pixel limit of ${maxPixels}`);
  if (compressionNames[compression]) fail(`${compressionNames[compression]} compression is not supported`);
  if (compression !== BI_RGB && compression !== BI_BITFIELDS && compression !== BI_ALPHABITFIELDS) {
    fail(`unknown compression ${compression}`);
  }

  const paletted = bitCount <= 8;
  if (![1, 4, 8, 16, 24, 32].includes(bitCount)) fail(`unsupported bit depth ${bitCount}`);
  let masks: [Channel, Channel, Channel] | undefined;
  if (bitCount === 16 || bitCount === 32) {
    if (compression === BI_RGB) {
      masks = bitCount === 16
        ? [channelFromMask(0x7c00), channelFromMask(0x03e0), channelFromMask(0x001f)]
        : [channelFromMask(0xff0000), channelFromMask(0xff00), channelFromMask(0xff)];
    } else {
      // Masks follow a 40-byte header directly, and sit inside larger (V4/V5) headers at the same offset.
      if (buf.length < 14 + 40 + 12) fail('truncated bit field masks');
      masks = [channelFromMask(view.getUint32(54, true)), channelFromMask(view.getUint32(58, true)), channelFromMask(view.getUint32(62, true))];
    }
  } else if (compression !== BI_RGB) {
    fail(`bit fields with ${bitCount}-bit pixels`);
  }

  let palette: Uint8Array | undefined;
  if (paletted) {
    const entries = colorsUsed > 0 && colorsUsed <= 1 << bitCount ? colorsUsed : 1 << bitCount;
    const paletteStart = 14 + headerSize + (compression === BI_BITFIELDS && headerSize === 40 ? 12 : 0);
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < entries; i++) {
      const p = paletteStart + i * paletteEntrySize;
      if (p + 3 > pixelOffset || p + 3 > buf.length) break;
      palette[i * 3] = buf[p + 2]!;
      palette[i * 3 + 1] = buf[p + 1]!;
      palette[i * 3 + 2] = buf[p]!;
    }
  }

  const stride = Math.ceil((width * bitCount) / 32) * 4;
  const needed = pixelOffset + stride * (height - 1) + Math.ceil((width * bitCount) / 8);
  if (needed > buf.length) fail(`truncated pixel data (${buf.length} of ${needed} bytes)`);

  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = pixelOffset + (topDown ? y : height - 1 - y) * stride;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      if (palette) {
        const bitPos = x * bitCount;
        const byte = buf[row + (bitPos >> 3)]!;
        const index = (byte >> (8 - bitCount - (bitPos & 7))) & ((1 << bitCount) - 1);
        data[o] = palette[index * 3]!;
        data[o + 1] = palette[index * 3 + 1]!;
        data[o + 2] = palette[index * 3 + 2]!;
      } else if (bitCount === 24) {
        const p = row + x * 3;
        data[o] = buf[p + 2]!;
        data[o + 1] = buf[p + 1]!;
        data[o + 2] = buf[p]!;
      } else {
        const pixel = bitCount === 16 ? view.getUint16(row + x * 2, true) : view.getUint32(row + x * 4, true);
        data[o] = scaled(pixel, masks![0]);
        data[o + 1] = scaled(pixel, masks![1]);
        data[o + 2] = scaled(pixel, masks![2]);
      }
    }
  }
  return { width, height, data };
}
