/**
 * The integer linears and products of two activations compute exact integer products on this machine. onnxruntime's x86 u8 x s8
 * kernel without VNNI adds product pairs in saturating 16 bits; the probe detects it, and the
 * uint8 weight storage chosen then gives the exact product on every CPU.
 */
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { quantizeModelDir } from '../../main/ptq4sam/pipeline.ts';
import { decodeImage } from '../../main/sam/image/index.ts';
import { loadSam, runEncoder } from '../../main/sam/inference.ts';
import { importCheckpoint, readModelInfo, writeModelInfo } from '../../main/sam/model-dir.ts';
import { SAM_TINY } from '../helpers/sam-tiny.ts';
import { DataType, encodeModel, GraphBuilder, loadModel, MS_DOMAIN, type ITensorProto } from '../../main/onnx/index.ts';
import { integerMatMul, weightInitializers, type EmitContext } from '../../main/ptq4sam/emit/context.ts';
import { convertModelFileCodes, signedWeightsSaturate, storeCodes } from '../../main/sam/int8-kernel.ts';
import { mulberry32 } from '../../main/sam/synth.ts';

const [M, K, N] = [32, 64, 24];

/** one linear with the stored weight codes of `unsignedWeights`, run by onnxruntime */
async function integerLinear(a: Uint8Array, aZero: number, codes: Uint8Array, zeros: Uint8Array, unsignedWeights: boolean): Promise<Float32Array> {
  const b = new GraphBuilder();
  const x = b.input('x', 'uint8', [M, K]);
  const ctx = {
    b, weightBits: 8, unsignedWeights, replaced: new Map(),
    inits: new Map<string, ITensorProto>([['w', { name: 'w', dims: [K, N] }]]),
    p: { activations: new Map(), agq: new Map(), weights: new Map([['w', { codes, scales: new Float32Array(N).fill(1), zeroPoints: zeros, error: 0 }]]) },
  } as unknown as EmitContext;
  const w = weightInitializers(ctx, 'w');
  const y = b.op('MatMulIntegerToFloat', [x, w.codes, b.constF([1]), w.scales, b.init('x_zero', [], new Uint8Array([aZero])), w.zeros], {}, { domain: MS_DOMAIN });
  b.identity(y, 'y');
  b.output('y', 'float32', [M, N]);
  const session = await ort.InferenceSession.create(encodeModel(b.build('linear')));
  try {
    return (await session.run({ x: new ort.Tensor('uint8', a, [M, K]) })).y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('8-bit integer linears', () => {
  // large codes on both sides: the pairs that overflow 16 bits in a saturating kernel
  const rand = mulberry32(7);
  const a = Uint8Array.from({ length: M * K }, () => 192 + Math.floor(rand() * 64));
  const codes = Uint8Array.from({ length: K * N }, (_, i) => (i % 3 === 0 ? Math.floor(rand() * 256) : rand() < 0.5 ? 255 : 0));
  const zeros = Uint8Array.from({ length: N }, () => 120 + Math.floor(rand() * 16));
  const aZero = 5;
  const exact = new Float32Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += (a[i * K + k]! - aZero) * (codes[k * N + j]! - zeros[j]!);
    exact[i * N + j] = s;
  }

  it('stored as uint8 give the exact integer product', async () => {
    expect(Array.from(await integerLinear(a, aZero, codes, zeros, true))).toEqual(Array.from(exact));
  });

  it('stored as int8 are exact exactly when the probe says this machine\'s kernel does not saturate', async () => {
    const signed = await integerLinear(a, aZero, codes, zeros, false);
    const saturates = await signedWeightsSaturate();
    process.stdout.write(`this machine's u8 x s8 kernel ${saturates ? 'saturates (no VNNI): 8-bit weights are stored as uint8' : 'is exact: 8-bit weights are stored as int8'}\n`);
    const equal = signed.every((v, i) => v === exact[i]);
    expect(equal).toBe(!saturates);
  });
});

describe('products of two activations', () => {
  // uint8 codes near both ends, the second operand's around a zero point of 130: as int8 codes
  // (q - 128) many pairs of products pass 16 bits, which a saturating kernel clips
  const rand = mulberry32(11);
  const a = Uint8Array.from({ length: M * K }, () => 200 + Math.floor(rand() * 56));
  const c = Uint8Array.from({ length: K * N }, () => (rand() < 0.5 ? Math.floor(rand() * 4) : 252 + Math.floor(rand() * 4)));
  const [aZero, cZero] = [3, 130];
  const exact = new Float32Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let sum = 0;
    for (let k = 0; k < K; k++) sum += (a[i * K + k]! - aZero) * (c[k * N + j]! - cZero);
    exact[i * N + j] = sum;
  }

  /** QuantizeLinear of both float operands on unit grids, then the product integerMatMul writes */
  async function product(signedOperands: boolean): Promise<{ y: Float32Array; operandType: number | undefined }> {
    const b = new GraphBuilder();
    b.input('x', 'float32', [M, K]);
    b.input('z', 'float32', [K, N]);
    const site = (id: string, tensor: string) => ({ id, tensor }) as never;
    const ctx = {
      b, weightBits: 8, unsignedWeights: false, signedOperands, replaced: new Map(), inits: new Map(), quantCache: new Map(),
      p: { activations: new Map([['x', { scale: 1, zeroPoint: aZero, bits: 8 }], ['z', { scale: 1, zeroPoint: cZero, bits: 8 }]]), agq: new Map(), weights: new Map() },
    } as unknown as EmitContext;
    integerMatMul(ctx, site('x', 'x'), site('z', 'z'), 'y', 'product');
    b.output('y', 'float32', [M, N]);
    const model = b.build('product');
    const zeroPoint = model.graph!.initializer!.find((t) => t.name === 'z/zero_point' || t.name === 'z/zero_point_s8');
    const session = await ort.InferenceSession.create(encodeModel(model));
    try {
      // on unit grids the codes of v - z are v
      const x = Float32Array.from(a, (v) => v - aZero), z = Float32Array.from(c, (v) => v - cZero);
      const out = await session.run({ x: new ort.Tensor('float32', x, [M, K]), z: new ort.Tensor('float32', z, [K, N]) });
      return { y: out.y!.data as Float32Array, operandType: zeroPoint?.dataType ?? undefined };
    } finally {
      await session.release();
    }
  }

  it('with a uint8 second operand give the exact integer product', async () => {
    const { y, operandType } = await product(false);
    expect(operandType).toBe(DataType.UINT8);
    expect(Array.from(y)).toEqual(Array.from(exact));
  });

  it('with an int8 second operand are exact exactly when the probe says this machine\'s kernel does not saturate', async () => {
    const { y, operandType } = await product(true);
    expect(operandType).toBe(DataType.INT8);
    expect(y.every((v, i) => v === exact[i])).toBe(!(await signedWeightsSaturate()));
  });
});

/**
 * The model files as a machine with VNNI writes them: every integer linear's 8-bit weight, and
 * the second operand of every product of two activations, as int8.
 */
function writeSignedCodes(dir: string): void {
  for (const file of ['encoder.onnx', 'decoder.onnx']) convertModelFileCodes(join(dir, file), dir, file, 'int8');
  const info = readModelInfo(dir);
  writeModelInfo(dir, { ...info, quantization: { ...info.quantization, weightCodes: 'int8', operandCodes: 'int8' } });
}

/** how many products of two activations take an int8 second operand, and how many in all */
function signedOperandProducts(file: string): { int8: number; all: number } {
  const g = loadModel(file).graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const products = (g.node ?? []).filter((n) => n.opType === 'MatMulIntegerToFloat' && !inits.has(n.input![1]!));
  return { int8: products.filter((n) => inits.get(n.input![5]!)?.dataType === DataType.INT8).length, all: products.length };
}

describe('storing the operands the other way', () => {
  it('leaves an operand that is also read as a first operand (no int8 x uint8 kernel) and converts the others, the same products', async () => {
    const b = new GraphBuilder();
    const [x, z, w] = ['x', 'z', 'w'].map((n) => b.input(n, 'float32', [K, K])) as [string, string, string];
    const ql = (t: string, zero: number) => ({ q: b.op('QuantizeLinear', [t, b.constF([1]), b.init(`${t}/zero_point`, [], new Uint8Array([zero]))]), zero: `${t}/zero_point` });
    const [qx, qz, qw] = [ql(x, 3), ql(z, 130), ql(w, 120)];
    const product = (a: typeof qx, c: typeof qx, name: string) => b.identity(b.op('MatMulIntegerToFloat', [a.q, c.q, b.constF([1]), b.constF([1]), a.zero, c.zero], {}, { domain: MS_DOMAIN }), name);
    product(qz, qx, 'zx'); // x a second operand, z a first one
    product(qx, qz, 'xz'); // and the other way round
    product(qx, qw, 'xw'); // w only ever a second operand
    for (const name of ['zx', 'xz', 'xw']) b.output(name, 'float32', [K, K]);
    const model = b.build('shared-operands');
    const rand = mulberry32(5);
    const feeds = Object.fromEntries(['x', 'z', 'w'].map((n) => [n, new ort.Tensor('float32', Float32Array.from({ length: K * K }, () => Math.round(rand() * 200 - 100)), [K, K])]));
    const run = async (bytes: Uint8Array) => {
      const session = await ort.InferenceSession.create(bytes);
      try {
        const out = await session.run(feeds);
        return ['zx', 'xz', 'xw'].map((n) => Array.from(out[n]!.data as Float32Array));
      } finally {
        await session.release();
      }
    };
    const reference = await run(encodeModel(model));
    expect(storeCodes(model, 'int8')).toBe(1);
    const zeroType = (t: string) => model.graph!.initializer!.find((i) => i.name === `${t}/zero_point`)!.dataType;
    expect([zeroType('x'), zeroType('z'), zeroType('w')]).toEqual([DataType.UINT8, DataType.UINT8, DataType.INT8]);
    expect(storeCodes(model, 'int8')).toBe(0);
    const converted = await run(encodeModel(model));
    // int8 second operands are exact where the kernel is; these small codes never saturate
    expect(converted).toEqual(reference);
    expect(storeCodes(model, 'uint8')).toBe(1);
    expect(zeroType('w')).toBe(DataType.UINT8);
  });
});

describe('a model whose operands are stored for another CPU\'s kernel', () => {
  it('is converted once when loaded to what this CPU\'s kernel wants, and computes the same embedding', async () => {
    const work = mkdtempSync(join(tmpdir(), 'int8-model-'));
    try {
      const [fp32, calib, quantized, signed, unsigned] = ['fp32', 'calib', 'quantized', 'signed', 'unsigned'].map((d) => join(work, d)) as [string, string, string, string, string];
      for (const d of [fp32, calib, quantized]) mkdirSync(d);
      copyFileSync(join(SAM_TINY, 'large.png'), join(calib, 'large.png'));
      await importCheckpoint(join(SAM_TINY, 'sam_tiny.pth'), fp32, { configPath: join(SAM_TINY, 'config.json') });
      await quantizeModelDir({ modelDir: fp32, calibDir: calib, outDir: quantized, bits: { w: 8, a: 8 }, method: 'ptq4sam', measureImages: 1 });
      const saturates = await signedWeightsSaturate();
      expect(readModelInfo(quantized).quantization).toMatchObject({ weightCodes: saturates ? 'uint8' : 'int8', operandCodes: saturates ? 'uint8' : 'int8' });
      const written = signedOperandProducts(join(quantized, 'encoder.onnx'));
      expect(written.all).toBeGreaterThan(0);
      expect(written.int8).toBe(saturates ? 0 : written.all);

      cpSync(quantized, signed, { recursive: true });
      writeSignedCodes(signed);
      cpSync(signed, unsigned, { recursive: true });
      expect(convertModelFileCodes(join(unsigned, 'encoder.onnx'), unsigned, 'encoder.onnx', 'uint8')).toBeGreaterThan(0);
      expect(convertModelFileCodes(join(unsigned, 'decoder.onnx'), unsigned, 'decoder.onnx', 'uint8')).toBeGreaterThan(0);
      expect(convertModelFileCodes(join(unsigned, 'encoder.onnx'), unsigned, 'encoder.onnx', 'uint8')).toBe(0);
      expect(signedOperandProducts(join(unsigned, 'encoder.onnx'))).toMatchObject({ int8: 0 });
      expect(signedOperandProducts(join(unsigned, 'decoder.onnx'))).toMatchObject({ int8: 0 });
      const info = readModelInfo(unsigned);
      // as an earlier version wrote it: no operandCodes (its operands were always uint8)
      const { operandCodes: _omitted, ...earlier } = info.quantization as Record<string, unknown>;
      writeModelInfo(unsigned, { ...info, quantization: { ...earlier, weightCodes: 'uint8' } });

      const image = await decodeImage(join(SAM_TINY, 'landscape.png'));
      const before = { signed: signedOperandProducts(join(signed, 'encoder.onnx')), unsigned: signedOperandProducts(join(unsigned, 'encoder.onnx')) };
      expect(before.signed.int8).toBe(before.signed.all);
      expect(before.unsigned.int8).toBe(0);
      const a = await loadSam(signed);
      const b = await loadSam(unsigned);
      try {
        expect(a.warnings.some((w) => /int8 operands stored as uint8 for this CPU/.test(w))).toBe(saturates);
        expect(b.warnings).toEqual([]);
        // each is converted, once, to what this CPU's kernel wants: a saturating one the signed
        // copy, an exact one the unsigned copy (as written on a saturating CPU or by an earlier version)
        for (const dir of [signed, unsigned]) {
          // no operandCodes: uint8 (an earlier version's model left as it was)
          const q = readModelInfo(dir).quantization as { weightCodes?: string; operandCodes?: string };
          const wanted = saturates ? 'uint8' : 'int8';
          expect({ weightCodes: q.weightCodes, operandCodes: q.operandCodes ?? 'uint8' }).toEqual({ weightCodes: wanted, operandCodes: wanted });
          const products = signedOperandProducts(join(dir, 'encoder.onnx'));
          expect(products.int8).toBe(saturates ? 0 : products.all);
        }
        expect(Array.from(await runEncoder(a, image))).toEqual(Array.from(await runEncoder(b, image)));
      } finally {
        for (const l of [a, b]) for (const s of [l.encoder, l.decoder, l.decoderCore]) await s.release();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 300_000);
});
