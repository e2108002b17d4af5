/**
 * Whether this machine's int8 matrix kernel adds u8 x s8 products in pairs with 16-bit
 * saturation. onnxruntime's x86 kernels for uint8 activations x int8 weights use VPMADDUBSW on
 * CPUs without VNNI (AVX2, AVX-512 without VNNI): two adjacent products are summed into a
 * saturating int16, so 255 x 127 + 255 x 127 = 64770 comes out as 32767. Measured here on an
 * AVX2-only CPU: the w8a8 sam-shapes embedding error went from 0.5% to 4% and held-out mask IoU
 * from 0.98 to 0.92. uint8 x uint8 runs on a kernel that widens to 16 bits first (exact, and as
 * fast on that CPU), so the quantizer stores 8-bit weights as uint8 where the probe saturates,
 * and a model quantized elsewhere with int8 weights is converted once when such a CPU loads it.
 * Where the probe is exact (VNNI), u8 x s8 is the fast kernel and u8 x u8 still the widening one:
 * there the second operands of activation products (QK^T, A.V) are int8 too (a full-depth ViT-B
 * w8a8 encoder on an AVX-512 VNNI CPU took 0.86-0.92 of its time with uint8 operands, alternating
 * runs), and a saturating CPU converts them with the weights.
 */
import { mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SESSION_CONFIG } from './session-config.ts';
import { DataType, encodeModel, GraphBuilder, loadModel, makeTensor, MS_DOMAIN, saveModel, toNumber, type INodeProto, type ITensorProto, type ModelProto } from '../onnx/index.ts';

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
  // often the process's first session: it sets the calling thread's denormal mode (session-config.ts)
  const session = await ort.InferenceSession.create(encodeModel(b.build('saturation-probe')), { intraOpNumThreads: 1, extra: SESSION_CONFIG });
  try {
    const out = await session.run({ a: new ort.Tensor('uint8', new Uint8Array(m * k).fill(255), [m, k]) });
    return (out.y!.data as Float32Array)[0] !== 255 * 127 * k;
  } finally {
    await session.release();
  }
}

/** the int8 bytes of an initializer (codes or zero points as the quantizer writes them) */
function int8Values(t: ITensorProto): Int8Array | null {
  if (t.dataType !== DataType.INT8) return null;
  if (t.rawData && t.rawData.length) return new Int8Array(t.rawData.buffer, t.rawData.byteOffset, t.rawData.length);
  return Int8Array.from(t.int32Data ?? []);
}

/**
 * Rewrites every int8 second operand of MatMulIntegerToFloat as uint8 plus 128: the same
 * products, on the kernel that does not saturate. A linear's weight codes and zero points are
 * constants (inputs 2 and 6); the second operand of a product of two activations is a
 * QuantizeLinear's output [-> Clip to a sub-8-bit range], whose zero point (and Clip bounds) are
 * constants, and a uint8 zero point makes QuantizeLinear write uint8. Returns how many operands
 * changed.
 */
export function storeCodesUnsigned(model: ModelProto): number {
  const g = model.graph!;
  const inits = new Map((g.initializer ?? []).map((t, i) => [t.name ?? '', i]));
  const producer = new Map<string, INodeProto>();
  for (const n of g.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  const shifted = new Set<string>();
  /** the constant as uint8 plus 128; false if it is not an int8 constant */
  const shift = (name: string | undefined): boolean => {
    if (!name) return false;
    if (shifted.has(name)) return true;
    const i = inits.get(name);
    const values = i === undefined ? null : int8Values(g.initializer![i]!);
    if (!values) return false;
    g.initializer![i!] = makeTensor(name, (g.initializer![i!]!.dims ?? []).map(toNumber), Uint8Array.from(values, (x) => x + 128));
    shifted.add(name);
    return true;
  };
  const done = new Set<string>();
  let changed = 0;
  for (const n of g.node ?? []) {
    if (n.opType !== 'MatMulIntegerToFloat') continue;
    const [, operand, , , , zero] = n.input ?? [];
    if (!operand || !zero || done.has(operand)) continue;
    if (inits.has(operand)) {
      if (!int8Values(g.initializer![inits.get(operand)!]!) || !shift(zero)) continue;
      shift(operand);
    } else {
      if (!shift(zero)) continue;
      const clip = producer.get(operand);
      if (clip?.opType === 'Clip') for (const bound of (clip.input ?? []).slice(1)) shift(bound);
    }
    done.add(operand);
    changed += 1;
  }
  return changed;
}

/**
 * Converts a model file in place (with its external data, if any) when it holds int8 operands;
 * the new files replace the old ones only once completely written. Returns the operands changed.
 */
export function convertModelFileToUnsignedCodes(path: string, dir: string, file: string): number {
  const model = loadModel(path);
  const changed = storeCodesUnsigned(model);
  if (changed === 0) return 0;
  const tmp = mkdtempSync(join(dir, '.unsigned-'));
  try {
    saveModel(model, join(tmp, file));
    for (const f of readdirSync(tmp)) renameSync(join(tmp, f), join(dir, f));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return changed;
}
