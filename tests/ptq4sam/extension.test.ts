/**
 * The quantizer's extension points: a method and an op of a new kind, each registered here in
 * the test (one object, one register call), quantize the sam-tiny model end to end.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, loadModel, type ITensorProto } from '../../main/onnx/index.ts';
import { evaluate } from '../../main/ptq4sam/eval.ts';
import { listImageFiles } from '../../main/base/index.ts';
import { weightInitializers } from '../../main/ptq4sam/emit/context.ts';
import { methodNames, registerMethod, type QuantMethod } from '../../main/ptq4sam/methods/index.ts';
import { registerOp, type OpHandler, type Target, type WeightSite } from '../../main/ptq4sam/ops/index.ts';
import { moduleOf } from '../../main/ptq4sam/ops/linear.ts';
import { quantizeModelDir } from '../../main/ptq4sam/pipeline.ts';
import type { QuantReport } from '../../main/ptq4sam/report.ts';
import { calibrationPromptSet, SAM_TINY, samTinyModelDir } from '../helpers/sam-tiny.ts';
import { QUANT_METHODS } from '../../preload/contract/enums.ts';

/** Symmetric ranges: [-m, m] with m the largest |x| seen over all images. */
const absMax: QuantMethod = {
  name: 'toy-absmax',
  observer: () => {
    let m = 0;
    return {
      observeImage: (passes) => { for (const p of passes) m = Math.max(m, Math.abs(p.min), Math.abs(p.max)); },
      range: () => ({ lo: -m, hi: m }),
    };
  },
  weights: { range: 'minmax' },
};

/** The mask decoder's IoU head (float in every built-in method): weight-only int8, float MatMul. */
const iouHead: OpHandler<Target & { weight: WeightSite }> = {
  kind: 'toy-iou-head',
  match(node, ctx) {
    const module = moduleOf(node.name ?? '');
    const [, w] = node.input ?? [];
    if (node.opType !== 'MatMul' || !/^mask_decoder\.iou_prediction_head\./.test(module) || !w || ctx.constants.get(w)?.length !== 2) return null;
    return { kind: 'toy-iou-head', graph: ctx.graph, node: node.name ?? '', module, activations: [], weight: { name: w, channelAxis: 1 } };
  },
  emit(ctx, t, node) {
    const { codes, scales, zeros } = weightInitializers(ctx, t.weight.name);
    const w = ctx.b.op('DequantizeLinear', [codes, scales, zeros], { axis: 1 }, { name: `${t.module}/weight/DequantizeLinear` });
    ctx.b.nodes.push({ ...node, input: [node.input![0]!, w] });
    return false;
  },
};

let work: string;
let model: { dir: string; cleanup: () => void };
let calib: string;
let out: string;
let report: QuantReport;

beforeAll(async () => {
  registerMethod(absMax);
  registerOp(iouHead);
  model = await samTinyModelDir();
  work = mkdtempSync(join(tmpdir(), 'ptq4sam-extension-'));
  calib = join(work, 'calib');
  out = join(work, 'toy');
  mkdirSync(calib);
  mkdirSync(out);
  for (const f of ['landscape.png', 'portrait.png', 'large.png']) copyFileSync(join(SAM_TINY, f), join(calib, f));
  report = await quantizeModelDir({ modelDir: model.dir, calibDir: calib, outDir: out, bits: { w: 8, a: 8 }, method: 'toy-absmax', measureImages: 1 });
});

afterAll(() => {
  model.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const initializers = (file: string): ITensorProto[] => loadModel(join(out, file)).graph!.initializer ?? [];

/** A uint8 initializer's values (zero points are stored as raw bytes or, by some writers, int32_data). */
function uint8Values(t: ITensorProto): number[] {
  expect(t.dataType).toBe(DataType.UINT8);
  return t.rawData && t.rawData.length > 0 ? Array.from(t.rawData) : [...(t.int32Data ?? [])];
}

describe('a method registered in a test', () => {
  it('is offered by name after the built-in ones, and a second one of the same name is refused', () => {
    // the built-in ones are the contract's list (the app's menus), in its order
    expect(methodNames()).toEqual([...QUANT_METHODS, 'toy-absmax']);
    expect(QUANT_METHODS).toEqual(['ptq4sam', 'minmax', 'percentile', 'omse', 'gptq']);
    expect(() => registerMethod({ ...absMax })).toThrow(/toy-absmax is already registered/);
  });

  it('sets every activation grid: symmetric ranges put each 8-bit zero point mid-range (softmax outputs included)', () => {
    const zeros = [...initializers('encoder.onnx'), ...initializers('decoder.onnx')]
      .filter((t) => t.name?.endsWith(':input/zero_point') || /:(q|k|v|softmax)\/zero_point$/.test(t.name ?? ''));
    expect(zeros.length).toBeGreaterThan(20);
    // -m / (2m / 255) = -127.5 up to rounding of the scale
    for (const z of zeros) expect([[127], [128]]).toContainEqual(uint8Values(z));
  });

  it('has none of PTQ4SAM\'s switches: no BIG, no AGQ, a uniform softmax', () => {
    expect(report.method).toBe('toy-absmax');
    expect(report.big.examined).toEqual([]);
    expect(report.agq).toEqual([]);
    expect(report.softmax).toBe('uniform');
  });
});

describe('an op of a new kind registered in a test', () => {
  it('targets the IoU head and stores its three weights as int8 codes instead of float', () => {
    const decoder = new Map(initializers('decoder.onnx').map((t) => [t.name, t]));
    for (const l of [0, 1, 2]) {
      const name = `mask_decoder.iou_prediction_head.layers.${l}.weight`;
      expect(decoder.get(`ptq4sam/${name}/quantized`)?.dataType).toBe(report.weight_codes === 'uint8' ? DataType.UINT8 : DataType.INT8);
      expect(decoder.has(name)).toBe(false);
      expect(decoder.has(`ptq4sam/${name}/float16`)).toBe(false);
    }
    expect(report.quantized_layers).toBeGreaterThan(3);
  });

  it('still agrees with fp32 on the fixture images, integer kernels included', async () => {
    expect(Object.values(report.integer_ops).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(report.integer_products_expected);
    const files = listImageFiles(calib);
    const r = await evaluate(out, model.dir, files, { prompts: await calibrationPromptSet(files) });
    expect(r.prompts).toBe(12);
    expect(r.mean_iou).toBeGreaterThanOrEqual(0.9);
  });
});
