/**
 * Test helpers that write torch.save-style files by hand: a stored zip and protocol-2 pickle
 * opcodes, enough for synthetic checkpoints (strided tensors, other models' keys).
 */
import { writeFileSync } from 'node:fs';
import { crc32, deflateRawSync } from 'node:zlib';

/**
 * A minimal zip writer, the way torch.save lays out its archive: method 0 ("stored"), or
 * method 8 (deflate) for the names in `deflated`.
 */
export function writeStoredZip(path: string, files: [string, Uint8Array][], deflated: ReadonlySet<string> = new Set()): void {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nameBytes = Buffer.from(name);
    const crc = crc32(data) >>> 0;
    const method = deflated.has(name) ? 8 : 0;
    const body = method === 8 ? deflateRawSync(data) : Buffer.from(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(method, 10);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(body.length, 20);
    entry.writeUInt32LE(data.length, 24);
    entry.writeUInt16LE(nameBytes.length, 28);
    entry.writeUInt32LE(offset, 42);
    parts.push(local, nameBytes, body);
    central.push(entry, nameBytes);
    offset += 30 + nameBytes.length + body.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  writeFileSync(path, Buffer.concat([...parts, directory, end]));
}

/** Pickle opcodes, written by hand the way torch.save emits them (protocol 2). */
export const op = {
  proto: () => Buffer.from([0x80, 2]),
  global: (module: string, name: string) => Buffer.from(`c${module}\n${name}\n`, 'latin1'),
  str: (text: string) => {
    const bytes = Buffer.from(text);
    const head = Buffer.alloc(5);
    head[0] = 0x58;
    head.writeUInt32LE(bytes.length, 1);
    return Buffer.concat([head, bytes]);
  },
  int: (n: number) => {
    const bytes = Buffer.alloc(5);
    bytes[0] = 0x4a;
    bytes.writeInt32LE(n, 1);
    return bytes;
  },
  mark: () => Buffer.from('('),
  tuple: () => Buffer.from('t'),
  emptyTuple: () => Buffer.from(')'),
  emptyDict: () => Buffer.from('}'),
  setItem: () => Buffer.from('s'),
  reduce: () => Buffer.from('R'),
  persistentId: () => Buffer.from('Q'),
  false: () => Buffer.from([0x89]),
  stop: () => Buffer.from('.'),
};

export interface SyntheticTensor { name: string; storageType: string; key: string; storageNumel: number; offset: number; shape: number[]; stride: number[] }

export function tuple(items: Buffer[]): Buffer {
  return Buffer.concat([op.mark(), ...items, op.tuple()]);
}

export function tensorPickle(t: SyntheticTensor): Buffer {
  const storage = Buffer.concat([
    tuple([op.str('storage'), op.global('torch', t.storageType), op.str(t.key), op.str('cpu'), op.int(t.storageNumel)]),
    op.persistentId(),
  ]);
  const hooks = Buffer.concat([op.global('collections', 'OrderedDict'), op.emptyTuple(), op.reduce()]);
  return Buffer.concat([
    op.global('torch._utils', '_rebuild_tensor_v2'),
    tuple([storage, op.int(t.offset), tuple(t.shape.map(op.int)), tuple(t.stride.map(op.int)), op.false(), hooks]),
    op.reduce(),
  ]);
}

export function dictPickle(entries: [string, Buffer][]): Buffer {
  return Buffer.concat([op.emptyDict(), ...entries.flatMap(([key, value]) => [op.str(key), value, op.setItem()])]);
}

export function writeSyntheticPth(path: string, root: Buffer, storages: Record<string, Uint8Array>): void {
  writeStoredZip(path, [
    ['archive/data.pkl', Buffer.concat([op.proto(), root, op.stop()])],
    ['archive/byteorder', Buffer.from('little')],
    ...Object.entries(storages).map(([key, bytes]): [string, Uint8Array] => [`archive/data/${key}`, bytes]),
  ]);
}

export function float32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}


/** Writes a float32 state dict as a torch.save zip checkpoint (one storage per tensor). */
export function writeStateDictPth(path: string, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
  const entries: [string, Buffer][] = [];
  const storages: Record<string, Uint8Array> = {};
  let key = 0;
  for (const [name, t] of tensors) {
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    const k = String(key++);
    entries.push([name, tensorPickle({ name, storageType: 'FloatStorage', key: k, storageNumel: t.data.length, offset: 0, shape: t.shape, stride })]);
    storages[k] = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  }
  const root = Buffer.concat([op.global('collections', 'OrderedDict'), op.emptyTuple(), op.reduce(), ...entries.flatMap(([n, v]) => [op.str(n), v, op.setItem()])]);
  writeSyntheticPth(path, root, storages);
}
