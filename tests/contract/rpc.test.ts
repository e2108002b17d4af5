/**
 * The contract's request/response helper (preload/contract/rpc.ts) over a real MessageChannel
 * (structured clone, as between the engine and its worker) and over an invoke-style transport
 * that replies to each message itself (as Electron's ipcRenderer.invoke does).
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { answer, isNotice, notice, RpcClient, RpcError } from '../../preload/contract/rpc.ts';

class StepError extends Error {
  constructor(readonly step: string, message: string) { super(message); }
}

const seen: string[] = [];
const methods = {
  async add(a: number, b: number) { return a + b; },
  /** answers after `ms`: later calls may overtake it */
  async slowEcho(text: string, ms: number) { await new Promise((r) => setTimeout(r, ms)); return text; },
  async mask(n: number) { return { data: new Uint8Array(n).fill(1), iou: [0.5] }; },
  async failAt(step: string) { throw new StepError(step, `stopped in ${step}`); },
  async note(text: string) { seen.push(text); },
};
type TestMethods = typeof methods;

const ports: MessagePort[] = [];
afterEach(() => { for (const p of ports.splice(0)) p.close(); });

/** A client and a server on the two ends of a MessageChannel; the server also sends notices. */
function overChannel() {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  port2.on('message', async (request: unknown) => {
    port2.postMessage(notice({ got: (request as { method: string }).method }));
    port2.postMessage(await answer(methods, request, (err) => (err instanceof StepError ? err.step : null)));
  });
  const client = new RpcClient<TestMethods>((request) => port1.postMessage(request));
  const notices: unknown[] = [];
  port1.on('message', (m: unknown) => { if (isNotice(m)) notices.push(m.event); else client.receive(m); });
  return { client, notices, port1 };
}

describe('rpc over a message channel', () => {
  it('matches answers to calls by id when they come back out of order', async () => {
    const { client } = overChannel();
    const order: string[] = [];
    const slow = client.call('slowEcho', 'slow', 80).then((r) => { order.push(r); return r; });
    const fast = client.call('slowEcho', 'fast', 1).then((r) => { order.push(r); return r; });
    const sum = client.call('add', 2, 3);
    expect(await Promise.all([slow, fast, sum])).toEqual(['slow', 'fast', 5]);
    expect(order).toEqual(['fast', 'slow']);
  });

  it('carries typed arrays through structured clone', async () => {
    const { client } = overChannel();
    const r = await client.call('mask', 4);
    expect(r.data).toBeInstanceOf(Uint8Array);
    expect([...r.data]).toEqual([1, 1, 1, 1]);
    expect(r.iou).toEqual([0.5]);
  });

  it('rethrows a failure as an RpcError with its message and code', async () => {
    const { client } = overChannel();
    const err = await client.call('failAt', 'quantize').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).message).toBe('stopped in quantize');
    expect((err as RpcError).code).toBe('quantize');
  });

  it('passes notices beside the answers', async () => {
    const { client, notices } = overChannel();
    seen.length = 0;
    await client.call('note', 'hello');
    expect(seen).toEqual(['hello']);
    expect(notices).toEqual([{ got: 'note' }]);
  });

  it('fails pending and later calls once the channel is closed', async () => {
    const { client } = overChannel();
    const pending = client.call('slowEcho', 'never seen', 200);
    client.close(new Error('worker exited (code 1)'));
    await expect(pending).rejects.toThrow('worker exited (code 1)');
    await expect(client.call('add', 1, 1)).rejects.toThrow('worker exited (code 1)');
  });

  it('ignores messages that answer no pending call', () => {
    const { client } = overChannel();
    expect(client.receive({ kind: 'response', id: 999, result: 1 })).toBe(false);
    expect(client.receive({ kind: 'event', event: 1 })).toBe(false);
    expect(client.receive('noise')).toBe(false);
  });
});

describe('answering untrusted requests', () => {
  it('refuses a method the table does not have, inherited ones included', async () => {
    expect(await answer(methods, { kind: 'request', id: 7, method: 'drop', args: [] }))
      .toEqual({ kind: 'response', id: 7, error: { message: 'unknown method drop', code: null } });
    expect(await answer(methods, { kind: 'request', id: 8, method: 'toString', args: [] }))
      .toEqual({ kind: 'response', id: 8, error: { message: 'unknown method toString', code: null } });
  });

  it('refuses a malformed request', async () => {
    expect(await answer(methods, { kind: 'request', id: 3, method: 'add', args: 'x' }))
      .toEqual({ kind: 'response', id: 3, error: { message: 'malformed request', code: null } });
    expect(await answer(methods, 'add')).toEqual({ kind: 'response', id: -1, error: { message: 'malformed request', code: null } });
  });
});

describe('rpc over an invoke-style transport', () => {
  it('takes each reply from the promise the transport returns', async () => {
    const client = new RpcClient<TestMethods>((request) => answer(methods, structuredClone(request)));
    expect(await client.call('add', 40, 2)).toBe(42);
    await expect(client.call('failAt', 'build')).rejects.toThrow('stopped in build');
  });

  it('fails the call when the transport itself fails', async () => {
    const client = new RpcClient<TestMethods>(() => Promise.reject(new Error('API call from an unknown frame')));
    await expect(client.call('add', 1, 2)).rejects.toThrow('API call from an unknown frame');
  });
});
