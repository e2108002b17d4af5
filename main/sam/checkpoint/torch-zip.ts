/**
 * `torch.save` checkpoints (the zip format of PyTorch >= 1.6): `<archive>/data.pkl` describes the
 * objects, and each tensor storage is its own entry `<archive>/data/<key>`. Storages are read one
 * at a time straight from the file, converted to float32, and their raw bytes dropped, so the peak
 * memory is the float32 result plus one storage.
 */
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { bytesPerElement, elementCount, gatherFloat32, isContiguous, isNonOverlapping, lastElementIndex, type StridedLayout } from './dtypes.ts';
import { checkpointError } from './errors.ts';
import { unpickle, type PickleCallable } from './pickle.ts';
import type { CheckpointDtype, CheckpointTensor, ReadCheckpointOptions, StateDict } from './types.ts';

/** torch's typed storage classes; those mapped to null exist but hold values this reader cannot use. */
const storageDtypes: Record<string, CheckpointDtype | null> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: null,
  LongStorage: null,
  IntStorage: null,
  ShortStorage: null,
  CharStorage: null,
  ByteStorage: null,
  BoolStorage: null,
};

class StorageType {
  constructor(readonly name: string, readonly dtype: CheckpointDtype | null) {}
}

class StorageRef {
  constructor(readonly key: string, readonly type: StorageType, readonly numel: number) {}
}

class TensorRef {
  constructor(readonly storage: StorageRef, readonly layout: StridedLayout) {}
}

function callable(pickleName: string, call: (args: readonly unknown[]) => unknown): PickleCallable {
  return { pickleName, call };
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isIndexList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isIndex);
}

function rebuildTensor(args: readonly unknown[]): TensorRef {
  const [storage, offset, shape, stride] = args;
  if (!(storage instanceof StorageRef)) throw new Error('_rebuild_tensor_v2 without a storage');
  if (!isIndex(offset) || !isIndexList(shape) || !isIndexList(stride) || shape.length !== stride.length) {
    throw new Error(`_rebuild_tensor_v2 with a malformed size/stride/offset for storage ${storage.key}`);
  }
  return new TensorRef(storage, { shape, stride, offset });
}

const allowedGlobals: Record<string, unknown> = {
  'collections.OrderedDict': callable('collections.OrderedDict', (args) => {
    const pairs = args[0];
    return new Map(Array.isArray(pairs) ? (pairs as [unknown, unknown][]) : []);
  }),
  'torch._utils._rebuild_tensor_v2': callable('torch._utils._rebuild_tensor_v2', rebuildTensor),
  // A saved nn.Parameter is its tensor plus requires_grad and hooks, which inference ignores.
  'torch._utils._rebuild_parameter': callable('torch._utils._rebuild_parameter', (args) => {
    if (!(args[0] instanceof TensorRef)) throw new Error('_rebuild_parameter without a tensor');
    return args[0];
  }),
  ...Object.fromEntries(Object.entries(storageDtypes).map(([name, dtype]) => [`torch.${name}`, new StorageType(name, dtype)])),
};

function resolveGlobal(module: string, name: string): unknown {
  const value = allowedGlobals[`${module}.${name}`];
  if (value === undefined) {
    throw new Error(`unsupported object ${module}.${name} (only tensors and dicts are read; code in checkpoints is never run)`);
  }
  return value;
}

function persistentLoad(pid: unknown): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage') throw new Error('a persistent id that is not a storage');
  const [, type, key, , numel] = pid;
  if (!(type instanceof StorageType) || typeof key !== 'string' || !isIndex(numel)) {
    throw new Error('a malformed storage persistent id');
  }
  return new StorageRef(key, type, numel);
}

/** Checkpoints are often wrapped: {model: state_dict, ...} or {state_dict: ..., epoch: ...}. */
function selectStateDict(path: string, root: unknown): Map<unknown, unknown> {
  if (!(root instanceof Map)) throw checkpointError(path, 'data.pkl does not hold a dict of tensors');
  for (const wrapperKey of ['model', 'state_dict']) {
    const inner = root.get(wrapperKey);
    if (inner instanceof Map) return inner;
  }
  return root;
}

type Entries = Map<string, yauzl.Entry>;

/** A SAM state dict's pickle is tens of kilobytes (ViT-H: about 600 tensors). */
const maxPickleBytes = 16 << 20;
/** How many times over the tensors of a state dict may read one storage (a tensor and its tied copy). */
const maxViewsPerStorage = 2;
/** Float weights deflate by a few percent; far beyond this ratio an entry is a zip bomb. */
const maxInflateRatio = 8;

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true }, (error, zip) => {
      if (error) {
        const truncated = /end of central directory record signature not found/i.test(error.message);
        reject(checkpointError(path, truncated
          ? 'truncated checkpoint (zip central directory not found)'
          : `corrupt zip container (${error.message})`));
      } else resolve(zip);
    });
  });
}

function listEntries(path: string, zip: yauzl.ZipFile): Promise<Entries> {
  return new Promise((resolve, reject) => {
    const entries: Entries = new Map();
    zip.on('entry', (entry: yauzl.Entry) => {
      entries.set(entry.fileName, entry);
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', (error: Error) => reject(checkpointError(path, `corrupt zip directory (${error.message})`)));
    zip.readEntry();
  });
}

/** Reads one entry into a fresh, 8-byte-aligned buffer of exactly its size, checking its CRC. */
function readEntry(path: string, zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => reject(checkpointError(path, `cannot read ${entry.fileName} (${error.message})`));
    zip.openReadStream(entry, (openError, stream) => {
      if (openError) return fail(openError);
      const bytes = new Uint8Array(entry.uncompressedSize);
      let filled = 0;
      stream.on('data', (chunk: Buffer) => {
        if (filled + chunk.length > bytes.length) return stream.destroy(new Error('entry is longer than its recorded size'));
        bytes.set(chunk, filled);
        filled += chunk.length;
      });
      stream.on('error', fail);
      stream.on('end', () => {
        if (filled !== bytes.length) return fail(new Error(`got ${filled} of ${bytes.length} bytes`));
        if ((crc32(bytes) >>> 0) !== entry.crc32) return fail(new Error('CRC-32 mismatch, the file is corrupt'));
        resolve(bytes);
      });
    });
  });
}

interface PlannedTensor {
  name: string;
  ref: TensorRef;
  dtype: CheckpointDtype;
}

function planTensors(path: string, stateDict: Map<unknown, unknown>): PlannedTensor[] {
  const planned: PlannedTensor[] = [];
  for (const [name, value] of stateDict) {
    if (typeof name !== 'string' || !(value instanceof TensorRef)) continue;
    const { type } = value.storage;
    if (!type.dtype) {
      throw checkpointError(path, `tensor '${name}' is stored as torch.${type.name}; only float32, float16 and bfloat16 tensors are supported`);
    }
    if (lastElementIndex(value.layout) >= value.storage.numel) {
      throw checkpointError(path, `tensor '${name}' reads past the end of its storage ${value.storage.key}`);
    }
    if (!isNonOverlapping(value.layout)) {
      throw checkpointError(path, `tensor '${name}' has a size/stride layout whose elements overlap (stride [${value.layout.stride.join(', ')}] for size [${value.layout.shape.join(', ')}])`);
    }
    planned.push({ name, ref: value, dtype: type.dtype });
  }
  if (planned.length === 0) throw checkpointError(path, 'no tensors found in data.pkl');
  return planned;
}

/** A float32 tensor that is its whole storage and the storage's only user can keep the read bytes. */
function adoptsStorage(tensor: PlannedTensor, users: number, raw: Uint8Array): boolean {
  const { layout } = tensor.ref;
  return users === 1 && tensor.dtype === 'float32' && layout.offset === 0 && raw.byteOffset === 0
    && raw.byteLength === raw.buffer.byteLength && elementCount(layout.shape) * 4 === raw.byteLength
    && isContiguous(layout);
}

async function readTensors(path: string, zip: yauzl.ZipFile, options: ReadCheckpointOptions): Promise<StateDict> {
  const entries = await listEntries(path, zip);
  const pickleName = [...entries.keys()].find((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (!pickleName) throw checkpointError(path, 'not a torch.save checkpoint (the zip has no <archive>/data.pkl)');
  const archive = pickleName.slice(0, -'/data.pkl'.length);

  const byteOrderEntry = entries.get(`${archive}/byteorder`);
  if (byteOrderEntry) {
    const byteOrder = new TextDecoder().decode(await readEntry(path, zip, byteOrderEntry)).trim();
    if (byteOrder !== 'little') throw checkpointError(path, `${byteOrder}-endian storages are not supported`);
  }

  const pickleEntry = entries.get(pickleName)!;
  if (pickleEntry.uncompressedSize > maxPickleBytes) {
    throw checkpointError(path, `data.pkl would inflate to ${pickleEntry.uncompressedSize} bytes, more than the ${maxPickleBytes} a state dict's pickle needs`);
  }
  const pickleBytes = await readEntry(path, zip, pickleEntry);
  let root: unknown;
  try {
    root = unpickle(pickleBytes, { resolveGlobal, persistentLoad });
  } catch (error) {
    throw checkpointError(path, `data.pkl: ${error instanceof Error ? error.message : String(error)}`);
  }
  const planned = planTensors(path, selectStateDict(path, root));
  options.checkNames?.(planned.map((t) => t.name));

  const byStorage = new Map<string, PlannedTensor[]>();
  for (const tensor of planned) {
    const users = byStorage.get(tensor.ref.storage.key) ?? [];
    users.push(tensor);
    byStorage.set(tensor.ref.storage.key, users);
  }
  let total = 0;
  for (const [key, users] of byStorage) {
    const entryName = `${archive}/data/${key}`;
    const entry = entries.get(entryName);
    if (!entry) throw checkpointError(path, `storage ${key} of tensor '${users[0]!.name}' is missing (no zip entry ${entryName})`);
    const { storage } = users[0]!.ref;
    // Views of one storage may overlap (a tied weight, a slice of a larger tensor), but a state
    // dict never reads a storage many times over: that would turn a small file into gigabytes.
    const viewed = users.reduce((sum, t) => sum + elementCount(t.ref.layout.shape), 0);
    if (viewed > maxViewsPerStorage * storage.numel) {
      throw checkpointError(path, `storage ${key} of ${storage.numel} elements is read as ${viewed} elements by ${users.length} tensors`);
    }
    const needed = storage.numel * bytesPerElement[users[0]!.dtype];
    if (entry.uncompressedSize < needed) {
      throw checkpointError(path, `storage ${key} holds ${entry.uncompressedSize} bytes but ${storage.numel} ${users[0]!.dtype} elements need ${needed}`);
    }
    // a compressed storage may not claim more than deflate can give from its bytes in the file
    if (entry.compressionMethod !== 0 && entry.uncompressedSize > maxInflateRatio * entry.compressedSize + 1024) {
      throw checkpointError(path, `storage ${key} would inflate from ${entry.compressedSize} to ${entry.uncompressedSize} bytes; weights do not compress that well`);
    }
    total += entry.uncompressedSize;
  }

  const tensors = new Map<string, CheckpointTensor>();
  let done = 0;
  for (const [key, users] of byStorage) {
    options.signal?.throwIfAborted();
    const entry = entries.get(`${archive}/data/${key}`)!;
    const raw = await readEntry(path, zip, entry);
    for (const tensor of users) {
      const data = adoptsStorage(tensor, users.length, raw)
        ? new Float32Array(raw.buffer)
        : gatherFloat32(raw, tensor.dtype, tensor.ref.layout);
      tensors.set(tensor.name, { shape: [...tensor.ref.layout.shape], dtype: tensor.dtype, data });
    }
    done += entry.uncompressedSize;
    options.onProgress?.(done, total);
  }
  // The pickle's key order, whatever order the storages were read in.
  return new Map(planned.map((tensor) => [tensor.name, tensors.get(tensor.name)!]));
}

export async function readTorchZip(path: string, options: ReadCheckpointOptions): Promise<StateDict> {
  const zip = await openZip(path);
  try {
    return await readTensors(path, zip, options);
  } finally {
    zip.close();
  }
}
