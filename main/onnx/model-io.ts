/**
 * Reading and writing ONNX model files, including ONNX external data: protobuf cannot encode a
 * message over 2 GB, so large models (ViT-H) keep their initializer bytes in a side file
 * `<model>.data` referenced by (location, offset, length) entries.
 */
import { closeSync, existsSync, fstatSync, lstatSync, openSync, readFileSync, readSync, realpathSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { DataLocation, onnx, type IGraphProto, type ITensorProto, type ModelProto } from './proto.ts';

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
 * `loadExternalData` is false (enough to inspect a signature without reading gigabytes); every
 * external reference is checked either way, since onnxruntime will follow them later.
 */
/** Whether any initializer of the main graph keeps its bytes in an external-data file. */
export function usesExternalData(model: ModelProto): boolean {
  return (model.graph?.initializer ?? []).some((t) => t.dataLocation === DataLocation.EXTERNAL);
}

export function loadModel(path: string, opts: { loadExternalData?: boolean } = {}): ModelProto {
  if (!existsSync(path)) throw new Error(`${path}: file not found`);
  const model = decodeModel(readFileSync(path), path);
  resolveExternalData(model, dirname(resolve(path)), path, opts.loadExternalData ?? true);
  return model;
}

/**
 * Every tensor a model holds: initializers, sparse initializers, and the tensors of node
 * attributes (a Constant's value), in the main graph and in every subgraph (If, Loop, Scan).
 * Each may name external data, so each is checked.
 */
export function allTensors(model: ModelProto): ITensorProto[] {
  const found: ITensorProto[] = [];
  const visit = (graph: IGraphProto | null | undefined): void => {
    if (!graph) return;
    found.push(...(graph.initializer ?? []));
    for (const sparse of graph.sparseInitializer ?? []) {
      if (sparse.values) found.push(sparse.values);
      if (sparse.indices) found.push(sparse.indices);
    }
    for (const node of graph.node ?? []) {
      for (const attribute of node.attribute ?? []) {
        if (attribute.t) found.push(attribute.t);
        found.push(...(attribute.tensors ?? []));
        for (const sparse of [attribute.sparseTensor, ...(attribute.sparseTensors ?? [])]) {
          if (sparse?.values) found.push(sparse.values);
          if (sparse?.indices) found.push(sparse.indices);
        }
        visit(attribute.g);
        for (const g of attribute.graphs ?? []) visit(g);
      }
    }
  };
  visit(model.graph);
  return found;
}

/**
 * Encodes a model for a session created from bytes. Such a session has no folder, so
 * onnxruntime would resolve external data against the process's working directory: the model
 * must hold all its bytes.
 */
export function encodeSelfContained(model: ModelProto, nameForErrors: string): Uint8Array {
  const external = allTensors(model).find((t) => t.dataLocation === DataLocation.EXTERNAL);
  if (external) throw new Error(`${nameForErrors}: tensor ${external.name} still refers to external data; load the model with its data first`);
  return encodeModel(model);
}

/** A non-negative integer written in decimal, as the ONNX writer emits offset and length. */
function externalNumber(t: ITensorProto, key: 'offset' | 'length', modelPath: string): number | undefined {
  const text = externalEntry(t, key);
  if (text === undefined) return undefined;
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw new Error(`${modelPath}: tensor ${t.name}: external data ${key} "${text}" is not a non-negative integer`);
  return value;
}

/**
 * The data file a tensor names, proven to be a regular file inside the model's folder: the
 * comparison is on real paths with a separator (so "../<folder>-evil/x" fails), and a symlink is
 * refused rather than followed.
 */
function externalFile(t: ITensorProto, baseDir: string, modelPath: string): string {
  const location = externalEntry(t, 'location');
  if (!location) throw new Error(`${modelPath}: tensor ${t.name} has external data without a location`);
  const escapes = () => new Error(`${modelPath}: external data path escapes the model folder: ${location}`);
  if (isAbsolute(location) || location.includes('\0')) throw escapes();
  const realBase = realpathSync(baseDir);
  const file = resolve(realBase, location);
  if (!isInside(realBase, file)) throw escapes();
  let stat;
  try {
    stat = lstatSync(file);
  } catch {
    throw new Error(`${modelPath}: external data file ${location} not found`);
  }
  if (stat.isSymbolicLink()) throw new Error(`${modelPath}: external data file ${location} is a symbolic link; copy the file into the model folder`);
  if (!stat.isFile()) throw new Error(`${modelPath}: external data ${location} is not a regular file`);
  if (!isInside(realBase, realpathSync(file))) throw escapes();
  return file;
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Checks every external reference and, when `load`, reads the bytes into the tensors. */
function resolveExternalData(model: ModelProto, baseDir: string, modelPath: string, load: boolean): void {
  const fds = new Map<string, number>();
  try {
    for (const t of allTensors(model)) {
      if (t.dataLocation !== DataLocation.EXTERNAL) continue;
      const file = externalFile(t, baseDir, modelPath);
      const location = externalEntry(t, 'location');
      let fd = fds.get(file);
      if (fd === undefined) {
        fd = openSync(file, 'r');
        fds.set(file, fd);
      }
      const size = fstatSync(fd).size;
      const offset = externalNumber(t, 'offset', modelPath) ?? 0;
      const length = externalNumber(t, 'length', modelPath) ?? size - offset;
      if (offset + length > size || length < 0) throw new Error(`${modelPath}: external data ${location} is truncated (tensor ${t.name} needs bytes ${offset}..${offset + length}, file has ${size})`);
      if (!load) continue;
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
