import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downloadFile } from '../../main/setup/download/index.ts';
import { proxyFor } from '../../main/setup/download/proxy.ts';
import { downloadInChild } from './child.ts';
import { serveBytes, startServer, type TestServer } from './fixture-server.ts';

const checkpoint = readFileSync(new URL('../fixtures/sam-tiny/sam_tiny.pth', import.meta.url));
const md5 = createHash('md5').update(checkpoint).digest('hex');
const tlsDir = new URL('../fixtures/download-tls/', import.meta.url);

interface TestProxy {
  url: string;
  /** request lines the proxy received, e.g. "GET http://..." or "CONNECT 127.0.0.1:443" */
  seen: string[];
  close(): Promise<void>;
}

/** A forward proxy: absolute-URI GETs are relayed, CONNECT opens a raw TCP tunnel. */
async function startProxy(): Promise<TestProxy> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url!);
    const upstream = http.request(target, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req, client: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = req.url!.split(':');
    track(client);
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      // tunnels are no longer the HTTP server's connections: end them here
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

let server: TestServer;
let proxy: TestProxy;
let dir: string;

beforeEach(async () => {
  server = await startServer();
  proxy = await startProxy();
  dir = mkdtempSync(join(tmpdir(), 'proxy-test-'));
});

afterEach(async () => {
  await server.close();
  await proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('proxyFor', () => {
  it('uses https_proxy for https URLs and http_proxy for http URLs', () => {
    const env = { https_proxy: 'http://secure:3128', http_proxy: 'plain:8080' };
    expect(proxyFor(new URL('https://example.com/a'), env)?.href).toBe('http://secure:3128/');
    expect(proxyFor(new URL('http://example.com/a'), env)?.href).toBe('http://plain:8080/');
  });

  it('bypasses hosts listed in NO_PROXY by name, domain suffix or port', () => {
    const env = { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'internal.example, .corp.example,localhost:8443' };
    expect(proxyFor(new URL('https://internal.example/x'), env)).toBeUndefined();
    expect(proxyFor(new URL('https://files.corp.example/x'), env)).toBeUndefined();
    expect(proxyFor(new URL('https://localhost:8443/x'), env)).toBeUndefined();
    expect(proxyFor(new URL('https://localhost:9443/x'), env)?.host).toBe('p:1');
    expect(proxyFor(new URL('https://example.com/x'), env)?.host).toBe('p:1');
  });

  it('bypasses every host when NO_PROXY is "*"', () => {
    expect(proxyFor(new URL('https://example.com/x'), { HTTPS_PROXY: 'http://p:1', NO_PROXY: '*' })).toBeUndefined();
  });
});

describe('downloads through a proxy', () => {
  it('sends http requests to the proxy with the absolute URL', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    const result = await downloadFile({
      url: server.url('/sam_tiny.pth'),
      expected: { algorithm: 'md5', digest: md5 },
      dest: join(dir, 'sam_tiny.pth'),
      cacheDir: join(dir, 'cache'),
      env: { http_proxy: proxy.url },
    });
    expect(proxy.seen).toEqual([`GET ${server.url('/sam_tiny.pth')}`]);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);
  });

  it('tunnels https through CONNECT', async () => {
    const origin = https.createServer({ key: readFileSync(new URL('key.pem', tlsDir)), cert: readFileSync(new URL('cert.pem', tlsDir)) }, serveBytes(checkpoint));
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const port = (origin.address() as AddressInfo).port;
    try {
      const outcome = await downloadInChild(
        { url: `https://127.0.0.1:${port}/sam_tiny.pth`, expected: { algorithm: 'md5', digest: md5 }, dest: join(dir, 'sam_tiny.pth'), cacheDir: join(dir, 'cache') },
        { env: { ...process.env, HTTPS_PROXY: proxy.url, NO_PROXY: '', NODE_EXTRA_CA_CERTS: new URL('cert.pem', tlsDir).pathname } },
      );
      expect(outcome).toMatchObject({ ok: true, digest: md5 });
      expect(proxy.seen).toEqual([`CONNECT 127.0.0.1:${port}`]);
      expect(readFileSync(join(dir, 'sam_tiny.pth')).equals(checkpoint)).toBe(true);
    } finally {
      origin.closeAllConnections();
      await new Promise<void>((resolve) => origin.close(() => resolve()));
    }
  });
});
