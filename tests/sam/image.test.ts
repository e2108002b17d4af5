import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, decodeImageBuffer, type RgbImage } from '../../main/sam/image/index.ts';

const photos = join(import.meta.dirname, '..', 'fixtures', 'photos');
const images = join(import.meta.dirname, '..', 'fixtures', 'images');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sam-image-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A small RGB image where every pixel differs from its neighbours. */
function pattern(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 37 + y * 11) & 255;
      data[i + 1] = (y * 53 + 7) & 255;
      data[i + 2] = (x * y * 13 + 101) & 255;
    }
  }
  return data;
}

const fromRaw = (data: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4 = 3) =>
  sharp(data, { raw: { width, height, channels } });

async function decodeBytes(bytes: Uint8Array, fileName: string): Promise<RgbImage> {
  const path = join(dir, fileName);
  writeFileSync(path, bytes);
  return decodeImage(path);
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('decoding real photographs', () => {
  // SHA-256 of Pillow 9.4's ImageOps.exif_transpose(Image.open(p)).convert("RGB") bytes.
  const pillowDecodes: Record<string, { width: number; height: number; sha256: string }> = {
    'coins.png': { width: 384, height: 303, sha256: 'aaecc2ad43bd43e204f7ad01dc60494586ff80d42236c2db358c59b9be1f5427' },
    'rocket.jpg': { width: 640, height: 427, sha256: '3d4435cc745752b7f9724df88c6e18817de3ce7e3d2d71c55f85f7831e68f197' },
    'hubble_deep_field.jpg': { width: 1000, height: 872, sha256: '9a3ea9548188f81e63435188456e74de45a981ebeb791e265abe79a26d3b528b' },
  };

  it.each(Object.entries(pillowDecodes))('decodes %s to exactly the bytes Pillow produces', async (file, expected) => {
    const img = await decodeImage(join(photos, file));
    expect([img.width, img.height]).toEqual([expected.width, expected.height]);
    expect(img.data.length).toBe(expected.width * expected.height * 3);
    expect(sha256(img.data)).toBe(expected.sha256);
  });

  it('decodes a grey PNG into RGB with the grey value replicated in all three channels', async () => {
    const img = await decodeImage(join(photos, 'coins.png'));
    const { data: grey } = await sharp(join(photos, 'coins.png')).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    for (let i = 0; i < grey.length; i++) {
      if (img.data[i * 3] !== grey[i] || img.data[i * 3 + 1] !== grey[i] || img.data[i * 3 + 2] !== grey[i]) {
        throw new Error(`pixel ${i}: ${img.data.subarray(i * 3, i * 3 + 3).join(',')} is not grey ${grey[i]}`);
      }
    }
  });

  it('reports orientation 1 for a photo without an EXIF orientation', async () => {
    expect((await decodeImage(join(photos, 'rocket.jpg'))).exifOrientation).toBe(1);
  });

  it('converts a CMYK JPEG with Pillow\'s formula, not through a colour profile', async () => {
    const img = await decodeImage(join(images, 'cmyk.jpg'));
    expect(sha256(img.data)).toBe('50ae2a0498bb0fee4d0d6d8e53b0664458f9e73aff843eb61b076301d24a339f');
    const at = (x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
    expect([at(4, 4), at(12, 4), at(20, 12)]).toEqual([[255, 255, 255], [0, 255, 255], [164, 134, 103]]);
  });
});

describe('EXIF orientation', () => {
  const width = 6;
  const height = 4;
  /**
   * Where Pillow's exif_transpose takes each output pixel from: (X, Y) in the output reads source
   * (x, y). 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270,
   * 7 TRANSVERSE, 8 ROTATE_90.
   */
  const sourceOf: Record<number, (X: number, Y: number) => [number, number]> = {
    1: (X, Y) => [X, Y],
    2: (X, Y) => [width - 1 - X, Y],
    3: (X, Y) => [width - 1 - X, height - 1 - Y],
    4: (X, Y) => [X, height - 1 - Y],
    5: (X, Y) => [Y, X],
    6: (X, Y) => [Y, height - 1 - X],
    7: (X, Y) => [width - 1 - Y, height - 1 - X],
    8: (X, Y) => [width - 1 - Y, X],
  };
  const orientations = [1, 2, 3, 4, 5, 6, 7, 8];

  function oriented(src: Uint8Array, orientation: number): { width: number; height: number; data: Uint8Array } {
    const w = orientation >= 5 ? height : width;
    const h = orientation >= 5 ? width : height;
    const data = new Uint8Array(w * h * 3);
    for (let Y = 0; Y < h; Y++) {
      for (let X = 0; X < w; X++) {
        const [x, y] = sourceOf[orientation]!(X, Y);
        data.set(src.subarray((y * width + x) * 3, (y * width + x) * 3 + 3), (Y * w + X) * 3);
      }
    }
    return { width: w, height: h, data };
  }

  it.each(orientations)('applies EXIF orientation %i to a PNG exactly as exif_transpose does', async (orientation) => {
    const src = pattern(width, height);
    const png = await fromRaw(src, width, height).png().withMetadata({ orientation }).toBuffer();
    const img = await decodeBytes(png, `orient${orientation}.png`);
    const expected = oriented(src, orientation);
    expect(img.exifOrientation).toBe(orientation);
    expect([img.width, img.height]).toEqual([expected.width, expected.height]);
    expect(Buffer.from(img.data).equals(Buffer.from(expected.data))).toBe(true);
  });

  it.each(orientations)('puts the top-left corner of a JPEG with EXIF orientation %i where Pillow puts it', async (orientation) => {
    // 48x32 mid-grey with a red 16x16 block in the stored top-left corner; JPEG is lossy, so the
    // test reads block centres, far from the edges.
    const w = 48;
    const h = 32;
    const src = new Uint8Array(w * h * 3).fill(128);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) src.set([255, 0, 0], (y * w + x) * 3);
    const jpeg = await fromRaw(src, w, h).jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).withMetadata({ orientation }).toBuffer();
    const img = await decodeBytes(jpeg, `orient${orientation}.jpg`);
    const rotated = orientation >= 5;
    expect([img.width, img.height]).toEqual(rotated ? [h, w] : [w, h]);
    // The stored corner (0, 0) lands at: 1 top-left, 2 top-right, 3 bottom-right, 4 bottom-left,
    // 5 top-left, 6 top-right, 7 bottom-right, 8 bottom-left.
    const right = [2, 3, 6, 7].includes(orientation);
    const bottom = [3, 4, 7, 8].includes(orientation);
    const cx = right ? img.width - 8 : 8;
    const cy = bottom ? img.height - 8 : 8;
    const red = [...img.data.subarray((cy * img.width + cx) * 3, (cy * img.width + cx) * 3 + 3)];
    const opposite = ((img.height - 1 - cy) * img.width + (img.width - 1 - cx)) * 3;
    expect(red[0]).toBeGreaterThan(240);
    expect(red[1]).toBeLessThan(15);
    expect(Math.abs(img.data[opposite]! - 128)).toBeLessThan(6);
  });
});

describe('colour models and bit depths', () => {
  it('expands a palette PNG through its palette', async () => {
    const colours = [[12, 200, 34], [250, 250, 5], [0, 0, 0], [90, 30, 160]];
    const w = 9;
    const h = 5;
    const src = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) src.set(colours[(i * 7) % 4]!, i * 3);
    const png = await fromRaw(src, w, h).png({ palette: true, colours: 4, dither: 0 }).toBuffer();
    expect((await sharp(png).metadata()).isPalette).toBe(true);
    const img = await decodeBytes(png, 'palette.png');
    expect(Buffer.from(img.data).equals(Buffer.from(src))).toBe(true);
  });

  it('drops the alpha of an RGBA PNG and keeps the colour values, even where fully transparent', async () => {
    const w = 7;
    const h = 3;
    const rgb = pattern(w, h);
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      rgba.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
      rgba[i * 4 + 3] = i % 3 === 0 ? 0 : 77;
    }
    const img = await decodeBytes(await fromRaw(rgba, w, h, 4).png().toBuffer(), 'rgba.png');
    expect(Buffer.from(img.data).equals(Buffer.from(rgb))).toBe(true);
  });

  it('drops the alpha of a grey-plus-alpha PNG and replicates the grey', async () => {
    const ga = Uint8Array.from([10, 0, 20, 255, 30, 128, 250, 1]);
    const img = await decodeBytes(await fromRaw(ga, 2, 2, 2).png().toBuffer(), 'grey-alpha.png');
    expect([...img.data]).toEqual([10, 10, 10, 20, 20, 20, 30, 30, 30, 250, 250, 250]);
  });

  it('keeps the high byte of each sample of a 16-bit RGB PNG, as Pillow does', async () => {
    const samples = Uint16Array.from([0, 255, 256, 511, 32768, 65535]);
    const png = await sharp(samples, { raw: { width: 2, height: 1, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    const img = await decodeBytes(png, 'rgb16.png');
    expect([...img.data]).toEqual([0, 0, 1, 1, 128, 255]);
  });

  it('keeps the high byte of a 16-bit grey PNG (Pillow would clip at 255; see decode.ts)', async () => {
    const samples = Uint16Array.from([0, 255, 256, 40000]);
    const png = await sharp(samples, { raw: { width: 4, height: 1, channels: 1 } }).toColourspace('grey16').png().toBuffer();
    const img = await decodeBytes(png, 'grey16.png');
    expect([...img.data]).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 156, 156, 156]);
  });

  it('decodes a lossless WebP exactly', async () => {
    const src = pattern(11, 6);
    const img = await decodeBytes(await fromRaw(src, 11, 6).webp({ lossless: true }).toBuffer(), 'lossless.webp');
    expect([img.width, img.height]).toEqual([11, 6]);
    expect(Buffer.from(img.data).equals(Buffer.from(src))).toBe(true);
  });

  it('decodes an LZW TIFF exactly', async () => {
    const src = pattern(5, 8);
    const img = await decodeBytes(await fromRaw(src, 5, 8).tiff({ compression: 'lzw' }).toBuffer(), 'lzw.tiff');
    expect([img.width, img.height]).toEqual([5, 8]);
    expect(Buffer.from(img.data).equals(Buffer.from(src))).toBe(true);
  });
});

describe('embedded ICC profiles are ignored, as Pillow ignores them', () => {
  const w = 16;
  const h = 8;
  const src = pattern(w, h);

  /** Copies `profileFile`'s iCCP chunk into `plain`, right after IHDR: same pixels, plus a profile. */
  function withPngProfile(plain: Uint8Array, profileFile: Uint8Array): Uint8Array {
    const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    let p = 8;
    while (p < profileFile.length) {
      const length = view(profileFile).getUint32(p);
      const type = Buffer.from(profileFile.subarray(p + 4, p + 8)).toString('latin1');
      if (type === 'iCCP') {
        const chunk = profileFile.subarray(p, p + 12 + length);
        const ihdrEnd = 8 + 12 + view(plain).getUint32(8);
        return Buffer.concat([plain.subarray(0, ihdrEnd), chunk, plain.subarray(ihdrEnd)]);
      }
      p += 12 + length;
    }
    throw new Error('no iCCP chunk');
  }

  /** Copies `profileFile`'s APP2 ICC_PROFILE segment into `plain`, right after SOI. */
  function withJpegProfile(plain: Uint8Array, profileFile: Uint8Array): Uint8Array {
    let p = 2;
    while (p < profileFile.length && profileFile[p] === 0xff) {
      const marker = profileFile[p + 1]!;
      const length = (profileFile[p + 2]! << 8) | profileFile[p + 3]!;
      if (marker === 0xe2) return Buffer.concat([plain.subarray(0, 2), profileFile.subarray(p, p + 2 + length), plain.subarray(2)]);
      p += 2 + length;
    }
    throw new Error('no APP2 segment');
  }

  it('uses the stored values of a PNG that carries a Display P3 profile', async () => {
    const plain = await fromRaw(src, w, h).png().toBuffer();
    const tagged = withPngProfile(plain, await fromRaw(src, w, h).png().withIccProfile('p3').toBuffer());
    expect((await sharp(tagged).metadata()).hasProfile).toBe(true);
    const managed = await sharp(tagged).raw().toBuffer();
    expect(managed.equals(Buffer.from(src))).toBe(false); // the profile would change the pixels
    const img = await decodeBytes(tagged, 'p3.png');
    expect(Buffer.from(img.data).equals(Buffer.from(src))).toBe(true);
  });

  it('uses the stored values of a JPEG that carries a Display P3 profile', async () => {
    const plain = await fromRaw(src, w, h).jpeg({ quality: 90 }).toBuffer();
    const tagged = withJpegProfile(plain, await fromRaw(src, w, h).jpeg().withIccProfile('p3').toBuffer());
    expect((await sharp(tagged).metadata()).hasProfile).toBe(true);
    const asStored = await decodeBytes(plain, 'plain.jpg');
    const img = await decodeBytes(tagged, 'p3.jpg');
    expect(Buffer.from(img.data).equals(Buffer.from(asStored.data))).toBe(true);
    expect((await sharp(tagged).raw().toBuffer()).equals(Buffer.from(asStored.data))).toBe(false);
  });
});

describe('BMP', () => {
  interface BmpSpec {
    bitCount: 1 | 4 | 8 | 16 | 24 | 32;
    topDown?: boolean;
    headerSize?: 12 | 40 | 124;
    palette?: number[][];
    masks?: [number, number, number];
    /** Stored value of pixel (x, y): a palette index, a packed 16/32-bit word, or [r, g, b]. */
    stored: (x: number, y: number) => number | number[];
    /** RGB that Pillow's convert("RGB") gives for that pixel. */
    rgb: (x: number, y: number) => number[];
  }
  const W = 13;
  const H = 7;

  /** Writes a BMP the way the format's documentation lays it out (rows padded to 4 bytes). */
  function writeBmp(s: BmpSpec): Uint8Array {
    const headerSize = s.headerSize ?? 40;
    const entrySize = headerSize === 12 ? 3 : 4;
    const palette = s.palette ?? [];
    const maskBytes = s.masks && headerSize === 40 ? 12 : 0;
    const stride = Math.ceil((W * s.bitCount) / 32) * 4;
    const offset = 14 + headerSize + maskBytes + palette.length * entrySize;
    const buf = new Uint8Array(offset + stride * H);
    const dv = new DataView(buf.buffer);
    buf.set([0x42, 0x4d]);
    dv.setUint32(2, buf.length, true);
    dv.setUint32(10, offset, true);
    dv.setUint32(14, headerSize, true);
    if (headerSize === 12) {
      dv.setUint16(18, W, true);
      dv.setInt16(20, s.topDown ? -H : H, true);
      dv.setUint16(22, 1, true);
      dv.setUint16(24, s.bitCount, true);
    } else {
      dv.setInt32(18, W, true);
      dv.setInt32(22, s.topDown ? -H : H, true);
      dv.setUint16(26, 1, true);
      dv.setUint16(28, s.bitCount, true);
      dv.setUint32(30, s.masks ? 3 : 0, true);
      dv.setUint32(46, palette.length, true);
      s.masks?.forEach((m, i) => dv.setUint32(54 + i * 4, m, true));
    }
    palette.forEach(([r, g, b], i) => buf.set([b!, g!, r!], 14 + headerSize + maskBytes + i * entrySize));
    for (let y = 0; y < H; y++) {
      const row = offset + (s.topDown ? y : H - 1 - y) * stride;
      for (let x = 0; x < W; x++) {
        const v = s.stored(x, y);
        if (Array.isArray(v)) buf.set([v[2]!, v[1]!, v[0]!], row + x * 3);
        else if (s.bitCount <= 8) buf[row + ((x * s.bitCount) >> 3)]! |= v << (8 - s.bitCount - ((x * s.bitCount) & 7));
        else if (s.bitCount === 16) dv.setUint16(row + x * 2, v, true);
        else dv.setUint32(row + x * 4, v >>> 0, true);
      }
    }
    return buf;
  }

  const rgb = (x: number, y: number) => [(x * 19) & 255, (y * 37) & 255, (x * y * 11) & 255];
  const palette = Array.from({ length: 16 }, (_, i) => [i * 16, 255 - i * 9, i * i]);
  const fromPalette = (index: (x: number, y: number) => number) => (x: number, y: number) => palette[index(x, y)]!;
  const packed = (x: number, y: number) => { const [r, g, b] = rgb(x, y); return (r! << 16) | (g! << 8) | b!; };
  const five = (v: number) => Math.trunc((v * 255) / 31);
  const cases: Record<string, BmpSpec> = {
    '24-bit bottom-up': { bitCount: 24, stored: rgb, rgb },
    '24-bit top-down': { bitCount: 24, topDown: true, stored: rgb, rgb },
    '24-bit with a V5 header': { bitCount: 24, headerSize: 124, stored: rgb, rgb },
    '24-bit with an OS/2 header': { bitCount: 24, headerSize: 12, stored: rgb, rgb },
    '32-bit BGRX (the fourth byte ignored)': { bitCount: 32, stored: (x, y) => packed(x, y) | (0x7f << 24), rgb },
    '32-bit bit fields': { bitCount: 32, masks: [0xff0000, 0xff00, 0xff], stored: packed, rgb },
    '16-bit 5-5-5': {
      bitCount: 16,
      stored: (x, y) => (x << 10) | ((y * 4) << 5) | (x + y),
      rgb: (x, y) => [five(x), five(y * 4), five(x + y)],
    },
    '8-bit paletted bottom-up': { bitCount: 8, palette, stored: (x, y) => (x + y) % 16, rgb: fromPalette((x, y) => (x + y) % 16) },
    '8-bit paletted top-down': { bitCount: 8, topDown: true, palette, stored: (x, y) => (x * y) % 16, rgb: fromPalette((x, y) => (x * y) % 16) },
    '4-bit paletted': { bitCount: 4, palette, stored: (x, y) => (x + 2 * y) % 16, rgb: fromPalette((x, y) => (x + 2 * y) % 16) },
    '1-bit paletted': { bitCount: 1, palette: palette.slice(0, 2), stored: (x, y) => (x + y) % 2, rgb: fromPalette((x, y) => (x + y) % 2) },
  };

  it.each(Object.entries(cases))('decodes a %s BMP', async (name, spec) => {
    const img = await decodeBytes(writeBmp(spec), `${name.replace(/\W+/g, '-')}.bmp`);
    expect([img.width, img.height, img.exifOrientation]).toEqual([W, H, 1]);
    const expected = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) expected.set(spec.rgb(x, y), (y * W + x) * 3);
    expect([...img.data]).toEqual([...expected]);
  });

  it('refuses an RLE-compressed BMP by name', async () => {
    const bmp = writeBmp(cases['8-bit paletted bottom-up']!);
    new DataView(bmp.buffer).setUint32(30, 1, true);
    await expect(decodeBytes(bmp, 'rle.bmp')).rejects.toThrow(/rle\.bmp: cannot decode image \(BMP: RLE8 compression is not supported\)/);
  });

  it('refuses a BMP over 20000 x 20000 pixels before allocating it', async () => {
    const bmp = writeBmp(cases['24-bit bottom-up']!);
    new DataView(bmp.buffer).setInt32(18, 20001, true);
    new DataView(bmp.buffer).setInt32(22, 20000, true);
    await expect(decodeBytes(bmp, 'huge.bmp')).rejects.toThrow('huge.bmp: cannot decode image (BMP: 20001x20000 exceeds the pixel limit of 400000000)');
  });

  it('refuses a truncated BMP, naming the file', async () => {
    const bmp = writeBmp(cases['24-bit bottom-up']!);
    await expect(decodeBytes(bmp.subarray(0, bmp.length - 40), 'short.bmp')).rejects.toThrow(/short\.bmp: cannot decode image \(BMP: truncated pixel data/);
  });
});

describe('bad input', () => {
  it('names the file when the bytes are not an image', async () => {
    const junk = Uint8Array.from({ length: 500 }, (_, i) => (i * 31) & 255);
    await expect(decodeBytes(junk, 'broken.png')).rejects.toThrow(/broken\.png: cannot decode image \(.+\)/);
  });

  it('refuses an SVG drawing instead of rasterising it', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="red"/></svg>');
    await expect(decodeBytes(svg, 'drawing.svg')).rejects.toThrow('drawing.svg: cannot decode image (svg is not a supported image format)');
  });

  it('names the file when a PNG is cut short', async () => {
    const png = await fromRaw(pattern(64, 64), 64, 64).png().toBuffer();
    await expect(decodeBytes(png.subarray(0, png.length >> 1), 'cut.png')).rejects.toThrow(/cut\.png: cannot decode image/);
  });

  it('names the file when a JPEG is cut short', async () => {
    const jpeg = await fromRaw(pattern(64, 64), 64, 64).jpeg().toBuffer();
    await expect(decodeBytes(jpeg.subarray(0, jpeg.length >> 1), 'cut.jpg')).rejects.toThrow(/cut\.jpg: cannot decode image \(.*premature end/);
  });

  it('names the file when it is empty', async () => {
    await expect(decodeBytes(new Uint8Array(0), 'empty.jpg')).rejects.toThrow('empty.jpg: cannot decode image (the file is empty)');
  });

  it('names the file when it does not exist', async () => {
    await expect(decodeImage(join(dir, 'missing.png'))).rejects.toThrow(/missing\.png: cannot read image file \(ENOENT\)/);
  });

  it('refuses an image over 20000 x 20000 pixels before decoding it', async () => {
    const png = Uint8Array.from(await fromRaw(new Uint8Array(3), 1, 1).png().toBuffer());
    const view = new DataView(png.buffer);
    view.setUint32(16, 20001); // IHDR width
    view.setUint32(20, 20000); // IHDR height
    view.setUint32(29, crc32(png.subarray(12, 29)));
    await expect(decodeImageBuffer(png, 'huge.png')).rejects.toThrow(/huge\.png: cannot decode image \(Input image exceeds pixel limit\)/);
  });
});
