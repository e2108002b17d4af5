/** Conversions between ONNX TensorProto and typed arrays. */
import { DataLocation, DataType, onnx, toNumber, type ITensorProto, type TensorProto } from './proto.ts';

export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array | Uint16Array;

export type ElemType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

export const elemTypeToDataType: Record<ElemType, number> = {
  float32: DataType.FLOAT, float16: DataType.FLOAT16, int64: DataType.INT64, int32: DataType.INT32,
  uint8: DataType.UINT8, int8: DataType.INT8, bool: DataType.BOOL,
};

function dataTypeOf(data: TensorData, float16: boolean): number {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof BigInt64Array) return DataType.INT64;
  if (data instanceof Int32Array) return DataType.INT32;
  if (data instanceof Int8Array) return DataType.INT8;
  if (data instanceof Uint16Array) {
    if (!float16) throw new Error('Uint16Array tensors are only supported as float16 bits');
    return DataType.FLOAT16;
  }
  return DataType.UINT8;
}

/** Makes an initializer. The bytes are shared with `data` (no copy). */
export function makeTensor(name: string, dims: number[], data: TensorData, opts: { float16?: boolean; bool?: boolean } = {}): TensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`tensor ${name}: ${data.length} values for dims [${dims.join(',')}]`);
  const dataType = opts.bool ? DataType.BOOL : dataTypeOf(data, opts.float16 ?? false);
  return onnx.TensorProto.create({
    name,
    dims,
    dataType,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

export function tensorElementCount(t: ITensorProto): number {
  return (t.dims ?? []).reduce<number>((a, b) => a * toNumber(b), 1);
}

function rawBytes(t: ITensorProto): Uint8Array {
  if (t.dataLocation === DataLocation.EXTERNAL && (!t.rawData || t.rawData.length === 0)) {
    throw new Error(`tensor ${t.name}: external data not loaded`);
  }
  const raw = t.rawData;
  if (!raw || raw.length === 0) return new Uint8Array(0);
  // Copy to an aligned buffer: protobuf slices may start at odd offsets.
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  return copy;
}

/** Reads any float tensor (raw or float_data) as float32. */
export function tensorToFloat32(t: ITensorProto): Float32Array {
  const n = tensorElementCount(t);
  if (t.dataType === DataType.FLOAT) {
    if (t.floatData && t.floatData.length > 0) return Float32Array.from(t.floatData);
    const b = rawBytes(t);
    if (b.length !== n * 4) throw new Error(`tensor ${t.name}: ${b.length} bytes for ${n} float32 values`);
    return new Float32Array(b.buffer, 0, n);
  }
  if (t.dataType === DataType.FLOAT16) {
    const b = rawBytes(t);
    const bits = b.length > 0 ? new Uint16Array(b.buffer, 0, n) : Uint16Array.from(t.int32Data ?? []);
    return float16BitsToFloat32(bits);
  }
  if (t.dataType === DataType.DOUBLE) {
    if (t.doubleData && t.doubleData.length > 0) return Float32Array.from(t.doubleData);
    return Float32Array.from(new Float64Array(rawBytes(t).buffer, 0, n));
  }
  throw new Error(`tensor ${t.name}: data type ${t.dataType} is not a float type`);
}

/** Reads an int64 tensor (raw or int64_data). */
export function tensorToBigInt64(t: ITensorProto): BigInt64Array {
  if (t.dataType !== DataType.INT64) throw new Error(`tensor ${t.name}: data type ${t.dataType} is not int64`);
  const n = tensorElementCount(t);
  if (t.int64Data && t.int64Data.length > 0) return BigInt64Array.from(t.int64Data, (v) => BigInt(v.toString()));
  const b = rawBytes(t);
  if (b.length !== n * 8) throw new Error(`tensor ${t.name}: ${b.length} bytes for ${n} int64 values`);
  return new BigInt64Array(b.buffer, 0, n);
}

export function float16BitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** float32 → float16 bits, round to nearest even (as numpy/torch do). */
export function float32ToFloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i]!;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) { out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); continue; }
    let e = exp - 127 + 15;
    if (e >= 31) { out[i] = sign | 0x7c00; continue; }
    if (e <= 0) {
      if (e < -10) { out[i] = sign; continue; }
      mant |= 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      let m = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      if (rem > half || (rem === half && (m & 1))) m++;
      out[i] = sign | m;
      continue;
    }
    let m = mant >>> 13;
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (m & 1))) {
      m++;
      if (m === 0x400) { m = 0; e++; if (e >= 31) { out[i] = sign | 0x7c00; continue; } }
    }
    out[i] = sign | (e << 10) | m;
  }
  return out;
}
