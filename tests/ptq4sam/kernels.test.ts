/**
 * The integer linears compute exact integer products on this machine. onnxruntime's x86 u8 x s8
 * kernel without VNNI adds product pairs in saturating 16 bits; the probe detects it, and the
 * uint8 weight storage chosen then gives the exact product on every CPU.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encodeModel, GraphBuilder, MS_DOMAIN, type ITensorProto } from '../../main/onnx/index.ts';
import { weightInitializers, type EmitContext } from '../../main/ptq4sam/emit/context.ts';
import { signedWeightsSaturate } from '../../main/ptq4sam/emit/kernel-probe.ts';
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
