/**
 * A small pickle virtual machine for the opcodes `torch.save` writes (protocol 2, plus the
 * protocol 3/4 opcodes that carry plain data). It never runs code: GLOBAL only resolves names
 * through the caller's table, and REDUCE only calls what that table returned. Dicts become Maps,
 * lists and tuples become arrays.
 */

/** Something the caller's global table returns that REDUCE may call. */
export interface PickleCallable {
  readonly pickleName: string;
  call(args: readonly unknown[]): unknown;
}

export interface UnpickleHooks {
  /** Returns the value for `module.name`, or throws when the name is not allowed. */
  resolveGlobal(module: string, name: string): unknown;
  /** Turns a persistent id (BINPERSID) into a value. */
  persistentLoad(pid: unknown): unknown;
}

function isCallable(value: unknown): value is PickleCallable {
  return typeof value === 'object' && value !== null && typeof (value as PickleCallable).call === 'function'
    && typeof (value as PickleCallable).pickleName === 'string';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

class Unpickler {
  readonly view: DataView;
  position = 0;
  stack: unknown[] = [];
  readonly marks: number[] = [];
  readonly memo = new Map<number, unknown>();
  result: { value: unknown } | undefined;

  constructor(readonly bytes: Uint8Array, readonly hooks: UnpickleHooks) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  take(length: number): Uint8Array {
    if (this.position + length > this.bytes.length) throw new Error(`pickle ends early at byte ${this.bytes.length}`);
    const slice = this.bytes.subarray(this.position, this.position + length);
    this.position += length;
    return slice;
  }

  u8(): number { return this.take(1)[0]!; }
  u16(): number { const p = this.position; this.take(2); return this.view.getUint16(p, true); }
  u32(): number { const p = this.position; this.take(4); return this.view.getUint32(p, true); }
  i32(): number { const p = this.position; this.take(4); return this.view.getInt32(p, true); }
  f64be(): number { const p = this.position; this.take(8); return this.view.getFloat64(p, false); }

  line(): string {
    const end = this.bytes.indexOf(0x0a, this.position);
    if (end < 0) throw new Error(`pickle ends early at byte ${this.bytes.length}`);
    const text = latin1.decode(this.bytes.subarray(this.position, end));
    this.position = end + 1;
    return text;
  }

  push(value: unknown): void { this.stack.push(value); }

  pop(): unknown {
    if (this.stack.length === 0) throw new Error(`pickle stack underflow at byte ${this.position}`);
    return this.stack.pop();
  }

  top(): unknown {
    if (this.stack.length === 0) throw new Error(`pickle stack underflow at byte ${this.position}`);
    return this.stack[this.stack.length - 1];
  }

  popToMark(): unknown[] {
    const start = this.marks.pop();
    if (start === undefined) throw new Error(`pickle has no MARK before byte ${this.position}`);
    return this.stack.splice(start);
  }

  memoGet(index: number): unknown {
    if (!this.memo.has(index)) throw new Error(`pickle reads memo slot ${index} before writing it`);
    return this.memo.get(index);
  }

  dictTop(): Map<unknown, unknown> {
    const target = this.top();
    if (!(target instanceof Map)) throw new Error(`pickle SETITEM on a non-dict at byte ${this.position}`);
    return target;
  }

  listTop(): unknown[] {
    const target = this.top();
    if (!Array.isArray(target)) throw new Error(`pickle APPEND on a non-list at byte ${this.position}`);
    return target;
  }
}

/** Little-endian two's complement integer of any length (LONG1), as a number when it is safe. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) value -= 1n << BigInt(8 * bytes.length);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function setItems(target: Map<unknown, unknown>, flat: unknown[]): void {
  if (flat.length % 2 !== 0) throw new Error('pickle SETITEMS with an odd number of items');
  for (let i = 0; i < flat.length; i += 2) target.set(flat[i], flat[i + 1]);
}

type Opcode = (vm: Unpickler) => void;

const opcodes: Record<number, Opcode> = {
  0x80: (vm) => { vm.u8(); }, // PROTO: the version needs no handling
  0x2e: (vm) => { vm.result = { value: vm.pop() }; }, // STOP
  0x7d: (vm) => vm.push(new Map()), // EMPTY_DICT
  0x5d: (vm) => vm.push([]), // EMPTY_LIST
  0x29: (vm) => vm.push([]), // EMPTY_TUPLE
  0x28: (vm) => { vm.marks.push(vm.stack.length); }, // MARK
  0x30: (vm) => { vm.pop(); }, // POP
  0x31: (vm) => { vm.popToMark(); }, // POP_MARK
  0x32: (vm) => vm.push(vm.top()), // DUP
  0x64: (vm) => { const map = new Map(); setItems(map, vm.popToMark()); vm.push(map); }, // DICT
  0x6c: (vm) => vm.push(vm.popToMark()), // LIST
  0x74: (vm) => vm.push(vm.popToMark()), // TUPLE
  0x85: (vm) => vm.push([vm.pop()]), // TUPLE1
  0x86: (vm) => { const b = vm.pop(); const a = vm.pop(); vm.push([a, b]); }, // TUPLE2
  0x87: (vm) => { const c = vm.pop(); const b = vm.pop(); const a = vm.pop(); vm.push([a, b, c]); }, // TUPLE3
  0x58: (vm) => vm.push(utf8.decode(vm.take(vm.u32()))), // BINUNICODE
  0x8c: (vm) => vm.push(utf8.decode(vm.take(vm.u8()))), // SHORT_BINUNICODE
  0x54: (vm) => vm.push(latin1.decode(vm.take(vm.u32()))), // BINSTRING
  0x55: (vm) => vm.push(latin1.decode(vm.take(vm.u8()))), // SHORT_BINSTRING
  0x42: (vm) => vm.push(vm.take(vm.u32()).slice()), // BINBYTES
  0x43: (vm) => vm.push(vm.take(vm.u8()).slice()), // SHORT_BINBYTES
  0x71: (vm) => { vm.memo.set(vm.u8(), vm.top()); }, // BINPUT
  0x72: (vm) => { vm.memo.set(vm.u32(), vm.top()); }, // LONG_BINPUT
  0x94: (vm) => { vm.memo.set(vm.memo.size, vm.top()); }, // MEMOIZE
  0x68: (vm) => vm.push(vm.memoGet(vm.u8())), // BINGET
  0x6a: (vm) => vm.push(vm.memoGet(vm.u32())), // LONG_BINGET
  0x4a: (vm) => vm.push(vm.i32()), // BININT
  0x4b: (vm) => vm.push(vm.u8()), // BININT1
  0x4d: (vm) => vm.push(vm.u16()), // BININT2
  0x8a: (vm) => vm.push(decodeLong(vm.take(vm.u8()))), // LONG1
  0x47: (vm) => vm.push(vm.f64be()), // BINFLOAT
  0x88: (vm) => vm.push(true), // NEWTRUE
  0x89: (vm) => vm.push(false), // NEWFALSE
  0x4e: (vm) => vm.push(null), // NONE
  0x73: (vm) => { const value = vm.pop(); const key = vm.pop(); vm.dictTop().set(key, value); }, // SETITEM
  0x75: (vm) => { const flat = vm.popToMark(); setItems(vm.dictTop(), flat); }, // SETITEMS
  0x61: (vm) => { const value = vm.pop(); vm.listTop().push(value); }, // APPEND
  0x65: (vm) => { const values = vm.popToMark(); vm.listTop().push(...values); }, // APPENDS
  0x63: (vm) => { const module = vm.line(); const name = vm.line(); vm.push(vm.hooks.resolveGlobal(module, name)); }, // GLOBAL
  0x93: (vm) => { // STACK_GLOBAL
    const name = vm.pop();
    const module = vm.pop();
    if (typeof module !== 'string' || typeof name !== 'string') throw new Error('pickle STACK_GLOBAL without string names');
    vm.push(vm.hooks.resolveGlobal(module, name));
  },
  0x52: (vm) => { // REDUCE
    const args = vm.pop();
    const callable = vm.pop();
    if (!isCallable(callable)) throw new Error(`pickle REDUCE on something that cannot be called at byte ${vm.position}`);
    if (!Array.isArray(args)) throw new Error(`pickle REDUCE of ${callable.pickleName} without an argument tuple`);
    vm.push(callable.call(args));
  },
  0x62: (vm) => { // BUILD
    const state = vm.pop();
    // An OrderedDict's attributes (a state dict's `_metadata` version table) carry no tensor data.
    if (vm.top() instanceof Map && state instanceof Map) return;
    throw new Error(`pickle BUILD of an unsupported object at byte ${vm.position}`);
  },
  0x51: (vm) => vm.push(vm.hooks.persistentLoad(vm.pop())), // BINPERSID
};

export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks): unknown {
  const vm = new Unpickler(bytes, hooks);
  while (!vm.result) {
    const at = vm.position;
    const opcode = vm.u8();
    const run = opcodes[opcode];
    if (!run) throw new Error(`unsupported pickle opcode 0x${opcode.toString(16).padStart(2, '0')} at byte ${at}`);
    run(vm);
  }
  return vm.result.value;
}
