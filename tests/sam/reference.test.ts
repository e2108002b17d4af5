/**
 * Our SAM is Meta's SAM: each fixture's checkpoint imported by the project, against reference
 * outputs of the official segment_anything implementation: sam-tiny (random weights,
 * tests/fixtures/sam-tiny/README.md) and sam-shapes (the same architecture trained, so the
 * weights and logits have realistic ranges; tests/fixtures/sam-shapes/README.md).
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy, readNpyFloat32 } from '../../main/sam/npy.ts';
import { decodeImage } from '../../main/sam/image/index.ts';
import { loadSam, runDecoder, runEncoder, runPredict, type LoadedSam } from '../../main/sam/inference.ts';
import { fullMaskFromCrop } from '../../main/sam/postprocess.ts';
import {
  fixtureModelDir, manifest, masksAgree, maxAbsDiff, readMaskPng, SAM_SHAPES_FIXTURE, SAM_TINY_FIXTURE, type ReferenceFixture,
} from '../helpers/sam-tiny.ts';
import type { SegmentPrompt } from '../../main/sam/engine-api.ts';

function promptOf(c: { points?: [number, number][]; labels?: number[]; box?: [number, number, number, number] }): SegmentPrompt {
  return {
    points: (c.points ?? []).map(([x, y], i) => ({ x, y, label: c.labels![i] as 0 | 1 })),
    ...(c.box ? { box: c.box } : {}),
  };
}

for (const fixture of [SAM_TINY_FIXTURE, SAM_SHAPES_FIXTURE] as ReferenceFixture[]) {
  describe(fixture.name, () => {
    let model: { dir: string; cleanup: () => void };
    let sam: LoadedSam;

    beforeAll(async () => {
      model = await fixtureModelDir(fixture);
      sam = await loadSam(model.dir, { threads: 2 });
    });
    afterAll(() => model.cleanup());

    const fixtureFile = (name: string) => join(fixture.dir, name);

    /** One encoder run per image: the cases of an image share its embedding. */
    const embeddings = new Map<string, Promise<Float32Array>>();
    function embeddingOf(image: string, img: Parameters<typeof runEncoder>[1]): Promise<Float32Array> {
      if (!embeddings.has(image)) embeddings.set(image, runEncoder(sam, img));
      return embeddings.get(image)!;
    }

    describe(`the image encoder built from ${fixture.name}`, () => {
      it('matches the official embedding within 1e-4 from the resized landscape image', async () => {
        const resized = readNpy(fixtureFile('landscape.resized.npy'));
        const [h, w] = resized.shape as [number, number];
        const img = { width: w, height: h, data: resized.data as Uint8Array, exifOrientation: 1 };
        const embedding = await runEncoder(sam, img);
        const reference = readNpyFloat32(fixtureFile('landscape.embedding.npy'));
        expect(maxAbsDiff(embedding, reference.data)).toBeLessThan(1e-4);
      });
    });

    describe(`the decoder built from ${fixture.name}`, () => {
      const landscape = manifest(fixture).images.find((i) => i.image === 'landscape.png')!;
      for (const c of landscape.cases) {
        it(`reproduces ${c.id} within 1e-4 (iou, low-res logits${c.decoder_outputs?.masks ? ', full-size logits' : ''})`, async () => {
          const feeds: Record<string, ort.Tensor> = {};
          for (const [name, file] of Object.entries(c.decoder_inputs!)) {
            const a = file.startsWith('zeros') ? { shape: [1, 1, 256, 256], data: new Float32Array(256 * 256) } : readNpyFloat32(fixtureFile(file));
            feeds[name] = new ort.Tensor('float32', a.data, a.shape);
          }
          const out = await sam.decoder.run(feeds);
          for (const [name, file] of Object.entries(c.decoder_outputs!)) {
            if (!file) continue;
            const ref = readNpyFloat32(fixtureFile(file));
            expect(out[name]!.dims).toEqual(ref.shape);
            expect(maxAbsDiff(out[name]!.data as Float32Array, ref.data), name).toBeLessThan(1e-4);
          }
        });
      }
    });

    describe(`${fixture.name}: the whole pipeline from the PNG files`, () => {
      for (const image of manifest(fixture).images) {
        for (const c of image.cases.filter((x) => x.predictor_multimask)) {
          it(`agrees with every official predictor mask of ${c.id}`, async () => {
            const img = await decodeImage(fixtureFile(image.image));
            expect([img.width, img.height]).toEqual([image.width, image.height]);
            const embedding = await embeddingOf(image.image, img);
            const r = await runDecoder(sam, embedding, promptOf(c.prompt), img.width, img.height);
            const scores = readNpyFloat32(fixtureFile(c.predictor_multimask!.scores)).data;
            for (let k = 1; k <= 3; k++) {
              const ref = await readMaskPng(fixtureFile(c.predictor_multimask!.masks_png[k - 1]!));
              const agreement = masksAgree(r.masks[k]!, ref.data);
              expect(agreement.agree, `mask ${k}: ${agreement.differing} pixels differ, IoU ${agreement.iou}`).toBe(true);
              expect(Math.abs(r.iouPredictions[k]! - scores[k - 1]!)).toBeLessThan(1e-3);
            }
            // The UI's cropped postprocessing gives the same masks as the graph's.
            const p = await runPredict(sam, embedding, promptOf(c.prompt), img.width, img.height);
            for (let k = 0; k < 4; k++) {
              const full = fullMaskFromCrop(p.masks[k]!, img.width, img.height);
              expect(masksAgree(full, r.masks[k]!).differing).toBeLessThanOrEqual(2);
            }
            expect(p.best).toBe(r.best);
          });
        }
      }
    });
  });
}
