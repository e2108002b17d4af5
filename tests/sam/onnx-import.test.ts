/**
 * SAM ONNX pairs as other tools export them: an encoder with preprocessing baked in (HxWx3
 * input, as samexporter's --use-preprocess writes) and a single-mask decoder (K = 1).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../main/onnx/builder.ts';
import { loadModel, saveModel } from '../../main/onnx/model-io.ts';
import { makeTensor, tensorToFloat32 } from '../../main/onnx/tensor.ts';
import type { ModelProto } from '../../main/onnx/proto.ts';
import { readNpy, readNpyFloat32 } from '../../main/sam/npy.ts';
import { importModel } from '../../main/sam/model-dir.ts';
import { runCli } from '../helpers/cli.ts';
import { maxAbsDiff, SAM_TINY, samTinyModelDir, withBakedPreprocessing } from '../helpers/sam-tiny.ts';

let model: { dir: string; cleanup: () => void };
const work = mkdtempSync(join(tmpdir(), 'onnx-import-'));
beforeAll(async () => { model = await samTinyModelDir(); });
afterAll(() => { model.cleanup(); rmSync(work, { recursive: true, force: true }); });

/** Keeps decoder output 0 only, as a single-mask export whose prompt forces mask 0. */
function singleMask(decoder: ModelProto): ModelProto {
  const g = decoder.graph!;
  const b = new GraphBuilder({ constPrefix: 'single_' });
  for (const name of ['masks', 'iou_predictions', 'low_res_masks']) {
    const node = g.node!.find((n) => n.output?.[0] === name)!;
    node.output = [`${name}_all`];
    b.op('Slice', [`${name}_all`, b.constI64([0]), b.constI64([1]), b.constI64([1])], {}, { outputs: [name] });
  }
  g.node = [...(g.node ?? []), ...b.nodes];
  g.initializer = [...(g.initializer ?? []), ...b.initializers];
  for (const o of g.output!) o.type!.tensorType!.shape!.dim![1] = { dimValue: 1 };
  return decoder;
}

/**
 * The decoder as onnxruntime's quantize_dynamic leaves it (samexporter's and X-AnyLabeling's int8
 * SAMs): each MatMul with a 2-D constant weight becomes DynamicQuantizeLinear on its input,
 * MatMulInteger with the weight as uint8 codes, and a float rescale.
 */
function dynamicallyQuantized(decoder: ModelProto): { model: ModelProto; replaced: number } {
  const g = decoder.graph!;
  const weights = new Map(g.initializer!.map((t) => [t.name!, t]));
  const b = new GraphBuilder({ constPrefix: 'dq_' });
  const nodes = [];
  let replaced = 0;
  for (const node of g.node!) {
    const w = node.opType === 'MatMul' ? weights.get(node.input![1]!) : undefined;
    if (!w || w.dims!.length !== 2) { nodes.push(node); continue; }
    const values = tensorToFloat32(w);
    let lo = 0;
    let hi = 0;
    for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const scale = (hi - lo) / 255 || 1;
    const zero = Math.round(-lo / scale);
    const codes = Uint8Array.from(values, (v) => Math.min(255, Math.max(0, Math.round(v / scale) + zero)));
    const [xq, xs, xz] = b.opMulti('DynamicQuantizeLinear', [node.input![0]!], {}, { outputs: 3 }) as [string, string, string];
    const wq = `${w.name}_quantized`;
    b.initializers.push(makeTensor(wq, w.dims!.map(Number), codes));
    const wz = `${w.name}_zero_point`;
    b.initializers.push(makeTensor(wz, [], Uint8Array.of(zero)));
    const product = b.op('MatMulInteger', [xq, wq, xz, wz]);
    const rescale = b.op('Mul', [xs, b.constF([scale])]);
    b.op('Mul', [b.op('Cast', [product], { to: 1 }), rescale], {}, { outputs: [node.output![0]!] });
    nodes.push(...b.nodes.splice(0));
    replaced++;
  }
  g.node = nodes;
  g.initializer = [...g.initializer!, ...b.initializers];
  return { model: decoder, replaced };
}

describe('importing SAM ONNX pairs from other exporters', () => {
  it('labels a pair quantized elsewhere by what its graphs compute in, and segments with it', async () => {
    const src = join(work, 'dynamic');
    mkdirSync(src);
    saveModel(loadModel(join(model.dir, 'encoder.onnx')), join(src, 'encoder.onnx'));
    const { model: quantized, replaced } = dynamicallyQuantized(loadModel(join(model.dir, 'decoder.onnx')));
    expect(replaced).toBeGreaterThan(10);
    saveModel(quantized, join(src, 'decoder.onnx'));
    const out = join(work, 'dynamic-model');
    mkdirSync(out);
    const info = await importModel(src, out);
    expect(info.quantization).toEqual({ method: 'imported', precision: 'int8 dynamic (imported)' });
    const r = runCli(['segment', '--model', out, '--image', join(SAM_TINY, 'landscape.png'), '--point', '160,120,1', '--out', join(work, 'dynamic-out')]);
    expect(r.stderr).toBe('');
    const result = JSON.parse(readFileSync(join(work, 'dynamic-out', 'result.json'), 'utf8'));
    expect(result.iou_predictions).toHaveLength(4);
    expect(result.iou_predictions.every(Number.isFinite)).toBe(true);
    // a float pair carries no such record
    mkdirSync(join(work, 'float-model'));
    expect((await importModel(model.dir, join(work, 'float-model'))).quantization).toBeUndefined();
  });


  it('runs an encoder with baked-in preprocessing and gives the same embedding', async () => {
    const src = join(work, 'hwc');
    mkdirSync(src);
    saveModel(withBakedPreprocessing(loadModel(join(model.dir, 'encoder.onnx'))), join(src, 'encoder.onnx'));
    saveModel(loadModel(join(model.dir, 'decoder.onnx')), join(src, 'decoder.onnx'));
    const out = join(work, 'hwc-model');
    mkdirSync(out);
    // a config names a checkpoint's sizes: with a pair it would be ignored, so it is refused
    writeFileSync(join(work, 'config.json'), '{"encoder_embed_dim": 768}');
    await expect(importModel(src, out, { configPath: join(work, 'config.json') })).rejects.toThrow(`${join(work, 'config.json')}: a config applies to a checkpoint (.pth) only; ${src} is an ONNX pair`);
    const info = await importModel(src, out);
    expect(info.preprocessing.kind).toBe('sam-hwc-resized');
    expect(info.preprocessing.encoderInput).toBe('image');
    const npy = join(work, 'hwc.npy');
    const r = runCli(['embed', '--model', out, '--image', join(SAM_TINY, 'landscape.png'), '--out', npy]);
    expect(r.stderr).toBe('');
    expect(maxAbsDiff(readNpyFloat32(npy).data, readNpyFloat32(join(SAM_TINY, 'landscape.embedding.npy')).data)).toBeLessThan(1e-4);
  });

  it('segments with a single-mask decoder: K = 1 in every output file', () => {
    const src = join(work, 'single');
    mkdirSync(src);
    saveModel(loadModel(join(model.dir, 'encoder.onnx')), join(src, 'encoder.onnx'));
    saveModel(singleMask(loadModel(join(model.dir, 'decoder.onnx'))), join(src, 'decoder.onnx'));
    const dir = join(work, 'single-model');
    expect(runCli(['model', 'import', src, '--out', dir]).code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')).masks).toBe(1);
    const out = join(work, 'single-seg');
    const r = runCli(['segment', '--model', dir, '--image', join(SAM_TINY, 'landscape.png'), '--point', '100,80,1', '--out', out]);
    expect(r.stderr).toBe('');
    expect(readNpy(join(out, 'masks.npy')).shape).toEqual([1, 240, 320]);
    expect(readNpy(join(out, 'low_res_masks.npy')).shape).toEqual([1, 1, 256, 256]);
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    expect(result.iou_predictions).toHaveLength(1);
    expect(result).toMatchObject({ best: 0, masks: ['mask-0.png'] });
  });
});
