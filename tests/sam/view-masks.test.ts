/**
 * The view's postprocessing (composed per-axis resize, fills away from the edge) against the
 * exact float32 path and the official full-size masks, by the fixture README's agreement rule.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNpy } from '../../main/sam/npy.ts';
import { fullMaskFromCrop, maskCropFromLowRes } from '../../main/sam/postprocess.ts';
import { viewMaskCrop } from '../../main/sam/view-masks.ts';
import { manifest, masksAgree, SAM_TINY } from '../helpers/sam-tiny.ts';

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
  it('gives an empty crop for a plane without a positive logit', () => {
    expect(viewMaskCrop(new Float32Array(PLANE).fill(-3), 640, 480)).toMatchObject({ width: 0, height: 0 });
  });
});
