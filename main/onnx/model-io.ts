/**
 * Reading and writing ONNX model files, including ONNX external data: protobuf cannot encode a
 * message over 2 GB, so large models (ViT-H) keep their initializer bytes in a side file
 * `<model>.data` referenced by (location, offset, length) entries.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DataLocation, onnx, type ITensorProto, type ModelProto } from './proto.ts';

/** Above this many bytes of initializers a model is saved with external data. */
export const EXTERNAL_DATA_THRESHOLD_BYTES = 1.5 * 1024 ** 3;

export function decodeModel(bytes: Uint8Array, nameForErrors = 'model'): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new Error(`${nameForErrors}: not a valid ONNX model (${(err as Error).message})`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) {
    throw new Error(`${nameForErrors}: not a valid ONNX model (no graph nodes)`);
  }
  return model;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

function externalEntry(t: ITensorProto, key: string): string | undefined {
  return (t.externalData ?? []).find((e) => e.key === key)?.value ?? undefined;
}

/**
 * Loads a model file. External data is read into each tensor's raw_data unless
 * `loadExternalData` is false (enough to inspect a signature without reading gigabytes).
 */
/** Whether any initializer of the main graph keeps its bytes in an external-data file. */
export function usesExternalData(model: ModelProto): boolean {
  return (model.graph?.initializer ?? []).some((t) => t.dataLocation === DataLocation.EXTERNAL);
}

export function loadModel(path: string, opts: { loadExternalData?: boolean } = {}): ModelProto {
  if (!existsSync(path)) throw new Error(`${path}: file not found`);
  const model = decodeModel(readFileSync(path), path);
  if (opts.loadExternalData ?? true) loadExternalData(model, dirname(resolve(path)), path);
  return model;
}

function loadExternalData(model: ModelProto, baseDir: string, modelPath: string): void {
  const fds = new Map<string, number>();
  try {
    for (const t of model.graph?.initializer ?? []) {
      if (t.dataLocation !== DataLocation.EXTERNAL) continue;
      const location = externalEntry(t, 'location');
      if (!location) throw new Error(`${modelPath}: tensor ${t.name} has external data without a location`);
      const file = resolve(baseDir, location);
      if (!file.startsWith(resolve(baseDir))) throw new Error(`${modelPath}: external data path escapes the model folder: ${location}`);
      let fd = fds.get(file);
      if (fd === undefined) {
        if (!existsSync(file)) throw new Error(`${modelPath}: external data file ${location} not found`);
        fd = openSync(file, 'r');
        fds.set(file, fd);
      }
      const offset = Number(externalEntry(t, 'offset') ?? 0);
      const size = fstatSync(fd).size;
      const length = Number(externalEntry(t, 'length') ?? size - offset);
      if (offset + length > size) throw new Error(`${modelPath}: external data ${location} is truncated (tensor ${t.name} needs bytes ${offset}..${offset + length}, file has ${size})`);
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) done += readSync(fd, buf, done, length - done, offset + done);
      t.rawData = buf;
      t.dataLocation = DataLocation.DEFAULT;
      t.externalData = [];
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}

function initializerBytes(model: ModelProto): number {
  let total = 0;
  for (const t of model.graph?.initializer ?? []) total += t.rawData?.length ?? 0;
  return total;
}

/**
 * Saves a model. With `externalData` (default: automatic above 1.5 GB of weights) every
 * initializer of at least 1 KiB goes to `<file>.data`, 64-byte aligned so it can be mapped.
 * Returns the files written.
 */
export function saveModel(model: ModelProto, path: string, opts: { externalData?: boolean } = {}): string[] {
  const useExternal = opts.externalData ?? initializerBytes(model) > EXTERNAL_DATA_THRESHOLD_BYTES;
  if (!useExternal) {
    writeAll(path, encodeModel(model));
    return [path];
  }
  const dataName = `${basename(path)}.data`;
  const dataPath = join(dirname(path), dataName);
  const moved: { t: ITensorProto; raw: Uint8Array }[] = [];
  const fd = openSync(dataPath, 'w');
  try {
    let offset = 0;
    for (const t of model.graph?.initializer ?? []) {
      const raw = t.rawData;
      if (!raw || raw.length < 1024) continue;
      const pad = (64 - (offset % 64)) % 64;
      if (pad) { writeBytes(fd, new Uint8Array(pad)); offset += pad; }
      writeBytes(fd, raw);
      moved.push({ t, raw });
      t.rawData = new Uint8Array(0);
      t.dataLocation = DataLocation.EXTERNAL;
      t.externalData = [
        { key: 'location', value: dataName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.length) },
      ];
      offset += raw.length;
    }
  } finally {
    closeSync(fd);
  }
  try {
    writeAll(path, encodeModel(model));
  } finally {
    // Restore the in-memory model: callers keep using it.
    for (const { t, raw } of moved) {
      t.rawData = raw;
      t.dataLocation = DataLocation.DEFAULT;
      t.externalData = [];
    }
  }
  return [path, dataPath];
}

function writeBytes(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

function writeAll(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w');
  try { writeBytes(fd, bytes); } finally { closeSync(fd); }
}
