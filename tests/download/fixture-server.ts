/**
 * A real HTTP server on 127.0.0.1 for download tests: serves bytes with Range/If-Range like a
 * CDN, records every request, and can misbehave on demand (cut the connection, stall, ignore
 * Range, redirect, 404).
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  status?: number;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestServer {
  origin: string;
  url(path: string): string;
  requests: RecordedRequest[];
  /** replaces the handler for a path (exact match on the request target's path) */
  route(path: string, handler: Handler): void;
  close(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const routes = new Map<string, Handler>();
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const record: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    requests.push(record);
    const originalWriteHead = res.writeHead.bind(res);
    res.writeHead = ((status: number, ...rest: unknown[]) => {
      record.status = status;
      return (originalWriteHead as (...a: unknown[]) => ServerResponse)(status, ...rest);
    }) as typeof res.writeHead;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const handler = routes.get(path);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: (path) => `${origin}${path}`,
    requests,
    route: (path, handler) => routes.set(path, handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ServeOptions {
  etag?: string;
  /** answer every request with the whole file, as a server without Range support */
  ignoreRange?: boolean;
  /** send this many body bytes, then destroy the connection (first request only) */
  cutAfterBytes?: number;
}

/** Serves `bytes` with Content-Length, ETag and Range/If-Range handling. */
export function serveBytes(bytes: Buffer, options: ServeOptions = {}): Handler {
  let cutPending = options.cutAfterBytes !== undefined;
  return (req, res) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    if (options.etag) headers.etag = options.etag;
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    const rangeValid = range && !options.ignoreRange && (ifRange === undefined || ifRange === options.etag);
    if (rangeValid) {
      start = Number(range[1]);
      if (start >= bytes.length) {
        res.writeHead(416, { 'content-range': `bytes */${bytes.length}` });
        res.end();
        return;
      }
      res.writeHead(206, { ...headers, 'content-length': bytes.length - start, 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` });
    } else {
      res.writeHead(200, { ...headers, 'content-length': bytes.length });
    }
    const body = bytes.subarray(start);
    if (cutPending) {
      cutPending = false;
      res.write(body.subarray(0, options.cutAfterBytes), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    res.end(body);
  };
}

/** Sends headers, then nothing: a stalled transfer. */
export function stall(totalBytes: number): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-length': totalBytes });
    res.flushHeaders();
  };
}

export function redirect(to: string, status = 302): Handler {
  return (_req, res) => {
    res.writeHead(status, { location: to });
    res.end();
  };
}

/** A fresh server and an empty temporary folder named `<prefix>...`, for one test or one suite. */
export async function openServerAndFolder(prefix: string): Promise<{ server: TestServer; dir: string }> {
  return { server: await startServer(), dir: mkdtempSync(join(tmpdir(), prefix)) };
}

/** Closes what `openServerAndFolder` opened and removes the folder. */
export async function closeServerAndFolder(server: TestServer, dir: string): Promise<void> {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
