/**
 * Whether this machine's int8 matrix kernel adds u8 x s8 products in pairs with 16-bit
 * saturation. onnxruntime's x86 kernels for uint8 activations x int8 weights use VPMADDUBSW on
 * CPUs without VNNI (AVX2, AVX-512 without VNNI): two adjacent products are summed into a
 * saturating int16, so 255 x 127 + 255 x 127 = 64770 comes out as 32767. Measured here on an
 * AVX2-only CPU: the w8a8 sam-shapes embedding error went from 0.5% to 4% and held-out mask IoU
 * from 0.98 to 0.92. uint8 x uint8 runs on a kernel that widens to 16 bits first (exact, and as
 * fast on that CPU), so the quantizer stores 8-bit weights as uint8 where the probe saturates.
 */
import * as ort from 'onnxruntime-node';
import { encodeModel, GraphBuilder, MS_DOMAIN } from '../../onnx/index.ts';

let probed: Promise<boolean> | undefined;

/** true when u8 x s8 products saturate in this process's onnxruntime (measured once, then cached) */
export function signedWeightsSaturate(): Promise<boolean> {
  probed ??= probe();
  return probed;
}

async function probe(): Promise<boolean> {
  const [m, k, n] = [16, 64, 16];
  const b = new GraphBuilder();
  const a = b.input('a', 'uint8', [m, k]);
  const w = b.init('w', [k, n], new Int8Array(k * n).fill(127));
  const y = b.op('MatMulIntegerToFloat', [a, w, b.constF([1]), b.constF([1]), b.init('a_zero', [], new Uint8Array([0])), b.init('w_zero', [], new Int8Array([0]))], {}, { domain: MS_DOMAIN });
  b.identity(y, 'y');
  b.output('y', 'float32', [m, n]);
  const session = await ort.InferenceSession.create(encodeModel(b.build('saturation-probe')), { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ a: new ort.Tensor('uint8', new Uint8Array(m * k).fill(255), [m, k]) });
    return (out.y!.data as Float32Array)[0] !== 255 * 127 * k;
  } finally {
    await session.release();
  }
}
