/**
 * Quantizing an imported encoder that does its own preprocessing (HxWx3 input on the 0-255
 * scale, as samexporter's --use-preprocess writes): calibration must feed it the model
 * directory's input, as inference does, not our 1x3x1024x1024 normalised tensor.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, saveModel } from '../../main/onnx/index.ts';
import { evaluate } from '../../main/ptq4sam/eval.ts';
import { listImageFiles } from '../../main/base/index.ts';
import { quantizeModelDir } from '../../main/ptq4sam/pipeline.ts';
import type { QuantReport } from '../../main/ptq4sam/report.ts';
import { importModel } from '../../main/sam/model-dir.ts';
import { calibrationPromptSet, SAM_TINY, samTinyModelDir, withBakedPreprocessing } from '../helpers/sam-tiny.ts';

let work: string;
let fp32: { dir: string; cleanup: () => void };
let calib: string;
let out: string;
let report: QuantReport;

beforeAll(async () => {
  fp32 = await samTinyModelDir();
  work = mkdtempSync(join(tmpdir(), 'ptq4sam-hwc-'));
  calib = join(work, 'calib');
  mkdirSync(calib);
  for (const f of ['landscape.png', 'portrait.png', 'large.png']) copyFileSync(join(SAM_TINY, f), join(calib, f));
  const src = join(work, 'export');
  mkdirSync(src);
  saveModel(withBakedPreprocessing(loadModel(join(fp32.dir, 'encoder.onnx'))), join(src, 'encoder.onnx'));
  copyFileSync(join(fp32.dir, 'decoder.onnx'), join(src, 'decoder.onnx'));
  const imported = join(work, 'imported');
  mkdirSync(imported);
  await importModel(src, imported);
  out = join(work, 'q8');
  mkdirSync(out);
  report = await quantizeModelDir({ modelDir: imported, calibDir: calib, outDir: out, bits: { w: 8, a: 8 }, method: 'ptq4sam', measureImages: 1 });
});

afterAll(() => {
  fp32.cleanup();
  rmSync(work, { recursive: true, force: true });
});

describe('quantizing an encoder with its own preprocessing', () => {
  it('keeps the imported layout: an HxWx3 input named as the export named it', () => {
    const info = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect(info.preprocessing.kind).toBe('sam-hwc-resized');
    expect(info.preprocessing.encoderInput).toBe('image');
    expect(report.big.folded.length).toBe(3);
  });

  it('agrees with the fp32 model of the usual layout at mean IoU >= 0.95 (same images, same prompts)', async () => {
    const files = listImageFiles(calib);
    const r = await evaluate(out, fp32.dir, files, { prompts: await calibrationPromptSet(files) });
    expect(r.prompts).toBe(12);
    expect(r.mean_iou).toBeGreaterThanOrEqual(0.95);
    expect(r.embedding_rel_error).toBeLessThan(0.1);
  });
});
