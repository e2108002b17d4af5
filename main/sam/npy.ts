/**
 * NumPy .npy read/write (format version 1.0/2.0, little-endian, C order). Used for embeddings,
 * low-res masks and the reference fixtures.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export type NpyDtype = 'float32' | 'float64' | 'uint8' | 'int32' | 'int64' | 'float16' | 'bool';
export type NpyData = Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

const descrToDtype: Record<string, NpyDtype> = {
  '<f4': 'float32', '<f8': 'float64', '|u1': 'uint8', '<i4': 'int32', '<i8': 'int64', '<f2': 'float16', '|b1': 'bool',
};
const dtypeToDescr: Record<NpyDtype, string> = {
  float32: '<f4', float64: '<f8', uint8: '|u1', int32: '<i4', int64: '<i8', float16: '<f2', bool: '|b1',
};
const bytesPer: Record<NpyDtype, number> = { float32: 4, float64: 8, uint8: 1, int32: 4, int64: 8, float16: 2, bool: 1 };

export function parseNpy(buf: Uint8Array, name = 'array'): NpyArray {
  const magic = String.fromCharCode(...buf.subarray(0, 6));
  if (magic !== '\x93NUMPY') throw new Error(`${name}: not a .npy file (bad magic)`);
  const major = buf[6]!;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(buf.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${name}: malformed .npy header`);
  if (fortran === 'True') throw new Error(`${name}: Fortran-ordered .npy arrays are not supported`);
  const dtype = descrToDtype[descr];
  if (!dtype) throw new Error(`${name}: unsupported .npy dtype ${descr}`);
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  // numpy writes each dimension as a plain decimal integer: anything else would make a NaN or negative size
  if (!dims.every((d) => /^\d+$/.test(d))) throw new Error(`${name}: malformed .npy shape (${shapeText})`);
  const shape = dims.map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = headerStart + headerLen;
  const byteLength = count * bytesPer[dtype];
  if (buf.byteLength - start < byteLength) throw new Error(`${name}: truncated .npy data (${buf.byteLength - start} of ${byteLength} bytes)`);
  const bytes = Uint8Array.prototype.slice.call(buf, start, start + byteLength); // copy: aligned, owned (Buffer#slice would be a view)
  const ab = bytes.buffer;
  let data: NpyData;
  switch (dtype) {
    case 'float32': data = new Float32Array(ab, 0, count); break;
    case 'float64': data = new Float64Array(ab, 0, count); break;
    case 'int32': data = new Int32Array(ab, 0, count); break;
    case 'int64': data = new BigInt64Array(ab, 0, count); break;
    case 'float16': data = new Uint16Array(ab, 0, count); break;
    default: data = new Uint8Array(ab, 0, count);
  }
  return { dtype, shape, data };
}

export function readNpy(path: string): NpyArray {
  return parseNpy(readFileSync(path), path);
}

/** Reads a .npy file and returns its values as float32, whatever numeric dtype it holds. */
export function readNpyFloat32(path: string): { shape: number[]; data: Float32Array } {
  const a = readNpy(path);
  if (a.data instanceof Float32Array) return { shape: a.shape, data: a.data };
  if (a.data instanceof BigInt64Array) return { shape: a.shape, data: Float32Array.from(a.data, (v) => Number(v)) };
  if (a.dtype === 'float16') throw new Error(`${path}: float16 .npy is not supported here`);
  return { shape: a.shape, data: Float32Array.from(a.data as ArrayLike<number>) };
}

export function encodeNpy(dtype: NpyDtype, shape: number[], data: NpyData): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`npy: data length ${data.length} does not match shape [${shape.join(',')}]`);
  const shapeText = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${dtypeToDescr[dtype]}', 'fortran_order': False, 'shape': (${shapeText}), }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

export function writeNpy(path: string, dtype: NpyDtype, shape: number[], data: NpyData): void {
  writeFileSync(path, encodeNpy(dtype, shape, data));
}
