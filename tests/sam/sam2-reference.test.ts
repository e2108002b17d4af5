/**
 * Our SAM 2.1 is Meta's SAM 2.1 image predictor: sam2.1_tiny_random.pt imported by the project
 * (zip + pickle reader, ONNX graphs built here), against the outputs of the official
 * SAM2ImagePredictor stored in tests/fixtures/sam2.1-tiny-random (README there: contract and
 * tolerances, float64 vs float32 measured at most 3.7e-5 on logits).
 */
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, type RgbImage } from '../../main/sam/image/index.ts';
import { sam2EncoderInput } from '../../main/sam/image/sam2-input.ts';
import { loadSam, runDecoder, runEncoder, runPredict, type LoadedSam } from '../../main/sam/inference.ts';
import { fullMaskFromCrop } from '../../main/sam/postprocess.ts';
import { splitSam2Features } from '../../main/sam/sam2-inference.ts';
import { masksAgree, maxAbsDiff, readMaskPng } from '../helpers/sam-tiny.ts';
import { readF32, readInt, sam2Fixture, sam2Manifest, sam2PromptOf, sam2TinyModelDir, subGrid, type Sam2Case } from '../helpers/sam2-tiny.ts';

let model: { dir: string; cleanup: () => void };
let sam: LoadedSam;
const images = sam2Manifest().images;

beforeAll(async () => {
  model = await sam2TinyModelDir();
  sam = await loadSam(model.dir, { threads: 2 });
});
afterAll(() => model.cleanup());

/** One decode and one encoder run per image: the cases share them. */
const decoded = new Map<string, Promise<RgbImage>>();
const features = new Map<string, Promise<Float32Array>>();
function imageOf(file: string): Promise<RgbImage> {
  if (!decoded.has(file)) decoded.set(file, decodeImage(sam2Fixture(file)));
  return decoded.get(file)!;
}
function featuresOf(file: string): Promise<Float32Array> {
  if (!features.has(file)) features.set(file, imageOf(file).then((img) => runEncoder(sam, img)));
  return features.get(file)!;
}

/** Largest error seen per quantity, printed at the end (the numbers the README quotes). */
const worst: Record<string, number> = {};
const note = (what: string, err: number) => { worst[what] = Math.max(worst[what] ?? 0, err); return err; };
afterAll(() => console.log(`SAM 2.1 max abs error vs Meta: ${JSON.stringify(worst)}`));

describe('SAM 2.1 preprocessing', () => {
  for (const image of images.filter((i) => i.set_image.input_sub8)) {
    it(`stretches ${image.image} to the official 1024x1024 input within 1e-4 (antialiased float resize)`, async () => {
      const img = await imageOf(image.image);
      const ours = subGrid(sam2EncoderInput(img), 3, 1024, 8);
      expect(note('input', maxAbsDiff(ours, readF32(image.set_image.input_sub8!.file).data))).toBeLessThan(1e-4);
    });
  }
});

describe('the SAM 2.1 image encoder built from sam2.1_tiny_random.pt', () => {
  const image = images.find((i) => i.set_image.image_embed)!;
  it(`gives ${image.image}'s image_embed and both high-res feature maps within 1e-4`, async () => {
    const maps = splitSam2Features(await featuresOf(image.image));
    expect(note('image_embed', maxAbsDiff(maps.image_embed, readF32(image.set_image.image_embed!).data))).toBeLessThan(1e-4);
    const [s0, s1] = image.set_image.high_res_feats_sub4!;
    expect(note('high_res_feats_0', maxAbsDiff(subGrid(maps.high_res_feats_0, 32, 256, 4), readF32(s0!.file).data))).toBeLessThan(1e-4);
    expect(note('high_res_feats_1', maxAbsDiff(subGrid(maps.high_res_feats_1, 64, 128, 4), readF32(s1!.file).data))).toBeLessThan(1e-4);
  });
});

/** The refinement cases feed back case0's best multimask low-res logits, as Meta's notebook does. */
const lowResByCase = new Map<string, Promise<Float32Array>>();

function decoderFeedsOf(c: Sam2Case, maps: ReturnType<typeof splitSam2Features>, img: RgbImage, maskInput?: Float32Array): Record<string, ort.Tensor> {
  const coords = readF32(c.decoder_inputs.point_coords);
  const labels = readInt(c.decoder_inputs.point_labels);
  return {
    image_embed: new ort.Tensor('float32', maps.image_embed, [1, 256, 64, 64]),
    high_res_feats_0: new ort.Tensor('float32', maps.high_res_feats_0, [1, 32, 256, 256]),
    high_res_feats_1: new ort.Tensor('float32', maps.high_res_feats_1, [1, 64, 128, 128]),
    point_coords: new ort.Tensor('float32', coords.data, coords.shape),
    point_labels: new ort.Tensor('float32', Float32Array.from(labels.data as Int32Array), labels.shape),
    mask_input: new ort.Tensor('float32', maskInput ?? new Float32Array(256 * 256), [1, 1, 256, 256]),
    has_mask_input: new ort.Tensor('float32', Float32Array.of(maskInput ? 1 : 0), [1]),
    orig_im_size: new ort.Tensor('float32', Float32Array.of(img.height, img.width), [2]),
  };
}

async function maskInputOf(c: Sam2Case): Promise<Float32Array | undefined> {
  const from = c.decoder_inputs.mask_input;
  if (!from) return undefined;
  const k = from.case0_best_multimask_index + 1;
  const plane = 256 * 256;
  const low = await lowResByCase.get(from.from);
  if (!low) throw new Error(`${c.id}: ${from.from} must run first`);
  return low.slice(k * plane, (k + 1) * plane);
}

describe('the SAM 2.1 decoder from the predictor\'s own prompt tensors', () => {
  for (const image of images) {
    for (const c of image.cases) {
      it(`reproduces ${c.id}: IoU within 1e-5, object score${c.decoder_outputs.low_res_masks ? ' and all 4 low-res logits' : ''} within 1e-4`, async () => {
        const img = await imageOf(image.image);
        const maps = splitSam2Features(await featuresOf(image.image));
        const run = sam.decoder.run(decoderFeedsOf(c, maps, img, await maskInputOf(c)));
        lowResByCase.set(c.id, run.then((o) => o.low_res_masks!.data as Float32Array));
        const out = await run;
        expect(note('iou', maxAbsDiff(out.iou_predictions!.data as Float32Array, readF32(c.decoder_outputs.iou_predictions).data))).toBeLessThan(1e-5);
        expect(note('object_score', maxAbsDiff(out.object_score_logits!.data as Float32Array, readF32(c.decoder_outputs.object_score_logits).data))).toBeLessThan(1e-4);
        if (c.decoder_outputs.low_res_masks) {
          const ref = readF32(c.decoder_outputs.low_res_masks);
          expect(out.low_res_masks!.dims).toEqual(ref.shape);
          expect(note('low_res_logits', maxAbsDiff(out.low_res_masks!.data as Float32Array, ref.data))).toBeLessThan(1e-4);
        }
      });
    }
  }
});

describe('the whole SAM 2.1 pipeline from the PNG files (engine path)', () => {
  for (const image of images) {
    for (const c of image.cases) {
      it(`agrees with the official predictor's masks of ${c.id} in both output modes, best = token ${c.single_output_token}`, async () => {
        const img = await imageOf(image.image);
        const feats = await featuresOf(image.image);
        const prompt = sam2PromptOf(c.prompt);
        const refine = c.decoder_inputs.mask_input;
        if (refine) {
          // the engine's own refinement: feed back what the engine returned for case0
          const prev = await runDecoder(sam, feats, sam2PromptOf(image.cases.find((x) => x.id === refine.from)!.prompt), img.width, img.height);
          const k = refine.case0_best_multimask_index + 1;
          prompt.maskInput = prev.lowResMasks.slice(k * 65536, (k + 1) * 65536);
        }
        const r = await runDecoder(sam, feats, prompt, img.width, img.height);
        // multimask_output=True: tokens 1..3
        const multiScores = readF32(c.predictor_multimask.scores).data;
        for (let k = 1; k <= 3; k++) {
          const ref = await readMaskPng(sam2Fixture(c.predictor_multimask.masks_png[k - 1]!));
          const a = masksAgree(r.masks[k]!, ref.data);
          expect(a.agree, `multimask ${k}: ${a.differing} pixels differ, IoU ${a.iou}`).toBe(true);
          expect(note('predictor_scores', Math.abs(r.iouPredictions[k]! - multiScores[k - 1]!))).toBeLessThan(1e-5);
        }
        // multimask_output=False: token 0 or the stability fallback's choice
        expect(r.best).toBe(c.single_output_token);
        const single = await readMaskPng(sam2Fixture(c.predictor_single.mask_png));
        const a = masksAgree(r.masks[r.best]!, single.data);
        expect(a.agree, `single mask: ${a.differing} pixels differ, IoU ${a.iou}`).toBe(true);
        expect(Math.abs(r.iouPredictions[r.best]! - readF32(c.predictor_single.scores).data[0]!)).toBeLessThan(1e-5);
        expect(r.objectScore).toBeCloseTo(readF32(c.decoder_outputs.object_score_logits).data[0]!, 4);
        // the UI's cropped postprocessing gives the graph's masks and the same choice
        const p = await runPredict(sam, feats, prompt, img.width, img.height);
        for (let k = 0; k < 4; k++) expect(masksAgree(fullMaskFromCrop(p.masks[k]!, img.width, img.height), r.masks[k]!).differing).toBeLessThanOrEqual(2);
        expect(p.best).toBe(r.best);
      });
    }
  }
});
