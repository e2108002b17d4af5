/**
 * The view's postprocessing (composed per-axis resize, fills away from the edge) against the
 * exact float32 path and the official full-size masks, by the fixture README's agreement rule.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNpy } from '../../main/sam/npy.ts';
import { fullMaskFromCrop, maskCropFromLowRes, sam2MaskCropFromLowRes } from '../../main/sam/postprocess.ts';
import { readF32 } from '../helpers/sam2-tiny.ts';
import { thinnedView, viewMaskCrop, viewMaskThinned } from '../../main/sam/view-masks.ts';
import { manifest, masksAgree, SAM_TINY } from '../helpers/sam-tiny.ts';
import * as ort from 'onnxruntime-node';
import { encodeModel, GraphBuilder } from '../../main/onnx/index.ts';
import { SESSION_CONFIG } from '../../main/sam/session-config.ts';

const npy = (file: string) => parseNpy(readFileSync(join(SAM_TINY, file)), file).data as Float32Array;
const PLANE = 256 * 256;
const cases = manifest().images.flatMap((img) => img.cases).filter((c) => c.decoder_outputs?.low_res_masks);
// the fixture's own size, the other fixture images' sizes (portrait, downscaled) and a photo
const SIZES: [number, number][] = [[320, 240], [180, 300], [1400, 1000], [4000, 3000]];

describe('the view postprocessing', () => {
  it('has fixture cases to check', () => expect(cases.length).toBe(5));
  for (const c of cases) {
    it(`agrees with the exact path on every candidate of ${c.id} at every size`, () => {
      const lowRes = npy(c.decoder_outputs!.low_res_masks!);
      let nonEmpty = 0;
      for (const [w, h] of SIZES) {
        for (let k = 0; k < 4; k++) {
          const plane = lowRes.subarray(k * PLANE, (k + 1) * PLANE);
          const exact = fullMaskFromCrop(maskCropFromLowRes(plane, w, h), w, h);
          const fast = viewMaskCrop(plane, w, h);
          const a = masksAgree(fullMaskFromCrop(fast, w, h), exact);
          expect(a.agree, `${w}x${h} mask ${k}: ${a.differing} pixels differ, IoU ${a.iou}`).toBe(true);
          // the crop is the tight bounding box: its border rows and columns hold mask pixels
          if (fast.width > 0) {
            nonEmpty++;
            const row = (r: number) => fast.data.subarray(r * fast.width, (r + 1) * fast.width).some((p) => p === 1);
            const col = (x: number) => Array.from({ length: fast.height }, (_, r) => fast.data[r * fast.width + x]).some((p) => p === 1);
            expect(row(0) && row(fast.height - 1) && col(0) && col(fast.width - 1)).toBe(true);
          }
        }
      }
      expect(nonEmpty).toBeGreaterThan(0);
    });
  }
  it('agrees with the official full-size masks of landscape.case0', () => {
    const lowRes = npy('landscape.case0.out.low_res_masks.npy');
    const masks = npy('landscape.case0.out.masks.npy');
    for (let k = 0; k < 4; k++) {
      const official = Uint8Array.from(masks.subarray(k * 320 * 240, (k + 1) * 320 * 240), (v) => (v > 0 ? 1 : 0));
      const ours = fullMaskFromCrop(viewMaskCrop(lowRes.subarray(k * PLANE, (k + 1) * PLANE), 320, 240), 320, 240);
      const a = masksAgree(ours, official);
      expect(a.agree, `mask ${k}: ${a.differing} pixels differ`).toBe(true);
    }
  });
  it('agrees with SAM 2.1\'s exact resize on every candidate of its fixture case, at every size, and thins equally', () => {
    const lowRes = readF32('landscape.case0.low_res_masks.npy').data;
    let nonEmpty = 0;
    for (const [w, h] of [...SIZES, [1024, 1024], [8000, 6000]] as [number, number][]) {
      for (let k = 0; k < 4; k++) {
        const plane = lowRes.subarray(k * PLANE, (k + 1) * PLANE);
        const exact = fullMaskFromCrop(sam2MaskCropFromLowRes(plane, w, h), w, h);
        const fast = viewMaskCrop(plane, w, h, 'sam2.1');
        const a = masksAgree(fullMaskFromCrop(fast, w, h), exact);
        expect(a.agree, `${w}x${h} mask ${k}: ${a.differing} pixels differ, IoU ${a.iou}`).toBe(true);
        if (fast.width > 0) nonEmpty++;
        const thinned = viewMaskThinned(plane, w, h, 1 << 16, 'sam2.1');
        const expected = thinnedView(fast, 1 << 16);
        expect({ ...thinned, data: Buffer.from(thinned.data).toString('base64') }).toEqual({ ...expected, data: Buffer.from(expected.data).toString('base64') });
      }
    }
    expect(nonEmpty).toBeGreaterThan(0);
  });
  it('gives an empty crop for a plane without a positive logit', () => {
    expect(viewMaskCrop(new Float32Array(PLANE).fill(-3), 640, 480)).toMatchObject({ width: 0, height: 0 });
  });
});

/** A plane of noise (every pixel near an edge: the synthetic models' worst case), seeded. */
function noisePlane(seed: number, bias: number): Float32Array {
  let x = seed >>> 0;
  return Float32Array.from({ length: PLANE }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return (x / 2 ** 32 - 0.5) * 10 + bias;
  });
}

/** A plane with a few positive blobs (two apart: the box spans both, with empty rows between). */
function blobsPlane(): Float32Array {
  const p = new Float32Array(PLANE).fill(-8);
  for (let r = 0; r < 256; r++) for (let c = 0; c < 256; c++) {
    const a = 12 - ((r - 40) ** 2 + (c - 200) ** 2) / 30;
    const b = 12 - ((r - 190) ** 2 + (c - 60) ** 2) / 80;
    p[r * 256 + c] = Math.max(a, b, -8);
  }
  return p;
}

describe('the thinned view straight from the logits', () => {
  const MAX = 1 << 16; // small, so that modest sizes are thinned too
  const planes: [string, Float32Array][] = [
    ['noise', noisePlane(7, 0)], ['mostly inside noise', noisePlane(11, 4)], ['sparse noise', noisePlane(3, -4.5)],
    ['two blobs', blobsPlane()], ['all inside', new Float32Array(PLANE).fill(2)], ['nothing inside', new Float32Array(PLANE).fill(-2)],
    // logits among float32's smallest (denormal) values: products with the weights round to 0
    ['denormal-sized noise', noisePlane(17, 1).map((x) => x * 1e-44)],
    // the box spans every column from its first row on, and its last row is a lone spot far below
    ['a full-width band, a spot below it', Float32Array.from({ length: PLANE }, (_, i) => ((i >> 8) < 30 || ((i >> 8) === 150 && (i & 255) === 90) ? 3 : -3))],
    ...cases.slice(0, 2).map((c) => [c.id, npy(c.decoder_outputs!.low_res_masks!).subarray(0, PLANE)] as [string, Float32Array]),
  ];
  for (const [name, plane] of planes) {
    it(`equals the full crop thinned for ${name}, at every size`, () => {
      for (const [w, h] of [[320, 240], [700, 500], [1500, 800], [601, 1999]] as const) {
        const expected = thinnedView(viewMaskCrop(plane, w, h), MAX);
        const got = viewMaskThinned(plane, w, h, MAX);
        expect({ ...got, data: [...got.data] }, `${w}x${h}`).toEqual({ ...expected, data: [...expected.data] });
      }
    });
  }
  it('computes noisy rows densely and smooth ones run by run, both agreeing with the exact path', () => {
    // rows 0..127 noise (a sign change every few cells: dense), the rest two blobs (runs)
    const noise = noisePlane(13, 0), blobs = blobsPlane();
    const plane = Float32Array.from({ length: PLANE }, (_, i) => (i < PLANE / 2 ? noise[i]! : blobs[i]!));
    for (const [w, h] of [[320, 240], [1024, 768], [601, 1999]] as const) {
      const fast = viewMaskCrop(plane, w, h);
      const exact = fullMaskFromCrop(maskCropFromLowRes(plane, w, h), w, h);
      const a = masksAgree(fullMaskFromCrop(fast, w, h), exact);
      expect(a.agree, `${w}x${h}: ${a.differing} pixels differ, IoU ${a.iou}`).toBe(true);
      expect(a.differing, `${w}x${h}`).toBeLessThan(5);
      // both halves hold mask pixels: the noise's top rows and the lower blob's
      expect(fast.y).toBe(0);
      expect(fast.y + fast.height).toBeGreaterThan(h * 0.8);
    }
  });
  it('thins an 8000x6000 answer to at most the view budget, equal to the full crop thinned', () => {
    for (const plane of [noisePlane(5, 1), blobsPlane()]) {
      const got = viewMaskThinned(plane, 8000, 6000, 1 << 22);
      const expected = thinnedView(viewMaskCrop(plane, 8000, 6000), 1 << 22);
      expect(got.step).toBeGreaterThan(1);
      expect(got.data.length).toBeLessThanOrEqual(1 << 22);
      expect(got.data.length).toBe(Math.ceil(got.width / got.step) * Math.ceil(got.height / got.step));
      expect({ ...got, data: Buffer.from(got.data).toString('base64') }).toEqual({ ...expected, data: Buffer.from(expected.data).toString('base64') });
    }
  });
});

describe('the thinned view under the engine thread\'s float mode', () => {
  it('equals the full crop thinned with denormals flushed to zero, as onnxruntime sets them on the thread that makes its first session', async () => {
    // this file's process makes no other session: this one sets the mode on this thread
    const b = new GraphBuilder();
    b.identity(b.op('Mul', [b.input('x', 'float32', [1]), b.constF([2])]), 'y');
    b.output('y', 'float32', [1]);
    const session = await ort.InferenceSession.create(encodeModel(b.build('flush')), { extra: SESSION_CONFIG });
    await session.run({ x: new ort.Tensor('float32', Float32Array.of(1), [1]) });
    await session.release();
    expect(Math.fround(1e-40)).toBe(0); // float32 denormals now flush here, JavaScript's roundings included
    // logits about float32's smallest normal: sums of their products cancel into denormals
    const nearSmallestNormal = noisePlane(19, 0).map((x) => x * 1e-38);
    for (const [name, plane] of [['denormal-sized noise', noisePlane(17, 1).map((x) => x * 1e-44)], ['noise about the smallest normal', nearSmallestNormal], ['noise', noisePlane(7, 0)], ['two blobs', blobsPlane()]] as const) {
      for (const [w, h] of [[320, 240], [1500, 800]] as const) {
        const expected = thinnedView(viewMaskCrop(plane, w, h), 1 << 16);
        const got = viewMaskThinned(plane, w, h, 1 << 16);
        expect({ ...got, data: [...got.data] }, `${name} ${w}x${h}`).toEqual({ ...expected, data: [...expected.data] });
      }
    }
  });
});
