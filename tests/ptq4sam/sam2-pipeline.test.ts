/**
 * PTQ4SAM on SAM 2.1: the fixture's reduced Hiera model quantized w8a8 with BIG and AGQ on its
 * three images. The fixture planted a +-3 per-channel k_proj bias in each of the decoder's three
 * token-to-image attentions (a bimodal key statistic that leaves the outputs unchanged).
 *
 * BIG folds on the KDE test of K's per-channel centres (main/ptq4sam/big.ts) and must find
 * exactly the three. The paper's test (one KDE over all of K, reported as `paper_bimodal`) sees
 * two: layer 0's keys are the un-normalised image embedding (plus no_mem_embed, no_mask_embed
 * and the positional encoding), with a within-channel std of 2.03 on landscape.png and channel
 * means (planted offset removed) spread by 1.79, against 1.02 / 0.71 for layer 1 and 0.90 / 0.80
 * for the final attention, so the +-3 modes merge into one peak of the pooled KDE on every
 * fixture image and prompt, while the 128 channel means keep two. The same decoder with the
 * planted offsets taken out again (bias - 3 sign(bias): every planted |bias| is 2.85..3.19, the
 * originals under 0.2) must have none flagged.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, loadModel, makeTensor, tensorToFloat32, type ITensorProto } from '../../main/onnx/index.ts';
import { BIG_DECISION } from '../../main/ptq4sam/big.ts';
import { calibrate } from '../../main/ptq4sam/calibrate.ts';
import { mergeBuilder } from '../../main/ptq4sam/emit/merge.ts';
import { getMethod } from '../../main/ptq4sam/methods/index.ts';
import { automaticPrompts } from '../../main/ptq4sam/prompts.ts';
import { planQuantization } from '../../main/ptq4sam/registry.ts';
import { decodeImage } from '../../main/sam/image/index.ts';
import { listImageFiles } from '../../main/base/index.ts';
import { quantizeModelDir } from '../../main/ptq4sam/pipeline.ts';
import type { QuantReport } from '../../main/ptq4sam/report.ts';
import { DECODER_FILE, ENCODER_FILE, readModelInfo } from '../../main/sam/model-dir.ts';
import { sam2Fixture, sam2TinyModelDir } from '../helpers/sam2-tiny.ts';

const PLANTED = [
  'sam_mask_decoder.transformer.layers.0.cross_attn_token_to_image',
  'sam_mask_decoder.transformer.layers.1.cross_attn_token_to_image',
  'sam_mask_decoder.transformer.final_attn_token_to_image',
];
/** the planted attentions whose K the paper's pooled KDE test finds bimodal (see above) */
const PAPER_DETECTED = PLANTED.slice(1);

let work: string;
let fp32: { dir: string; cleanup: () => void };
let calib: string;
let q8: string;
let report: QuantReport;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ptq4sam-sam2-'));
  calib = join(work, 'calib');
  q8 = join(work, 'q8');
  mkdirSync(calib);
  mkdirSync(q8);
  for (const f of ['landscape.png', 'portrait.png', 'large.png']) copyFileSync(sam2Fixture(f), join(calib, f));
  fp32 = await sam2TinyModelDir();
  report = await quantizeModelDir({ modelDir: fp32.dir, calibDir: calib, outDir: q8, bits: { w: 8, a: 8 }, method: 'ptq4sam' });
});
afterAll(() => {
  fp32.cleanup();
  rmSync(work, { recursive: true, force: true });
});

describe('PTQ4SAM w8a8 on the SAM 2.1 fixture', () => {
  it('BIG examines exactly the three planted attentions and folds all three (the paper\'s pooled test sees two)', () => {
    expect(report.big.examined.map((e) => e.module).sort()).toEqual([...PLANTED].sort());
    expect([...report.big.bimodal].sort()).toEqual([...PLANTED].sort());
    expect([...report.big.folded].sort()).toEqual([...PLANTED].sort());
    expect([...report.big.paper_bimodal].sort()).toEqual([...PAPER_DETECTED].sort());
    for (const e of report.big.examined) expect(e).toMatchObject({ votes: 3, of: 3 });
    expect(report.big.test).toBe(BIG_DECISION);
  });

  it('BIG flags none of the three once the planted offsets are taken out of the same decoder', async () => {
    const decoder = loadModel(join(fp32.dir, DECODER_FILE));
    const unplanted = new Map<string, ITensorProto>();
    for (const m of PLANTED) {
      const name = `${m}.k_proj.bias`;
      const bias = tensorToFloat32(decoder.graph!.initializer!.find((t) => t.name === name)!);
      expect(Math.min(...bias.map(Math.abs))).toBeGreaterThan(2.5);
      unplanted.set(name, makeTensor(name, [bias.length], bias.map((b) => b - 3 * Math.sign(b))));
    }
    const plain = mergeBuilder(decoder, new GraphBuilder(), 'unplant', { initializers: unplanted });
    const encoder = loadModel(join(fp32.dir, ENCODER_FILE));
    const images = await Promise.all(listImageFiles(calib).map(async (path) => {
      const img = await decodeImage(path);
      return { path, image: () => decodeImage(path), prompts: automaticPrompts(img.width, img.height) };
    }));
    const info = readModelInfo(fp32.dir);
    const cal = await calibrate(encoder, plain, planQuantization(encoder, plain), images, {
      method: getMethod('ptq4sam'), preprocessing: info.preprocessing.kind, family: info.family, activationBits: 8, big: true,
      agq: { encoder: false, decoder: false }, bigImages: 8, sampleSize: 4096, agqMacBudget: 1_000_000,
    });
    expect(cal.big.map((b) => b.module).sort()).toEqual([...PLANTED].sort());
    for (const b of cal.big) expect(b).toMatchObject({ paperBimodal: false, votes: [false, false, false], bimodal: false, folded: false });
  });

  it('quantizes Hiera\'s and the decoder\'s linears as integer kernels and searches AGQ on the decoder softmaxes', () => {
    expect(report.quantized_layers).toBeGreaterThan(0);
    expect(Object.values(report.integer_ops).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(report.integer_products_expected);
    expect(report.agq.map((a) => a.name)).toEqual(expect.arrayContaining(PLANTED));
    expect(report.size_bytes.quantized).toBeLessThan(report.size_bytes.fp32);
    expect(readModelInfo(q8)).toMatchObject({ family: 'sam2.1', quantization: { method: 'ptq4sam', bits: { w: 8, a: 8 } } });
  });

  it('segments the fixture images close to fp32 (mean mask IoU reported and guarded)', () => {
    // the quantizer's own measurement: eval's default prompts on the three images against fp32
    const r = report.fidelity;
    expect([...(r.images ?? [])].sort()).toEqual(listImageFiles(calib).map((f) => basename(f)).sort());
    console.log(`SAM 2.1 fixture, ptq4sam w8a8 vs fp32: mean IoU ${r.mean_iou.toFixed(4)}, min ${r.min_iou.toFixed(4)} over ${r.prompts} prompts; feature rel. error ${r.embedding_rel_error.toFixed(4)}`);
    expect(r.prompts).toBe(3 * 7);
    // measured 0.993 (min 0.975) here; the fixture keeps token 0 near the 0.98 stability threshold on purpose, so one prompt whose best token flips can pull the mean down
    expect(r.mean_iou).toBeGreaterThanOrEqual(0.88);
  });
});
