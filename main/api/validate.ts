/**
 * Input checks at the API boundary: the renderer is untrusted, so every argument is checked for
 * type and range before it reaches a service. Each check names the method and field it rejects.
 */
export class ApiInputError extends Error {}

type Obj = Record<string, unknown>;

function fail(where: string, what: string): never {
  throw new ApiInputError(`${where}: ${what}`);
}

export function obj(where: string, v: unknown): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(where, 'expected an object argument');
  return v as Obj;
}

export function int(where: string, v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(where, `${JSON.stringify(v)} is not an integer in [${min}, ${max}]`);
  return v;
}

export function num(where: string, v: unknown, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(where, `${JSON.stringify(v)} is not a number in [${min}, ${max}]`);
  return v;
}

export function str(where: string, v: unknown, maxLength = 4096): string {
  if (typeof v !== 'string' || v.length > maxLength) fail(where, `expected a string of at most ${maxLength} characters`);
  return v;
}

export function bool(where: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(where, 'expected true or false');
  return v;
}

export function oneOf<T extends string>(where: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) fail(where, `${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
  return v as T;
}

export function optional<T>(v: unknown, check: (v: unknown) => T): T | undefined {
  return v === undefined ? undefined : check(v);
}

export function nullable<T>(v: unknown, check: (v: unknown) => T): T | null {
  return v === null || v === undefined ? null : check(v);
}

export function arr<T>(where: string, v: unknown, each: (v: unknown, i: number) => T, maxLength = 100_000): T[] {
  if (!Array.isArray(v) || v.length > maxLength) fail(where, `expected an array of at most ${maxLength} items`);
  return v.map(each);
}

export function u8(where: string, v: unknown, length: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== length) fail(where, `expected a Uint8Array of ${length} bytes`);
  return v;
}

export function f32(where: string, v: unknown, length: number): Float32Array {
  if (!(v instanceof Float32Array) || v.length !== length) fail(where, `expected a Float32Array of ${length} values`);
  return v;
}

export function point2(where: string, v: unknown): [number, number] {
  const a = arr(where, v, (x) => num(where, x, -1e6, 1e6), 2);
  if (a.length !== 2) fail(where, 'expected [x, y]');
  return [a[0]!, a[1]!];
}

export function color(where: string, v: unknown): string {
  const s = str(where, v, 7).toLowerCase();
  if (!/^#[0-9a-f]{6}$/.test(s)) fail(where, `${JSON.stringify(v)} is not a colour like #12ab9f`);
  return s;
}
