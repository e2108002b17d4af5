/**
 * The integer linears compute exact integer products on this machine. onnxruntime's x86 u8 x s8
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
import { DataType, encodeModel, GraphBuilder, loadModel, makeTensor, MS_DOMAIN, saveModel, toNumber, type ITensorProto } from '../../main/onnx/index.ts';
import { weightInitializers, type EmitContext } from '../../main/ptq4sam/emit/context.ts';
import { convertModelFileToUnsignedWeights, signedWeightsSaturate } from '../../main/sam/int8-kernel.ts';
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

/** The model files as a machine with VNNI writes them: every integer linear's 8-bit weight as int8. */
function writeSignedWeights(dir: string): void {
  for (const file of ['encoder.onnx', 'decoder.onnx']) {
    const model = loadModel(join(dir, file));
    const g = model.graph!;
    const index = new Map((g.initializer ?? []).map((t, i) => [t.name ?? '', i]));
    for (const n of g.node ?? []) {
      if (n.opType !== 'MatMulIntegerToFloat') continue;
      for (const name of [n.input![1]!, n.input![5]!]) {
        const i = index.get(name);
        const t = i === undefined ? undefined : g.initializer![i]!;
        if (!t || t.dataType !== DataType.UINT8) continue;
        g.initializer![i!] = makeTensor(name, (t.dims ?? []).map(toNumber), Int8Array.from(t.rawData!, (v) => v - 128));
      }
    }
    saveModel(model, join(dir, file));
  }
  const info = readModelInfo(dir);
  writeModelInfo(dir, { ...info, quantization: { ...info.quantization, weightCodes: 'int8' } });
}

describe('a model quantized with int8 weights elsewhere', () => {
  it('is converted once on a CPU whose int8 kernel saturates, and computes what uint8 storage computes', async () => {
    const work = mkdtempSync(join(tmpdir(), 'int8-model-'));
    try {
      const [fp32, calib, quantized, signed, unsigned] = ['fp32', 'calib', 'quantized', 'signed', 'unsigned'].map((d) => join(work, d)) as [string, string, string, string, string];
      for (const d of [fp32, calib, quantized]) mkdirSync(d);
      copyFileSync(join(SAM_TINY, 'large.png'), join(calib, 'large.png'));
      await importCheckpoint(join(SAM_TINY, 'sam_tiny.pth'), fp32, { configPath: join(SAM_TINY, 'config.json') });
      await quantizeModelDir({ modelDir: fp32, calibDir: calib, outDir: quantized, bits: { w: 8, a: 8 }, method: 'ptq4sam', measureImages: 1 });
      const saturates = await signedWeightsSaturate();
      expect(readModelInfo(quantized).quantization).toMatchObject({ weightCodes: saturates ? 'uint8' : 'int8' });

      cpSync(quantized, signed, { recursive: true });
      writeSignedWeights(signed);
      cpSync(signed, unsigned, { recursive: true });
      expect(convertModelFileToUnsignedWeights(join(unsigned, 'encoder.onnx'), unsigned, 'encoder.onnx')).toBeGreaterThan(0);
      expect(convertModelFileToUnsignedWeights(join(unsigned, 'decoder.onnx'), unsigned, 'decoder.onnx')).toBeGreaterThan(0);
      expect(convertModelFileToUnsignedWeights(join(unsigned, 'encoder.onnx'), unsigned, 'encoder.onnx')).toBe(0);
      const info = readModelInfo(unsigned);
      writeModelInfo(unsigned, { ...info, quantization: { ...info.quantization, weightCodes: 'uint8' } });

      const image = await decodeImage(join(SAM_TINY, 'landscape.png'));
      const a = await loadSam(signed);
      const b = await loadSam(unsigned);
      try {
        expect(a.warnings.some((w) => /int8 weights stored as uint8 for this CPU/.test(w))).toBe(saturates);
        expect(b.warnings).toEqual([]);
        expect(readModelInfo(signed).quantization).toMatchObject({ weightCodes: saturates ? 'uint8' : 'int8' });
        expect(Array.from(await runEncoder(a, image))).toEqual(Array.from(await runEncoder(b, image)));
      } finally {
        for (const l of [a, b]) for (const s of [l.encoder, l.decoder, l.decoderCore]) await s.release();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 300_000);
});
