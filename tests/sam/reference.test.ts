/**
 * Our SAM is Meta's SAM: sam_tiny.pth imported by the project, against reference outputs of the
 * official segment_anything implementation (tests/fixtures/sam-tiny/README.md).
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy, readNpyFloat32 } from '../../main/sam/npy.ts';
import { decodeImage } from '../../main/sam/image/index.ts';
import { loadSam, runDecoder, runEncoder, runPredict, type LoadedSam } from '../../main/sam/inference.ts';
import { fullMaskFromCrop } from '../../main/sam/postprocess.ts';
import { manifest, masksAgree, maxAbsDiff, readMaskPng, SAM_TINY, samTinyModelDir } from '../helpers/sam-tiny.ts';
import type { SegmentPrompt } from '../../main/sam/engine-api.ts';

let model: { dir: string; cleanup: () => void };
let sam: LoadedSam;

beforeAll(async () => {
  model = await samTinyModelDir();
  sam = await loadSam(model.dir, { threads: 2 });
});
afterAll(() => model.cleanup());

const fixture = (name: string) => join(SAM_TINY, name);

/** One encoder run per image: the cases of an image share its embedding. */
const embeddings = new Map<string, Promise<Float32Array>>();
function embeddingOf(file: string, img: Parameters<typeof runEncoder>[1]): Promise<Float32Array> {
  if (!embeddings.has(file)) embeddings.set(file, runEncoder(sam, img));
  return embeddings.get(file)!;
}

function promptOf(c: { points?: [number, number][]; labels?: number[]; box?: [number, number, number, number] }): SegmentPrompt {
  return {
    points: (c.points ?? []).map(([x, y], i) => ({ x, y, label: c.labels![i] as 0 | 1 })),
    ...(c.box ? { box: c.box } : {}),
  };
}

describe('the image encoder built from sam_tiny.pth', () => {
  it('matches the official embedding within 1e-4 from the resized landscape image', async () => {
    const resized = readNpy(fixture('landscape.resized.npy'));
    const [h, w] = resized.shape as [number, number];
    const img = { width: w, height: h, data: resized.data as Uint8Array, exifOrientation: 1 };
    const embedding = await runEncoder(sam, img);
    const reference = readNpyFloat32(fixture('landscape.embedding.npy'));
    expect(maxAbsDiff(embedding, reference.data)).toBeLessThan(1e-4);
  });
});

describe('the decoder built from sam_tiny.pth', () => {
  const landscape = manifest().images.find((i) => i.image === 'landscape.png')!;
  for (const c of landscape.cases) {
    it(`reproduces ${c.id} within 1e-4 (iou, low-res logits${c.decoder_outputs?.masks ? ', full-size logits' : ''})`, async () => {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, file] of Object.entries(c.decoder_inputs!)) {
        const a = file.startsWith('zeros') ? { shape: [1, 1, 256, 256], data: new Float32Array(256 * 256) } : readNpyFloat32(fixture(file));
        feeds[name] = new ort.Tensor('float32', a.data, a.shape);
      }
      const out = await sam.decoder.run(feeds);
      for (const [name, file] of Object.entries(c.decoder_outputs!)) {
        if (!file) continue;
        const ref = readNpyFloat32(fixture(file));
        expect(out[name]!.dims).toEqual(ref.shape);
        expect(maxAbsDiff(out[name]!.data as Float32Array, ref.data), name).toBeLessThan(1e-4);
      }
    });
  }
});

describe('the whole pipeline from the PNG files', () => {
  for (const image of manifest().images) {
    for (const c of image.cases.filter((x) => x.predictor_multimask)) {
      it(`agrees with every official predictor mask of ${c.id}`, async () => {
        const img = await decodeImage(fixture(image.image));
        expect([img.width, img.height]).toEqual([image.width, image.height]);
        const embedding = await embeddingOf(image.image, img);
        const r = await runDecoder(sam, embedding, promptOf(c.prompt), img.width, img.height);
        const scores = readNpyFloat32(fixture(c.predictor_multimask!.scores)).data;
        for (let k = 1; k <= 3; k++) {
          const ref = await readMaskPng(fixture(c.predictor_multimask!.masks_png[k - 1]!));
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
