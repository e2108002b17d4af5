import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, sha256File, type StateDict } from '../../main/sam/checkpoint/index.ts';
import { importCheckpoint } from '../../main/sam/model-dir.ts';
import { dictPickle, float32Bytes, op, tensorPickle, tuple, writeSyntheticPth, type SyntheticTensor } from '../helpers/torch-save.ts';

const fixtures = join(import.meta.dirname, '../fixtures/sam-tiny');
const fp32Path = join(fixtures, 'sam_tiny.pth');
const fp16Path = join(fixtures, 'sam_tiny_fp16.pth');
const shapesFixtures = join(import.meta.dirname, '../fixtures/sam-shapes');

let dir: string;
let fp32: StateDict;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'checkpoint-test-'));
  fp32 = await readCheckpoint(fp32Path);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bitsOf(data: Float32Array): Uint32Array {
  return new Uint32Array(data.buffer, data.byteOffset, data.length);
}

function floatFromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0]!;
}

/** float32 -> float16 bits, round to nearest even (as torch's .half() does). */
function float32ToHalfBits(value: number): number {
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 112;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    const rounded = full >>> shift;
    const remainder = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    return sign | (rounded + (remainder > halfway || (remainder === halfway && (rounded & 1)) ? 1 : 0));
  }
  const rounded = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  return sign | (rounded + (remainder > 0x1000 || (remainder === 0x1000 && (rounded & 1)) ? 1 : 0));
}

/** The IEEE half-precision value of a bit pattern, computed from the definition. */
function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function bfloat16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 7) & 0xff;
  const mantissa = bits & 0x7f;
  if (exponent === 0xff) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  if (exponent === 0) return sign * mantissa * 2 ** -133;
  return sign * (1 + mantissa / 128) * 2 ** (exponent - 127);
}

interface SafetensorsInput { dtype: 'F32' | 'F16' | 'BF16'; shape: number[]; bytes: Uint8Array }

function writeSafetensors(path: string, tensors: Map<string, SafetensorsInput>): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, tensor] of tensors) {
    header[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + tensor.bytes.length] };
    offset += tensor.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([length, Buffer.from(json), ...[...tensors.values()].map((t) => t.bytes)]));
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('readCheckpoint on torch.save zip files', () => {
  it('reads every tensor of sam_tiny.pth under the official key names and shapes', () => {
    expect(fp32.size).toBe(202);
    expect(fp32.get('image_encoder.pos_embed')?.shape).toEqual([1, 64, 64, 64]);
    expect(fp32.get('image_encoder.patch_embed.proj.weight')?.shape).toEqual([64, 3, 16, 16]);
    expect(fp32.get('image_encoder.blocks.0.attn.qkv.weight')?.shape).toEqual([192, 64]);
    expect(fp32.get('mask_decoder.transformer.layers.0.cross_attn_token_to_image.k_proj.bias')?.shape).toEqual([128]);
    expect([...fp32.keys()][0]).toBe('image_encoder.pos_embed');
    for (const tensor of fp32.values()) {
      expect(tensor.dtype).toBe('float32');
      expect(tensor.data.length).toBe(tensor.shape.reduce((a, b) => a * b, 1));
    }
  });

  it('returns the stored float32 values bit for bit', () => {
    // First elements of storage 0 (pos_embed), read independently from the raw zip entry.
    expect([...bitsOf(fp32.get('image_encoder.pos_embed')!.data.subarray(0, 3))]).toEqual([3157723690, 3175835455, 1015387913]);
    // The fixture plants key biases of about +-3 in the decoder's token-to-image attentions.
    const bias = fp32.get('mask_decoder.transformer.final_attn_token_to_image.k_proj.bias')!.data;
    const meanAbs = bias.reduce((sum, x) => sum + Math.abs(x), 0) / bias.length;
    expect(meanAbs).toBeCloseTo(382.85709047317505 / 128, 6);
  });

  it.each([
    ['sam_tiny_fp16.pth', fp16Path, null],
    ['sam_shapes_fp16.pth', join(shapesFixtures, 'sam_shapes_fp16.pth'), join(shapesFixtures, 'sam_shapes.pth')],
  ])('reads %s as exactly the float32 checkpoint\'s values rounded to half precision', async (_name, halfPath, fullPath) => {
    const full32 = fullPath ? await readCheckpoint(fullPath) : fp32;
    const fp16 = await readCheckpoint(halfPath);
    expect(fp16.size).toBe(202);
    expect([...fp16.keys()]).toEqual([...full32.keys()]);
    for (const [name, full] of full32) {
      const half = fp16.get(name)!;
      expect(half.dtype).toBe('float16');
      expect(half.shape).toEqual(full.shape);
      const expected = Float32Array.from(full.data, (x) => halfValue(float32ToHalfBits(x)));
      const mismatch = half.data.findIndex((x, i) => !Object.is(x, expected[i]));
      expect(mismatch, `${name} differs at element ${mismatch}`).toBe(-1);
    }
  });

  it('honours a storage offset and transposed strides, producing a contiguous C-order array', async () => {
    const path = join(dir, 'strided.pth');
    // Storage: 2 padding values, then a 4x3 row-major matrix m[r][c] = 10r + c.
    const storage = [-1, -2, ...range(12).map((i) => 10 * Math.floor(i / 3) + (i % 3))];
    const transposed: SyntheticTensor = { name: 't', storageType: 'FloatStorage', key: '0', storageNumel: 14, offset: 2, shape: [3, 4], stride: [1, 3] };
    const lastRow: SyntheticTensor = { ...transposed, name: 'row', offset: 11, shape: [3], stride: [1] };
    writeSyntheticPth(path, dictPickle([['t', tensorPickle(transposed)], ['row', tensorPickle(lastRow)]]), { 0: float32Bytes(storage) });
    const tensors = await readCheckpoint(path);
    expect(tensors.get('t')!.shape).toEqual([3, 4]);
    expect([...tensors.get('t')!.data]).toEqual([0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32]);
    expect([...tensors.get('row')!.data]).toEqual([30, 31, 32]);
  });

  it('reads strided float16 and bfloat16 storages', async () => {
    const path = join(dir, 'halves.pth');
    const values = [0.5, -2, 49152, 2 ** -24, -0, 3.140625];
    const halfBytes = new Uint8Array(new Uint16Array(values.map(float32ToHalfBits)).buffer);
    const bf16Bytes = new Uint8Array(new Uint16Array(values.map((x) => new Uint32Array(new Float32Array([x]).buffer)[0]! >>> 16)).buffer);
    const view = { storageNumel: 6, offset: 1, shape: [2, 2], stride: [1, 2] };
    writeSyntheticPth(path, dictPickle([
      ['h', tensorPickle({ name: 'h', storageType: 'HalfStorage', key: 'a', ...view })],
      ['b', tensorPickle({ name: 'b', storageType: 'BFloat16Storage', key: 'b', ...view })],
    ]), { a: halfBytes, b: bf16Bytes });
    const tensors = await readCheckpoint(path);
    expect(tensors.get('h')!.dtype).toBe('float16');
    expect([...tensors.get('h')!.data]).toEqual([-2, 2 ** -24, 49152, -0]);
    expect(tensors.get('b')!.dtype).toBe('bfloat16');
    expect([...tensors.get('b')!.data]).toEqual([-2, 2 ** -24, 49152, -0]);
  });

  it('reads the tensors inside a {state_dict: ...} wrapper', async () => {
    const path = join(dir, 'wrapped.pth');
    const inner = dictPickle([['w', tensorPickle({ name: 'w', storageType: 'FloatStorage', key: '0', storageNumel: 2, offset: 0, shape: [2], stride: [1] })]]);
    writeSyntheticPth(path, dictPickle([['epoch', op.int(3)], ['state_dict', inner]]), { 0: float32Bytes([1.5, 2.5]) });
    const tensors = await readCheckpoint(path);
    expect([...tensors.keys()]).toEqual(['w']);
    expect([...tensors.get('w')!.data]).toEqual([1.5, 2.5]);
  });

  it('refuses a pickle global it does not know, naming the file and the global', async () => {
    const path = join(dir, 'evil.pth');
    const call = Buffer.concat([op.global('os', 'system'), tuple([op.str('echo hacked')]), op.reduce()]);
    writeSyntheticPth(path, dictPickle([['x', call]]), {});
    await expect(readCheckpoint(path)).rejects.toThrow(/^evil\.pth: .*os\.system/);
  });

  it('rejects a checkpoint whose storage entry is missing, naming the storage', async () => {
    const path = join(dir, 'missing.pth');
    const tensor = tensorPickle({ name: 'w', storageType: 'FloatStorage', key: '7', storageNumel: 2, offset: 0, shape: [2], stride: [1] });
    writeSyntheticPth(path, dictPickle([['w', tensor]]), {});
    await expect(readCheckpoint(path)).rejects.toThrow("missing.pth: storage 7 of tensor 'w' is missing (no zip entry archive/data/7)");
  });

  it('rejects a tensor whose strides reach past its storage', async () => {
    const path = join(dir, 'overrun.pth');
    const tensor = tensorPickle({ name: 'w', storageType: 'FloatStorage', key: '0', storageNumel: 4, offset: 1, shape: [2, 2], stride: [2, 1] });
    writeSyntheticPth(path, dictPickle([['w', tensor]]), { 0: float32Bytes([1, 2, 3, 4]) });
    await expect(readCheckpoint(path)).rejects.toThrow("overrun.pth: tensor 'w' reads past the end of its storage 0");
  });

  it('rejects a storage whose bytes were altered, by its CRC', async () => {
    const path = join(dir, 'sam_tiny_corrupt.pth');
    const bytes = readFileSync(fp32Path);
    bytes[40_000] = bytes[40_000]! ^ 0xff; // inside storage 0 (pos_embed), which starts at byte 36886
    writeFileSync(path, bytes);
    await expect(readCheckpoint(path)).rejects.toThrow(/^sam_tiny_corrupt\.pth: cannot read sam_tiny\/data\/0 \(CRC-32 mismatch/);
  });

  it.each([2, 100, 36_000, 40_000, 7_000_000, 14_545_147 - 23, 14_545_147 - 1])(
    'rejects sam_tiny.pth truncated to %i bytes, naming the file',
    async (length) => {
      const folder = join(dir, `truncated-${length}`);
      mkdirSync(folder);
      const head = Buffer.alloc(length);
      const source = openSync(fp32Path, 'r');
      readSync(source, head, 0, length, 0);
      closeSync(source);
      writeFileSync(join(folder, 'sam_tiny.pth'), head);
      await expect(readCheckpoint(join(folder, 'sam_tiny.pth'))).rejects.toThrow('sam_tiny.pth: truncated checkpoint (zip central directory not found)');
    },
  );

  it('rejects a file that is no checkpoint at all', async () => {
    const path = join(dir, 'noise.bin');
    writeFileSync(path, Buffer.from(range(4096).map((i) => (i * 7919 + 13) % 251)));
    await expect(readCheckpoint(path)).rejects.toThrow('noise.bin: not a checkpoint (neither a PyTorch zip checkpoint nor a safetensors file)');
  });

  it('rejects a legacy (PyTorch < 1.6) torch.save file with advice to re-save it', async () => {
    const path = join(dir, 'old.pth');
    writeFileSync(path, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
    await expect(readCheckpoint(path)).rejects.toThrow('old.pth: legacy torch.save format (PyTorch < 1.6) is not supported; re-save it with a newer PyTorch');
  });

  it('reports progress in storage bytes up to the total', async () => {
    const calls: [number, number][] = [];
    await readCheckpoint(fp32Path, { onProgress: (done, total) => calls.push([done, total]) });
    expect(calls.length).toBe(202);
    const total = [...fp32.values()].reduce((sum, t) => sum + t.data.length * 4, 0);
    expect(calls.at(-1)).toEqual([total, total]);
    expect(calls.every(([done], i) => i === 0 || done > calls[i - 1]![0])).toBe(true);
  });

  it('stops with the abort reason when its signal is aborted', async () => {
    const controller = new AbortController();
    const reading = readCheckpoint(fp32Path, {
      signal: controller.signal,
      onProgress: (done) => { if (done > 1_000_000) controller.abort(); },
    });
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('readCheckpoint on safetensors files', () => {
  it('reads back a safetensors file written from the float32 state dict identically', async () => {
    const path = join(dir, 'sam_tiny.safetensors');
    writeSafetensors(path, new Map([...fp32].map(([name, t]) => [name, { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) }])));
    const tensors = await readCheckpoint(path);
    expect([...tensors.keys()]).toEqual([...fp32.keys()]);
    for (const [name, t] of fp32) {
      expect(tensors.get(name)!.shape).toEqual(t.shape);
      expect(tensors.get(name)!.dtype).toBe('float32');
      const expected = bitsOf(t.data);
      expect(bitsOf(tensors.get(name)!.data).findIndex((bits, i) => bits !== expected[i]), name).toBe(-1);
    }
  });

  it('converts every float16 and bfloat16 bit pattern exactly, subnormals, infinities and NaN included', async () => {
    const path = join(dir, 'all-bits.safetensors');
    const patterns = new Uint16Array(range(65536));
    const bytes = new Uint8Array(patterns.buffer);
    writeSafetensors(path, new Map<string, SafetensorsInput>([
      ['half', { dtype: 'F16', shape: [256, 256], bytes }],
      ['brain', { dtype: 'BF16', shape: [65536], bytes }],
    ]));
    const tensors = await readCheckpoint(path);
    const half = tensors.get('half')!.data;
    const brain = tensors.get('brain')!.data;
    expect(half.findIndex((x, bits) => !Object.is(x, halfValue(bits)))).toBe(-1);
    expect(brain.findIndex((x, bits) => !Object.is(x, bfloat16Value(bits)))).toBe(-1);
    expect(half[0x0001]).toBe(2 ** -24);
    expect(half[0x7c00]).toBe(Number.POSITIVE_INFINITY);
    expect(floatFromBits(bitsOf(brain)[0xffc1]!)).toBeNaN();
  });

  it('rejects a truncated safetensors file, naming the file', async () => {
    const full = join(dir, 'small.safetensors');
    writeSafetensors(full, new Map<string, SafetensorsInput>([['w', { dtype: 'F32', shape: [4], bytes: float32Bytes([1, 2, 3, 4]) }]]));
    const whole = readFileSync(full);
    const path = join(dir, 'cut.safetensors');
    writeFileSync(path, whole.subarray(0, whole.length - 3));
    await expect(readCheckpoint(path)).rejects.toThrow("cut.safetensors: truncated checkpoint (tensor 'w' ends past the end of the file)");
  });

  it('rejects a dtype it cannot convert, naming the tensor', async () => {
    const path = join(dir, 'ints.safetensors');
    writeSafetensors(path, new Map([['ids', { dtype: 'I64' as 'F32', shape: [1], bytes: new Uint8Array(8) }]]));
    await expect(readCheckpoint(path)).rejects.toThrow("ints.safetensors: tensor 'ids' has dtype I64; only F32, F16 and BF16 are supported");
  });
});

describe('sha256File', () => {
  it('returns the hex sha256 digest of the file', async () => {
    expect(await sha256File(fp32Path)).toBe('6d755e4522f49c27a884bb87c130d6b0e02e7657c4007d30e2f80f41e509e367');
  });
});

describe('importCheckpoint on tensors that do not fit together', () => {
  /** sam_tiny's tensors with some replaced, as a safetensors file */
  const variant = (name: string, replace: Record<string, { shape: number[]; data: Float32Array }>) => {
    const path = join(dir, `${name}.safetensors`);
    writeSafetensors(path, new Map([...fp32].map(([key, t]) => {
      const r = replace[key] ?? { shape: t.shape, data: t.data };
      return [key, { dtype: 'F32', shape: r.shape, bytes: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength) }];
    })));
    return path;
  };
  const config = join(fixtures, 'config.json');

  it('refuses a linear whose input side is not the config\'s, naming the tensor, before writing anything', async () => {
    const qkv = fp32.get('image_encoder.blocks.0.attn.qkv.weight')!;
    const path = variant('qkv-in', { 'image_encoder.blocks.0.attn.qkv.weight': { shape: [192, 63], data: qkv.data.slice(0, 192 * 63) } });
    const out = join(dir, 'qkv-in-model');
    await expect(importCheckpoint(path, out, { configPath: config })).rejects.toThrow('qkv-in.safetensors: image_encoder.blocks.0.attn.qkv.weight has shape [192, 63], expected [192, 64]');
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a decoder that does not run (a transposed convolution\'s kernel) or gives NaN, at import', async () => {
    const up = fp32.get('mask_decoder.output_upscaling.0.weight')!;
    const kernel = variant('kernel', { 'mask_decoder.output_upscaling.0.weight': { shape: [256, 64, 1, 1], data: up.data.slice(0, 256 * 64) } });
    // (the command line writes into a temporary folder it removes on failure)
    for (const out of ['kernel-model', 'nan-model']) mkdirSync(join(dir, out));
    await expect(importCheckpoint(kernel, join(dir, 'kernel-model'), { configPath: config })).rejects.toThrow(/^kernel\.safetensors: the mask decoder built from it does not run: .*ConvTranspose/);
    const bias = fp32.get('mask_decoder.iou_prediction_head.layers.0.bias')!;
    const withNaN = bias.data.slice();
    withNaN[3] = Number.NaN;
    const nan = variant('nan', { 'mask_decoder.iou_prediction_head.layers.0.bias': { shape: bias.shape, data: withNaN } });
    await expect(importCheckpoint(nan, join(dir, 'nan-model'), { configPath: config })).rejects.toThrow('nan.safetensors: the mask decoder built from it does not run: it gives non-finite scores (a tensor holds NaN or Infinity)');
  });
});

describe('a SAM config that cannot be', () => {
  it('refuses a layer_norm_eps that is not a small positive number, naming the file', async () => {
    const base = JSON.parse(readFileSync(join(fixtures, 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const eps of [-1, 0, 5]) {
      const config = join(dir, `eps-${eps}.json`);
      writeFileSync(config, JSON.stringify({ ...base, layer_norm_eps: eps }));
      mkdirSync(join(dir, `eps-${eps}`));
      await expect(importCheckpoint(fp32Path, join(dir, `eps-${eps}`), { configPath: config })).rejects.toThrow(`${config}: "layer_norm_eps" must be a small positive number, got ${eps}`);
    }
  });
});
