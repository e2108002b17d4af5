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
 * runs). A saturating CPU converts a model's int8 operands to uint8 when it loads it, and an exact
 * one converts the uint8 operands of a model quantized on a saturating CPU (or by an earlier
 * version) to int8, once each.
 */
import { mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SESSION_CONFIG } from './session-config.ts';
import { consumers, DataType, encodeModel, GraphBuilder, loadModel, makeTensor, MS_DOMAIN, producers, saveModel, toNumber, type INodeProto, type ITensorProto, type ModelProto } from '../onnx/index.ts';

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

/** the bytes of an int8 or uint8 initializer, as its own type; null for other types */
function byteValues(t: ITensorProto): Int8Array | Uint8Array | null {
  const raw = t.rawData && t.rawData.length ? t.rawData : null;
  if (t.dataType === DataType.INT8) return raw ? new Int8Array(raw.buffer, raw.byteOffset, raw.length) : Int8Array.from(t.int32Data ?? []);
  if (t.dataType === DataType.UINT8) return raw ? new Uint8Array(raw.buffer, raw.byteOffset, raw.length) : Uint8Array.from(t.int32Data ?? []);
  return null;
}

/** How the second operands of integer products are stored: for a saturating kernel, or for VNNI's. */
export type OperandStorage = 'uint8' | 'int8';

/**
 * Rewrites the second operand of every MatMulIntegerToFloat stored the other way as `to`: int8
 * as uint8 plus 128, or uint8 as int8 minus 128. The same products, on the kernel that suits
 * this CPU. A linear's weight codes and zero points are constants (inputs 2 and 6); the second
 * operand of a product of two activations is a QuantizeLinear's output [-> Clip to a sub-8-bit
 * range], whose zero point (and Clip bounds) are constants, and the zero point's type is the
 * type QuantizeLinear writes. Such an operand becomes int8 only where every reader of it takes
 * int8 (another product's second operand, a DequantizeLinear): onnxruntime has no int8 x uint8
 * kernel. Returns how many operands changed.
 */
export function storeCodes(model: ModelProto, to: OperandStorage): number {
  const g = model.graph!;
  const inits = new Map((g.initializer ?? []).map((t, i) => [t.name ?? '', i]));
  const producer = producers(g);
  const readers = consumers(g);
  const from = to === 'uint8' ? DataType.INT8 : DataType.UINT8;
  const storedFrom = (name: string | undefined) => {
    const i = name === undefined ? undefined : inits.get(name);
    return i !== undefined && g.initializer![i]!.dataType === from;
  };
  const shifted = new Set<string>();
  const shift = (name: string) => {
    if (shifted.has(name) || !storedFrom(name)) return;
    const i = inits.get(name)!;
    const values = byteValues(g.initializer![i]!)!;
    const dims = (g.initializer![i]!.dims ?? []).map(toNumber);
    g.initializer![i] = makeTensor(name, dims, to === 'uint8' ? Uint8Array.from(values, (x) => x + 128) : Int8Array.from(values, (x) => x - 128));
    shifted.add(name);
  };
  const readsInt8 = (node: INodeProto, input: number) =>
    (node.opType === 'MatMulIntegerToFloat' && input === 1) || node.opType === 'DequantizeLinear' || (node.opType === 'Clip' && input === 0);
  const takesInt8 = (tensor: string) => (readers.get(tensor) ?? []).every((node) => (node.input ?? []).every((name, input) => name !== tensor || readsInt8(node, input)));
  const done = new Set<string>();
  let changed = 0;
  for (const n of g.node ?? []) {
    if (n.opType !== 'MatMulIntegerToFloat') continue;
    const [, operand, , , , zero] = n.input ?? [];
    if (!operand || !zero || done.has(operand) || !storedFrom(zero)) continue;
    const clip = producer.get(operand)?.opType === 'Clip' ? producer.get(operand)! : null;
    if (inits.has(operand)) {
      if (!storedFrom(operand)) continue;
      shift(operand);
    } else if (to === 'int8' && !(takesInt8(operand) && (!clip || takesInt8(clip.input![0]!)))) {
      continue;
    }
    shift(zero);
    if (clip) for (const bound of (clip.input ?? []).slice(1)) if (bound) shift(bound);
    done.add(operand);
    changed += 1;
  }
  return changed;
}

/**
 * Converts a model file in place (with its external data, if any) when it holds operands stored
 * the other way; the new files replace the old ones only once completely written. Returns the
 * operands changed.
 */
export function convertModelFileCodes(path: string, dir: string, file: string, to: OperandStorage): number {
  const model = loadModel(path);
  const changed = storeCodes(model, to);
  if (changed === 0) return 0;
  const tmp = mkdtempSync(join(dir, `.${to}-`));
  try {
    saveModel(model, join(tmp, file));
    for (const f of readdirSync(tmp)) renameSync(join(tmp, f), join(dir, f));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return changed;
}
