/**
 * `.safetensors`: an 8-byte little-endian header length, a JSON header mapping tensor names to
 * {dtype, shape, data_offsets}, then the raw bytes. Tensors are read one at a time at their
 * offsets, so only the float32 result stays in memory.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { bytesPerElement, elementCount, gatherFloat32 } from './dtypes.ts';
import { checkpointError } from './errors.ts';
import type { CheckpointDtype, CheckpointTensor, ReadCheckpointOptions, StateDict } from './types.ts';

const safetensorsDtypes: Record<string, CheckpointDtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The format's own limit; anything larger is not a safetensors header. */
const maxHeaderBytes = 100_000_000;

interface HeaderEntry {
  name: string;
  dtype: CheckpointDtype;
  shape: number[];
  begin: number;
  end: number;
}

async function readExactly(handle: FileHandle, length: number, position: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(bytes, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return bytes.subarray(0, filled);
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function parseHeader(path: string, json: string, dataBytes: number): HeaderEntry[] {
  let header: unknown;
  try {
    header = JSON.parse(json);
  } catch (error) {
    throw checkpointError(path, `malformed safetensors header (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw checkpointError(path, 'malformed safetensors header (not a JSON object)');
  }
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype: storedDtype, shape, data_offsets: offsets } = (value ?? {}) as Record<string, unknown>;
    if (typeof storedDtype !== 'string' || !Array.isArray(shape) || !shape.every(isIndex)
      || !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
      throw checkpointError(path, `malformed safetensors header entry for tensor '${name}'`);
    }
    const dtype = safetensorsDtypes[storedDtype];
    if (!dtype) throw checkpointError(path, `tensor '${name}' has dtype ${storedDtype}; only F32, F16 and BF16 are supported`);
    const [begin, end] = offsets as [number, number];
    const expected = elementCount(shape) * bytesPerElement[dtype];
    if (end - begin !== expected) {
      throw checkpointError(path, `tensor '${name}' spans ${end - begin} bytes but its shape [${shape.join(', ')}] needs ${expected}`);
    }
    if (end > dataBytes) throw checkpointError(path, `truncated checkpoint (tensor '${name}' ends past the end of the file)`);
    entries.push({ name, dtype, shape, begin, end });
  }
  // each byte of the file belongs to at most one tensor: overlapping ranges would let a small
  // file be read as many large tensors
  const byBegin = [...entries].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byBegin.length; i++) {
    const [before, entry] = [byBegin[i - 1]!, byBegin[i]!];
    if (entry.begin < before.end) throw checkpointError(path, `tensors '${before.name}' and '${entry.name}' overlap in the file (data_offsets ${before.begin}..${before.end} and ${entry.begin}..${entry.end})`);
  }
  return entries;
}

export async function readSafetensors(path: string, options: ReadCheckpointOptions): Promise<StateDict> {
  const handle = await open(path, 'r');
  try {
    const fileBytes = (await handle.stat()).size;
    const lengthBytes = await readExactly(handle, 8, 0);
    if (lengthBytes.length < 8) throw checkpointError(path, 'truncated checkpoint (no safetensors header length)');
    const headerBytes = Number(new DataView(lengthBytes.buffer).getBigUint64(0, true));
    if (headerBytes > maxHeaderBytes) throw checkpointError(path, `malformed safetensors header (claims ${headerBytes} bytes)`);
    if (8 + headerBytes > fileBytes) throw checkpointError(path, 'truncated checkpoint (safetensors header runs past the end of the file)');
    const json = new TextDecoder().decode(await readExactly(handle, headerBytes, 8));
    const dataStart = 8 + headerBytes;
    const entries = parseHeader(path, json, fileBytes - dataStart);
    options.checkNames?.(entries.map((e) => e.name));

    const total = entries.reduce((sum, entry) => sum + entry.end - entry.begin, 0);
    let done = 0;
    const tensors: StateDict = new Map();
    for (const entry of entries) {
      options.signal?.throwIfAborted();
      const raw = await readExactly(handle, entry.end - entry.begin, dataStart + entry.begin);
      if (raw.length < entry.end - entry.begin) throw checkpointError(path, `truncated checkpoint (tensor '${entry.name}' is cut short)`);
      const tensor: CheckpointTensor = {
        shape: entry.shape,
        dtype: entry.dtype,
        // A float32 tensor's fresh read buffer already is its float32 data.
        data: entry.dtype === 'float32'
          ? new Float32Array(raw.buffer, 0, raw.length / 4)
          : gatherFloat32(raw, entry.dtype, { shape: entry.shape, stride: contiguousStride(entry.shape), offset: 0 }),
      };
      tensors.set(entry.name, tensor);
      done += raw.length;
      options.onProgress?.(done, total);
    }
    return tensors;
  } finally {
    await handle.close();
  }
}

function contiguousStride(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let step = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    stride[d] = step;
    step *= shape[d]!;
  }
  return stride;
}
