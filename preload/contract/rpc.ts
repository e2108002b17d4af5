/**
 * One request/response protocol for every channel between our processes and threads: the
 * window's API calls (preload -> main/app over Electron IPC), the SAM engine's worker thread
 * (main/sam/engine.ts -> engine-worker.ts) and the long jobs' child process (main/services/jobs.ts
 * -> job-process.ts). A method map (an object type of async functions) types both ends: the
 * client's `call('encode', ...)` takes that method's arguments and resolves to its result; the
 * serving side answers a request with `answer(methods, request)`. Requests carry an id, so one
 * channel holds many calls at once and answers may come back in any order; a failure crosses as
 * its message (and an optional code, e.g. the setup step that failed) and is rethrown as an
 * RpcError. Envelopes are plain objects: they pass structured clone and Electron IPC as they are.
 */

/** A method table: async functions whose parameter lists differ per method (Parameters<> recovers each). */
export type Methods = { [method: string]: (...args: any[]) => Promise<unknown> };

type Name<M> = keyof M & string;
type Args<M extends Methods, K extends Name<M>> = Parameters<M[K]>;
type Result<M extends Methods, K extends Name<M>> = Awaited<ReturnType<M[K]>>;

export interface Request<M extends Methods, K extends Name<M> = Name<M>> {
  kind: 'request';
  id: number;
  method: K;
  args: Args<M, K>;
}

export interface Failure {
  message: string;
  /** what the caller may need to tell failures apart by (e.g. a setup step), else null */
  code: string | null;
}

export type Response<M extends Methods, K extends Name<M> = Name<M>> =
  | { kind: 'response'; id: number; result: Result<M, K> }
  | { kind: 'response'; id: number; error: Failure };

/** A one-way message beside the calls, e.g. a job's progress. */
export interface Notice<E> { kind: 'event'; event: E }

export class RpcError extends Error {
  constructor(message: string, readonly code: string | null) {
    super(message);
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

export function isNotice<E>(message: unknown): message is Notice<E> {
  return isObject(message) && message.kind === 'event';
}

export function notice<E>(event: E): Notice<E> {
  return { kind: 'event', event };
}

/**
 * The calling end. `send` delivers a request; a transport that replies to each message itself
 * (Electron's `invoke`) returns the reply's promise, any other passes replies to `receive`.
 * `transfer` lists buffers a thread transport may hand over instead of copying (postMessage's
 * transfer list; empty unless the caller asked with callTransferring).
 */
export class RpcClient<M extends Methods> {
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #closed: Error | null = null;

  constructor(private readonly send: (request: Request<M>, transfer: ArrayBuffer[]) => void | Promise<unknown>) {}

  call<K extends Name<M>>(method: K, ...args: Args<M, K>): Promise<Result<M, K>> {
    return this.callTransferring([], method, ...args);
  }

  /** A call whose `transfer` buffers are handed over (detached on this side) rather than copied. */
  callTransferring<K extends Name<M>>(transfer: ArrayBuffer[], method: K, ...args: Args<M, K>): Promise<Result<M, K>> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    return new Promise<Result<M, K>>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        const reply = this.send({ kind: 'request', id, method, args } as Request<M>, transfer);
        // only a promise is a reply: other transports' send returns flags (ChildProcess.send) or nothing
        if (reply instanceof Promise) reply.then((r) => { if (!this.receive(r)) this.#settle(id, new Error(`malformed answer to ${method}`)); }, (err: unknown) => this.#settle(id, toError(err)));
      } catch (err) {
        this.#settle(id, toError(err));
      }
    });
  }

  /** Settles the call a response answers; false when `message` is not a response to a pending call. */
  receive(message: unknown): boolean {
    if (!isObject(message) || message.kind !== 'response' || typeof message.id !== 'number' || !this.#pending.has(message.id)) return false;
    if ('error' in message) {
      const e = message.error as Failure;
      this.#settle(message.id, new RpcError(e.message, e.code));
    } else {
      this.#settle(message.id, null, message.result);
    }
    return true;
  }

  /** The channel is gone: pending calls and later ones fail with `err`. */
  close(err: Error): void {
    this.#closed ??= err;
    for (const id of [...this.#pending.keys()]) this.#settle(id, err);
  }

  #settle(id: number, err: Error | null, result?: unknown): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (err) p.reject(err);
    else p.resolve(result);
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * The serving end: runs the method a request names and returns the response to send back. The
 * request comes from the other side as `unknown`: a malformed one, or one naming no method of
 * `methods`, is answered with an error. `codeOf` gives a failure its code.
 */
export async function answer<M extends Methods>(methods: M, request: unknown, codeOf: (err: unknown) => string | null = () => null): Promise<Response<M>> {
  const id = isObject(request) && typeof request.id === 'number' ? request.id : -1;
  try {
    if (!isObject(request) || request.kind !== 'request' || !Array.isArray(request.args)) throw new Error('malformed request');
    const method = request.method;
    if (typeof method !== 'string' || !Object.hasOwn(methods, method)) throw new Error(`unknown method ${String(method)}`);
    return { kind: 'response', id, result: await methods[method]!(...request.args) as Result<M, Name<M>> };
  } catch (err) {
    return { kind: 'response', id, error: { message: err instanceof Error ? err.message : String(err), code: codeOf(err) } };
  }
}
