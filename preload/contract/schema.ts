/**
 * A small schema language for the API's inputs: each builder gives both a TypeScript type
 * (`Infer<typeof schema>`) and a runtime check (`schema.parse(where, value)`), so an input is
 * declared once and the type the renderer compiles against is the rule main enforces. The
 * renderer is untrusted: `parse` refuses anything else with an ApiInputError whose message
 * names the method and the field (`imagesList.limit: 0 is not an integer in [1, 10000]`).
 * Objects come back with only their declared keys; an optional key left out stays absent.
 */

/** A refused input: the message names where (method and field) and what was wrong. */
export class ApiInputError extends Error {}

export interface Schema<T> {
  /** The value, typed; throws ApiInputError naming `where` when it does not fit. */
  parse(where: string, value: unknown): T;
  /** set by `optional()`: the key may be left out of its object */
  readonly optional?: true;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

export function fail(where: string, what: string): never {
  throw new ApiInputError(`${where}: ${what}`);
}

/** A refused value as the message shows it (JSON would print NaN and Infinity as null). */
function show(v: unknown): string {
  return typeof v === 'number' ? String(v) : JSON.stringify(v);
}

function schema<T>(parse: (where: string, value: unknown) => T): Schema<T> {
  return { parse };
}

export function int(min = 0, max = Number.MAX_SAFE_INTEGER): Schema<number> {
  return schema((where, v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(where, `${show(v)} is not an integer in [${min}, ${max}]`);
    return v;
  });
}

/** A finite number in [min, max]. */
export function num(min = -Infinity, max = Infinity): Schema<number> {
  return schema((where, v) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(where, `${show(v)} is not a number in [${min}, ${max}]`);
    return v;
  });
}

export function str(maxLength = 4096): Schema<string> {
  return schema((where, v) => {
    if (typeof v !== 'string' || v.length > maxLength) fail(where, `expected a string of at most ${maxLength} characters`);
    return v;
  });
}

export function bool(): Schema<boolean> {
  return schema((where, v) => {
    if (typeof v !== 'boolean') fail(where, 'expected true or false');
    return v;
  });
}

/** One of the values of an enumeration (an `as const` array). */
export function oneOf<const T extends string | number>(values: readonly T[]): Schema<T> {
  return schema((where, v) => {
    if (!values.includes(v as T)) fail(where, `${show(v)} is not one of ${values.join(', ')}`);
    return v as T;
  });
}

export function arr<T>(item: Schema<T>, { min = 0, max = 100_000 }: { min?: number; max?: number } = {}): Schema<T[]> {
  return schema((where, v) => {
    if (!Array.isArray(v) || v.length > max) fail(where, `expected an array of at most ${max} items`);
    if (v.length < min) fail(where, `expected at least ${min} items, got ${v.length}`);
    // a loop, not map: map skips the holes of a sparse array and would pass them on unchecked
    const out: T[] = [];
    for (let i = 0; i < v.length; i++) {
      if (!Object.hasOwn(v, i)) fail(`${where}[${i}]`, 'missing');
      out.push(item.parse(`${where}[${i}]`, v[i]));
    }
    return out;
  });
}

/** A fixed-length array, e.g. a point [x, y]. */
export function tuple<const S extends readonly Schema<unknown>[]>(...items: S): Schema<{ -readonly [K in keyof S]: Infer<S[K]> }> {
  return schema((where, v) => {
    if (!Array.isArray(v) || v.length !== items.length) fail(where, `expected an array of ${items.length} items`);
    return items.map((s, i) => (Object.hasOwn(v, i) ? s.parse(`${where}[${i}]`, v[i]) : fail(`${where}[${i}]`, 'missing'))) as { -readonly [K in keyof S]: Infer<S[K]> };
  });
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S];
type Flat<T> = { [K in keyof T]: T[K] } & {};
export type ObjOf<S extends Shape> = Flat<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined> }
>;

/** A plain object with these keys (others are ignored and not passed on). */
export function obj<S extends Shape>(shape: S): Schema<ObjOf<S>> {
  return schema((where, v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(where, 'expected an object argument');
    const out: Record<string, unknown> = {};
    for (const [key, s] of Object.entries(shape)) {
      const x = s.parse(`${where}.${key}`, (v as Record<string, unknown>)[key]);
      if (x !== undefined) out[key] = x;
    }
    return out as ObjOf<S>;
  });
}

/** The key may be left out (or be undefined). */
export function optional<T>(s: Schema<T>): Schema<T | undefined> & { readonly optional: true } {
  return { optional: true, parse: (where, v) => (v === undefined ? undefined : s.parse(where, v)) };
}

export function nullable<T>(s: Schema<T>): Schema<T | null> {
  return schema((where, v) => (v === null ? null : s.parse(where, v)));
}

/** The first of the alternatives that accepts the value. */
export function union<S extends readonly Schema<unknown>[]>(...alternatives: S): Schema<Infer<S[number]>> {
  return schema((where, v) => {
    const refusals: string[] = [];
    for (const s of alternatives) {
      try {
        return s.parse(where, v) as Infer<S[number]>;
      } catch (err) {
        if (!(err instanceof ApiInputError)) throw err;
        refusals.push(err.message.slice(where.length + 2));
      }
    }
    return fail(where, refusals.join('; or '));
  });
}

/**
 * A schema with a further rule or a normalization: `then` gets the value `s` accepted and returns
 * the value to pass on, calling `refuse` with what is wrong otherwise.
 */
export function refine<T, U = T>(s: Schema<T>, then: (value: T, refuse: (what: string) => never) => U): Schema<U> {
  return schema((where, v) => then(s.parse(where, v), (what) => fail(where, what)));
}

/** The input of a method that takes no argument: whatever is sent is ignored. */
export function nothing(): Schema<undefined> {
  return schema(() => undefined);
}
