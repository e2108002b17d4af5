/**
 * The quantizer judged on images it never saw: sam-shapes (trained) quantized w8a8 with ptq4sam,
 * calibrated only on the fixture's calibration split and evaluated on its held-out split
 * (tests/helpers/sam-shapes.ts), with the default prompt set and against ground truth.
 * The numbers are printed so each run shows what is measured.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileSha256 } from '../../main/base/index.ts';
import { evaluate, type EvalResult } from '../../main/ptq4sam/eval.ts';
import { listImageFiles } from '../../main/base/index.ts';
import { quantizeModelDir } from '../../main/ptq4sam/pipeline.ts';
import type { QuantReport } from '../../main/ptq4sam/report.ts';
import { importCheckpoint } from '../../main/sam/model-dir.ts';
import { readGroundTruth } from '../../main/cli/eval.ts';
import { CALIBRATION_SPLIT, HELD_OUT_SPLIT, imageFolder, SAM_SHAPES, writeGroundTruthCoco } from '../helpers/sam-shapes.ts';
import { SAM_SHAPES_FIXTURE } from '../helpers/sam-tiny.ts';

const PLANTED = [
  'mask_decoder.transformer.layers.0.cross_attn_token_to_image',
  'mask_decoder.transformer.layers.1.cross_attn_token_to_image',
  'mask_decoder.transformer.final_attn_token_to_image',
];

let work: string;
let fp32: string;
let q8: string;
let report: QuantReport;
let result: EvalResult;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'held-out-test-'));
  fp32 = join(work, 'fp32');
  q8 = join(work, 'q8');
  mkdirSync(fp32);
  mkdirSync(q8);
  await importCheckpoint(SAM_SHAPES_FIXTURE.pth, fp32, { configPath: SAM_SHAPES_FIXTURE.config });
  const calib = imageFolder(join(work, 'calib'), CALIBRATION_SPLIT);
  const heldOut = imageFolder(join(work, 'held-out'), HELD_OUT_SPLIT);
  report = await quantizeModelDir({ modelDir: fp32, calibDir: calib, outDir: q8, bits: { w: 8, a: 8 }, method: 'ptq4sam' });
  const images = listImageFiles(heldOut);
  const gt = await readGroundTruth(await writeGroundTruthCoco(join(work, 'gt'), HELD_OUT_SPLIT), images);
  result = await evaluate(q8, fp32, images, { gt });
  const f = (v: number | null) => (v === null ? '-' : v.toFixed(4));
  const k = result.by_kind;
  const g = result.gt!;
  console.log([
    `sam-shapes w8a8 ptq4sam, calibrated on ${CALIBRATION_SPLIT.join(', ')}, held out ${HELD_OUT_SPLIT.join(', ')}:`,
    `  IoU vs fp32, points: mean ${f(k.points.mean_iou)} min ${f(k.points.min_iou)} n ${k.points.n}`
      + ` (fp32 mask not empty: ${f(k.points.nonempty_reference.mean_iou)}, n ${k.points.nonempty_reference.n})`,
    `  IoU vs fp32, boxes:  mean ${f(k.boxes.mean_iou)} min ${f(k.boxes.min_iou)} n ${k.boxes.n}`
      + ` (fp32 mask not empty: ${f(k.boxes.nonempty_reference.mean_iou)}, n ${k.boxes.nonempty_reference.n})`,
    `  embedding relative error ${result.embedding_rel_error.toExponential(3)}`,
    `  against GT (${g.objects} objects): clicks mIoU ${f(g.model.clicks.miou)} (fp32 ${f(g.reference.clicks.miou)}),`
      + ` mask AP ${f(g.model.clicks.mask_ap)} (fp32 ${f(g.reference.clicks.mask_ap)});`
      + ` boxes mIoU ${f(g.model.boxes.miou)} (fp32 ${f(g.reference.boxes.miou)}), mask AP ${f(g.model.boxes.mask_ap)} (fp32 ${f(g.reference.boxes.mask_ap)})`,
  ].join('\n'));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('sam-shapes w8a8 ptq4sam on held-out images', () => {
  it('records its calibration images, and eval knows the held-out split was not among them', () => {
    const json = JSON.parse(readFileSync(join(q8, 'report.json'), 'utf8')) as QuantReport;
    expect(json.calibration.image_sha256).toEqual(CALIBRATION_SPLIT.map((n) => fileSha256(join(SAM_SHAPES, n))));
    expect(result.held_out).toBe(true);
    expect(result.calibration_overlap).toEqual([]);
  });

  // The target is 0.97. With the choices re-decided on the validation images (README, "Choices
  // re-decided on validation images") the quantizer measures 0.982 here (min 0.926; boxes 0.971;
  // before: 0.939); the held-out images must not be used to tune it.
  it('keeps the point-prompt masks of fp32: mean IoU >= 0.97 (the target)', () => {
    expect(result.by_kind.points.n).toBe(8);
    expect(result.by_kind.points.mean_iou).toBeGreaterThanOrEqual(0.97);
  });

  it('keeps the clicks\' accuracy against ground truth within 1 point of fp32', () => {
    const g = result.gt!;
    expect(g.objects).toBe(8);
    expect(Math.abs(g.model.clicks.miou - g.reference.clicks.miou)).toBeLessThanOrEqual(0.01);
  });

  it('BIG finds exactly the three planted token-to-image attentions of the trained model', () => {
    expect([...report.big.bimodal].sort()).toEqual([...PLANTED].sort());
    expect([...report.big.paper_bimodal].sort()).toEqual([...PLANTED].sort());
    expect([...report.big.folded].sort()).toEqual([...PLANTED].sort());
  });
});
