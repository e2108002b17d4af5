/** ONNX files: round trips, external data for large models, clear errors. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../main/onnx/builder.ts';
import { encodeModel, encodeSelfContained, loadModel, saveModel } from '../../main/onnx/model-io.ts';
import { AttributeType, DataLocation } from '../../main/onnx/proto.ts';
import { tensorToFloat32 } from '../../main/onnx/tensor.ts';
import { float32ToFloat16Bits, float16BitsToFloat32 } from '../../main/onnx/tensor.ts';

const dir = mkdtempSync(join(tmpdir(), 'onnx-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function affineModel() {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['n', 512]);
  const w = Float32Array.from({ length: 512 * 512 }, (_, i) => Math.sin(i));
  const y = b.scope('layer', () => b.op('Add', [b.op('MatMul', [x, b.init('layer.weight', [512, 512], w)]), b.constF([0.5])]));
  b.identity(y, 'y');
  b.output('y', 'float32', ['n', 512]);
  return { model: b.build('affine'), w };
}

async function run(path: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path);
  const x = Float32Array.from({ length: 2 * 512 }, (_, i) => (i % 7) - 3);
  const out = await session.run({ x: new ort.Tensor('float32', x, [2, 512]) });
  return out.y!.data as Float32Array;
}

describe('ONNX model files', () => {
  it('save and load back the same initializers, and onnxruntime runs the file', async () => {
    const { model, w } = affineModel();
    const path = join(dir, 'inline.onnx');
    expect(saveModel(model, path)).toEqual([path]);
    const back = loadModel(path);
    const t = back.graph!.initializer!.find((i) => i.name === 'layer.weight')!;
    expect(tensorToFloat32(t)).toEqual(w);
    const y = await run(path);
    const expected = Array.from({ length: 512 }, (_, k) => ((k % 7) - 3) * Math.fround(Math.sin(k * 512))).reduce((a, b) => a + b, 0.5);
    expect(y[0]).toBeCloseTo(expected, 3);
  });

  it('keep weights in an external data file when asked, which onnxruntime and the loader both read', async () => {
    const { model, w } = affineModel();
    const inline = join(dir, 'a.onnx');
    const external = join(dir, 'b.onnx');
    saveModel(model, inline);
    const files = saveModel(model, external, { externalData: true });
    expect(files).toEqual([external, `${external}.data`]);
    expect(statSync(external).size).toBeLessThan(4096);
    expect(statSync(`${external}.data`).size).toBeGreaterThanOrEqual(512 * 512 * 4);
    // the in-memory model is unchanged by saving
    expect(tensorToFloat32(model.graph!.initializer!.find((i) => i.name === 'layer.weight')!)).toEqual(w);
    expect(await run(external)).toEqual(await run(inline));
    const back = loadModel(external);
    expect(tensorToFloat32(back.graph!.initializer!.find((i) => i.name === 'layer.weight')!)).toEqual(w);
  });

  it('name the file when external data is missing or truncated', () => {
    const { model } = affineModel();
    const path = join(dir, 'c.onnx');
    saveModel(model, path, { externalData: true });
    const data = readFileSync(`${path}.data`);
    writeFileSync(`${path}.data`, data.subarray(0, 1000));
    expect(() => loadModel(path)).toThrow(/c\.onnx: external data c\.onnx\.data is truncated/);
    rmSync(`${path}.data`);
    expect(() => loadModel(path)).toThrow(/external data file c\.onnx\.data not found/);
  });

  it('reject a file that is not ONNX with its name', () => {
    const path = join(dir, 'garbage.onnx');
    writeFileSync(path, Buffer.from('this is not a protobuf at all, just text'));
    expect(() => loadModel(path)).toThrow(/garbage\.onnx: not a valid ONNX model/);
    expect(existsSync(path)).toBe(true);
  });

  it('convert float16 bits both ways with round-to-nearest-even', () => {
    const values = Float32Array.of(0, 1, -2, 65504, 1e-8, 0.1, 3.14159, 70000, -Infinity);
    const back = float16BitsToFloat32(float32ToFloat16Bits(values));
    expect(Array.from(back)).toEqual([0, 1, -2, 65504, 0, 0.0999755859375, 3.140625, Infinity, -Infinity]);
  });
});

describe('external data from other people', () => {
  /** A model folder `<name>/model.onnx` with external data, and a sibling `<name>-evil/secret`. */
  function externalModelDir(name: string): { path: string; folder: string } {
    const folder = join(dir, name);
    mkdirSync(folder);
    const path = join(folder, 'model.onnx');
    saveModel(affineModel().model, path, { externalData: true });
    mkdirSync(`${folder}-evil`);
    writeFileSync(join(`${folder}-evil`, 'secret'), readFileSync(`${path}.data`));
    return { path, folder };
  }

  /** Sets `key` of every external tensor's entries (and saves the file back). */
  function rewriteExternal(path: string, key: string, value: string): void {
    const model = loadModel(path, { loadExternalData: false });
    for (const t of model.graph!.initializer!) {
      for (const e of t.externalData ?? []) if (e.key === key) e.value = value;
    }
    writeFileSync(path, encodeModel(model));
  }

  it('refuses a location in a sibling folder whose name starts with the model folder', () => {
    const { path } = externalModelDir('sibling');
    rewriteExternal(path, 'location', '../sibling-evil/secret');
    expect(() => loadModel(path)).toThrow(`${path}: external data path escapes the model folder: ../sibling-evil/secret`);
    expect(() => loadModel(path, { loadExternalData: false })).toThrow(/escapes the model folder/);
  });

  it('refuses a data file that is a symbolic link, even one pointing at the right bytes', () => {
    const { path, folder } = externalModelDir('linked');
    rmSync(`${path}.data`);
    symlinkSync(join(`${folder}-evil`, 'secret'), `${path}.data`);
    expect(() => loadModel(path)).toThrow(`${path}: external data file model.onnx.data is a symbolic link; copy the file into the model folder`);
  });

  it.each([['offset', '-8'], ['offset', 'abc'], ['length', '1e3'], ['length', '-1']])('names a %s of "%s"', (key, value) => {
    const { path } = externalModelDir(`number-${key}-${value}`);
    rewriteExternal(path, key, value);
    expect(() => loadModel(path)).toThrow(`external data ${key} "${value}" is not a non-negative integer`);
  });

  it('names a length beyond the end of the data file', () => {
    const { path } = externalModelDir('huge');
    rewriteExternal(path, 'length', '99999999999');
    expect(() => loadModel(path)).toThrow(/external data model\.onnx\.data is truncated \(tensor layer\.weight needs bytes \d+\.\.\d+, file has \d+\)/);
  });

  it('checks tensors in node attributes and subgraphs too', () => {
    const { path } = externalModelDir('attribute');
    const model = loadModel(path);
    const escaping = { name: 'hidden', dims: [1], dataType: 1, dataLocation: DataLocation.EXTERNAL, externalData: [{ key: 'location', value: '../attribute-evil/secret' }, { key: 'length', value: '4' }] };
    const inner = { name: 'then', node: [{ opType: 'Constant', output: ['c'], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: escaping }] }] };
    model.graph!.node!.push({ opType: 'If', input: ['cond'], output: ['unused'], attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: inner }] });
    writeFileSync(path, encodeModel(model));
    expect(() => loadModel(path)).toThrow(`${path}: external data path escapes the model folder: ../attribute-evil/secret`);
  });

  it('refuses to give onnxruntime bytes that still refer to external data', () => {
    const { path } = externalModelDir('bytes');
    expect(() => encodeSelfContained(loadModel(path, { loadExternalData: false }), 'model.onnx')).toThrow('model.onnx: tensor layer.weight still refers to external data; load the model with its data first');
    expect(encodeSelfContained(loadModel(path), 'model.onnx').length).toBeGreaterThan(512 * 512 * 4);
  });
});
