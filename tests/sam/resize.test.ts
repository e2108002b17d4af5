import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeImage, resizeBilinearPil, resizedSize, samEncoderInput, SAM_PIXEL_MEAN, SAM_PIXEL_STD, type RgbImage,
} from '../../main/sam/image/index.ts';
import { readNpy } from '../../main/sam/npy.ts';
import { encoderSizeProblem, encoderTensor } from '../../main/sam/inference.ts';

const samTiny = join(import.meta.dirname, '..', 'fixtures', 'sam-tiny');

/** Largest absolute difference and number of differing bytes between two byte arrays of one size. */
function compare(a: Uint8Array, b: Uint8Array): { maxAbsDiff: number; differing: number } {
  let maxAbsDiff = 0;
  let differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > 0) differing++;
    if (d > maxAbsDiff) maxAbsDiff = d;
  }
  return { maxAbsDiff, differing };
}

describe('resizing like PIL', () => {
  it.each([
    ['sam-tiny', 'landscape', 320, 240, 1024, 768],
    ['sam-tiny', 'large', 1400, 1000, 1024, 731],
    ['sam-shapes', 'landscape', 320, 240, 1024, 768],
    ['sam-shapes', 'large', 1400, 1000, 1024, 731],
  ])('%s: resizes %s.png (%ix%i) to %ix%i with exactly the bytes PIL produced', async (fixture, name, w, h, outW, outH) => {
    const img = await decodeImage(join(import.meta.dirname, '..', 'fixtures', fixture, `${name}.png`));
    expect([img.width, img.height]).toEqual([w, h]);
    const size = resizedSize(img.width, img.height);
    expect([size.width, size.height]).toEqual([outW, outH]);
    const reference = readNpy(join(import.meta.dirname, '..', 'fixtures', fixture, `${name}.resized.npy`));
    expect(reference.shape).toEqual([outH, outW, 3]);
    const resized = resizeBilinearPil(img, size.width, size.height);
    expect(compare(resized.data, reference.data as Uint8Array)).toEqual({ maxAbsDiff: 0, differing: 0 });
  });

  /** A deterministic test card; the same formula in NumPy made the Pillow hashes below. */
  function testCard(width: number, height: number): RgbImage {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3;
        data[i] = (x * 7 + y * 13 + ((x * y) % 17)) & 255;
        data[i + 1] = (x * x + 3 * y) & 255;
        data[i + 2] = ((x ^ y) * 5 + Math.floor(x / 3) * Math.floor(y / 5)) & 255;
      }
    }
    return { width, height, data, exifOrientation: 1 };
  }
  const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

  // SHA-256 of Pillow 9.4's np.asarray(Image.fromarray(card).resize((w, h), Image.BILINEAR)):
  // enlarging, shrinking, one axis only, heights under and not a multiple of 4, extreme ratios.
  it.each([
    [131, 97, 1024, 758, 'c871cceb1e75ce52052bfd0034553243144586a250a4b2d6202415b02b9e35e9'],
    [131, 97, 13, 7, '1b6f38e8e7fd19d7fd76bdc068f0c63342cf7f41b870a537b8b6f631b5908d55'],
    [131, 97, 131, 50, 'e4876030f37d4b1db942a6ec1706a8b6d7c731d1ccc567ad8d2941447beeba31'],
    [131, 97, 50, 97, 'fe3182451e322a3c4252f4a2ec8db0d87ec3f5d039ed53649279367d5e7a2244'],
    [131, 97, 300, 301, 'a13f60d75a7dea98f19d64f126d30d061c6dfd3f1ea597ea5aee72a6d47b98c0'],
    [131, 97, 1, 1, '6ddd9ffe0858e66e798c56b780d3357ae1b9db7e9255b551af19563c51bffedb'],
    [131, 97, 2000, 3, 'dd4275dba36b31ba70b4355427e3dff4f7a462e84722ba11fe8cf7a3e684e1bb'],
    [131, 97, 3, 2000, '0e376b6dd7ea9a464183de71aec94ab473f9424c6dc361c70104c4cb4d370d54'],
    [997, 513, 37, 19, '1fa9041edcaf386403a2d8cdca8dc407ac17d66d03407b1a24a93941f6f0b7fd'],
    [997, 513, 1024, 527, '55342503b54933db916a509c573eed47e53ebb52407b73ee59f9bc2c8349188e'],
    [997, 513, 998, 514, '35ca3f8e183af19627b9a6cb69af5aeb2dc6b6a3fc0a11d37885dce99b572d3e'],
    [997, 513, 500, 257, '61187c3b364faea6a0fc0aa0e2e5371b0869d87c80e4dc07cf72057992791874'],
  ])('resizes a %ix%i test card to %ix%i with exactly the bytes Pillow produces', (w, h, outW, outH, expected) => {
    expect(sha256(resizeBilinearPil(testCard(w, h), outW, outH).data)).toBe(expected);
  });

  it('resizes a job too big for the kept workspace (5000x4500) with exactly the bytes Pillow produces', () => {
    const card = testCard(5000, 4500);
    expect(sha256(card.data).slice(0, 16)).toBe('fd270c82d1e7e207');
    expect(sha256(resizeBilinearPil(card, 1024, 922).data)).toBe('3dcbfe59e4c0a6f78858fe39abe3fe13c5e202151a926f4a71ef603e57becd73');
  });

  it('builds the same test card as the NumPy script that made the hashes', () => {
    expect(sha256(testCard(131, 97).data).slice(0, 16)).toBe('bbfa5632424d968e');
    expect(sha256(testCard(997, 513).data).slice(0, 16)).toBe('61ad7a786adc7cd6');
  });

  it('gives ResizeLongestSide sizes, rounding half up', () => {
    expect(resizedSize(180, 300)).toEqual({ width: 614, height: 1024 });
    expect(resizedSize(1024, 1024)).toEqual({ width: 1024, height: 1024 });
    expect(resizedSize(4000, 3000)).toEqual({ width: 1024, height: 768 });
    expect(resizedSize(2000, 1)).toEqual({ width: 1024, height: 1 });
    expect(resizedSize(640, 427, 512)).toEqual({ width: 512, height: 342 });
  });

  it('returns an equal copy when the size does not change', () => {
    const img: RgbImage = { width: 2, height: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6]), exifOrientation: 3 };
    const same = resizeBilinearPil(img, 2, 1);
    expect([...same.data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(same.data).not.toBe(img.data);
    expect(same.exifOrientation).toBe(3);
  });

  it('keeps a uniform image uniform when enlarging and when shrinking', () => {
    const img: RgbImage = { width: 37, height: 23, data: new Uint8Array(37 * 23 * 3).fill(201), exifOrientation: 1 };
    for (const [w, h] of [[100, 61], [5, 3], [1, 1]] as const) {
      expect(new Set(resizeBilinearPil(img, w, h).data)).toEqual(new Set([201]));
    }
  });

  it('averages a two-pixel row with the triangle filter when halving it', () => {
    // Shrinking 2 -> 1: centre 1.0, support 2, both pixels weigh 0.5; 10 and 21 give 15.5, which the
    // fixed-point sum rounds up to 16.
    const img: RgbImage = { width: 2, height: 1, data: Uint8Array.from([10, 0, 255, 21, 1, 255]), exifOrientation: 1 };
    expect([...resizeBilinearPil(img, 1, 1).data]).toEqual([16, 1, 255]);
  });

  it('refuses a non-integer or empty target size', () => {
    const img: RgbImage = { width: 1, height: 1, data: new Uint8Array(3), exifOrientation: 1 };
    expect(() => resizeBilinearPil(img, 0, 5)).toThrow('resize: target size must be positive integers, got 0x5');
    expect(() => resizeBilinearPil(img, 2.5, 5)).toThrow(/positive integers/);
  });
});

describe('SAM encoder input', () => {
  /** (v - mean) / std in float32 arithmetic, step by step, as PyTorch computes it. */
  const f32 = Math.fround;
  const normalised = (v: number, c: number) => f32(f32(v - f32(SAM_PIXEL_MEAN[c]!)) / f32(SAM_PIXEL_STD[c]!));

  it('normalises each channel of the resized image and pads bottom and right with zeros', () => {
    // 4x2 image, enlarged to 1024x512: a uniform image keeps its value everywhere it is resized.
    const img: RgbImage = { width: 4, height: 2, data: new Uint8Array(4 * 2 * 3), exifOrientation: 1 };
    for (let i = 0; i < 8; i++) img.data.set([0, 128, 255], i * 3);
    const { tensor, resizedWidth, resizedHeight } = samEncoderInput(img);
    expect([resizedWidth, resizedHeight]).toEqual([1024, 512]);
    expect(tensor.length).toBe(3 * 1024 * 1024);
    const at = (c: number, y: number, x: number) => tensor[c * 1024 * 1024 + y * 1024 + x]!;
    expect(at(0, 0, 0)).toBeCloseTo(-123.675 / 58.395, 6);
    expect(at(1, 300, 700)).toBeCloseTo((128 - 116.28) / 57.12, 6);
    expect(at(2, 511, 1023)).toBeCloseTo((255 - 103.53) / 57.375, 6);
    expect([at(0, 512, 0), at(1, 1023, 1023), at(2, 800, 5)]).toEqual([0, 0, 0]);
  });

  it('builds the tensor for landscape.png from the reference resize, value for value', async () => {
    const img = await decodeImage(join(samTiny, 'landscape.png'));
    const reference = readNpy(join(samTiny, 'landscape.resized.npy')).data as Uint8Array;
    const { tensor, resizedWidth, resizedHeight } = samEncoderInput(img);
    expect([resizedWidth, resizedHeight]).toEqual([1024, 768]);
    for (const [y, x] of [[0, 0], [100, 517], [767, 1023], [383, 2]]) {
      for (let c = 0; c < 3; c++) {
        const v = reference[(y! * 1024 + x!) * 3 + c]!;
        expect(tensor[c * 1024 * 1024 + y! * 1024 + x!]).toBe(normalised(v, c));
      }
    }
    let paddingNonZero = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 768 * 1024; i < 1024 * 1024; i++) if (tensor[c * 1024 * 1024 + i] !== 0) paddingNonZero++;
    }
    expect(paddingNonZero).toBe(0);
  });
});

describe('images too thin for SAM', () => {
  it('takes a long side up to 2048 times the short one, refuses a thinner one by its size, and leaves SAM 2.1 any size', () => {
    expect(encoderSizeProblem('sam-nchw', 1, 2048)).toBeNull();
    expect(encoderSizeProblem('sam-nchw', 2048, 1)).toBeNull();
    expect(encoderSizeProblem('sam-nchw', 1, 2049)).toBe('a 1x2049 image is too thin for SAM: with its long side resized to 1024 pixels its short side rounds to 0 (the long side can be at most 2048 times the short one)');
    expect(encoderSizeProblem('sam-hwc-resized', 5000, 2)).toMatch(/^a 5000x2 image is too thin for SAM/);
    expect(encoderSizeProblem('sam2-stretch', 1, 5000)).toBeNull();
    expect(() => encoderTensor('sam-nchw', { width: 3000, height: 1, data: new Uint8Array(9000), exifOrientation: 1 })).toThrow(/too thin for SAM/);
  });
});
