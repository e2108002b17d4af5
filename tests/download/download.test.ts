import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downloadFile, DownloadError, type DownloadProgress, type DownloadRequest } from '../../main/setup/download/index.ts';
import { redirectTarget } from '../../main/setup/download/http.ts';
import { partialPaths, writeSidecar } from '../../main/setup/download/partial.ts';
import { closeServerAndFolder, openServerAndFolder, redirect, serveBytes, stall, startServer, type TestServer } from './fixture-server.ts';

const checkpoint = readFileSync(new URL('../fixtures/sam-tiny/sam_tiny.pth', import.meta.url));
const md5 = createHash('md5').update(checkpoint).digest('hex');
const sha256 = createHash('sha256').update(checkpoint).digest('hex');

let server: TestServer;
let dir: string;

beforeEach(async () => ({ server, dir } = await openServerAndFolder('download-test-')));
afterEach(() => closeServerAndFolder(server, dir));

function request(path: string, extra: Partial<DownloadRequest> = {}): DownloadRequest {
  return {
    url: server.url(path),
    expected: { algorithm: 'md5', digest: md5 },
    dest: join(dir, 'models', 'sam_tiny.pth'),
    cacheDir: join(dir, 'cache'),
    retries: 0,
    env: {},
    ...extra,
  };
}

async function failure(req: DownloadRequest): Promise<DownloadError> {
  const err = await downloadFile(req).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DownloadError);
  return err as DownloadError;
}

function partFiles(): string[] {
  const cache = join(dir, 'cache');
  return existsSync(cache) ? readdirSync(cache).filter((f) => f.endsWith('.part')) : [];
}

describe('downloadFile', () => {
  it('downloads the whole file, verifies its md5 and leaves nothing in the cache', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"v1"' }));
    const result = await downloadFile(request('/sam_tiny.pth'));
    expect(result.digest).toBe(md5);
    expect(result.bytes).toBe(checkpoint.length);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);
    expect(readdirSync(join(dir, 'cache'))).toEqual([]);
  });

  it('verifies a sha256 when the catalog gives one', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    const result = await downloadFile(request('/sam_tiny.pth', { expected: { algorithm: 'sha256', digest: sha256 } }));
    expect(result.digest).toBe(sha256);
  });

  it('keeps the partial file in the cache when the connection is cut half-way', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"v1"', cutAfterBytes: checkpoint.length / 2 }));
    const err = await failure(request('/sam_tiny.pth'));
    expect(err.code).toBe('connection-lost');
    expect(existsSync(join(dir, 'models', 'sam_tiny.pth'))).toBe(false);
    expect(partFiles()).toHaveLength(1);
  });

  it('resumes a cut download with a Range request on the next run and gets the same bytes', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"v1"', cutAfterBytes: Math.floor(checkpoint.length / 2) }));
    await failure(request('/sam_tiny.pth'));
    const partialBytes = statSync(join(dir, 'cache', partFiles()[0]!)).size;
    expect(partialBytes).toBeGreaterThan(0);

    const result = await downloadFile(request('/sam_tiny.pth'));
    const resume = server.requests[1]!;
    expect(resume.headers.range).toBe(`bytes=${partialBytes}-`);
    expect(resume.headers['if-range']).toBe('"v1"');
    expect(resume.status).toBe(206);
    expect(result.resumedFromBytes).toBe(partialBytes);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);
  });

  it('resumes within the same run when retries are allowed', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"v1"', cutAfterBytes: 1 << 20 }));
    const result = await downloadFile(request('/sam_tiny.pth', { retries: 1 }));
    expect(server.requests.map((r) => r.status)).toEqual([200, 206]);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);
  });

  it('starts over when the file changed on the server (ETag differs)', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"v1"', cutAfterBytes: 1 << 20 }));
    await failure(request('/sam_tiny.pth'));
    server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"v2"' }));
    const result = await downloadFile(request('/sam_tiny.pth'));
    expect(server.requests[1]!.headers['if-range']).toBe('"v1"');
    expect(server.requests[1]!.status).toBe(200);
    expect(result.resumedFromBytes).toBe(0);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);
  });

  it('starts over cleanly when the server ignores Range', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"v1"', cutAfterBytes: 1 << 20, ignoreRange: true }));
    await failure(request('/sam_tiny.pth'));
    const result = await downloadFile(request('/sam_tiny.pth'));
    expect(server.requests[1]!.headers.range).toMatch(/^bytes=\d+-$/);
    expect(server.requests[1]!.status).toBe(200);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);
  });

  it('finishes a partial file that is already complete without downloading again', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    const req = request('/sam_tiny.pth');
    const paths = partialPaths(req.cacheDir, req.url, req.expected);
    mkdirSync(req.cacheDir);
    writeFileSync(paths.data, checkpoint);
    writeSidecar(paths, { url: req.url, algorithm: 'md5', digest: md5, totalBytes: checkpoint.length });
    const result = await downloadFile(req);
    expect(server.requests).toHaveLength(0);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);
  });

  it('says "not found (HTTP 404)" for a missing file', async () => {
    const err = await failure(request('/missing.pth'));
    expect(err.code).toBe('not-found');
    expect(err.message).toBe(`${server.url('/missing.pth')} not found (HTTP 404)`);
    expect(existsSync(join(dir, 'models'))).toBe(false);
  });

  it('rejects a wrong checksum and deletes the downloaded bytes', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    const wrong = 'f'.repeat(32);
    const err = await failure(request('/sam_tiny.pth', { expected: { algorithm: 'md5', digest: wrong } }));
    expect(err.code).toBe('checksum');
    expect(err.message).toContain(`expected md5 ${wrong}, got ${md5}`);
    expect(readdirSync(join(dir, 'cache'))).toEqual([]);
    expect(existsSync(join(dir, 'models'))).toBe(false);
  });

  it('gives up with "no data for 1 s" when the server stalls', async () => {
    server.route('/sam_tiny.pth', stall(checkpoint.length));
    const err = await failure(request('/sam_tiny.pth', { stallTimeoutMs: 1000 }));
    expect(err.code).toBe('stall');
    expect(err.message).toMatch(/^no data for 1 s from 127\.0\.0\.1:\d+/);
  });

  it('follows a chain of redirects', async () => {
    server.route('/a', redirect('/b', 301));
    server.route('/b', redirect(server.url('/c'), 307));
    server.route('/c', redirect('/files/sam_tiny.pth', 302));
    server.route('/files/sam_tiny.pth', serveBytes(checkpoint));
    const result = await downloadFile(request('/a'));
    expect(server.requests.map((r) => r.url)).toEqual(['/a', '/b', '/c', '/files/sam_tiny.pth']);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);
  });

  it('refuses a redirect from https to plain http, and follows https to https', () => {
    expect(() => redirectTarget(new URL('https://models.example/sam.pth'), 'http://mirror.example/sam.pth'))
      .toThrow('https://models.example/sam.pth redirected to http://mirror.example/sam.pth: a download over https is not continued over plain http');
    expect(redirectTarget(new URL('https://models.example/sam.pth'), '//cdn.example/x.pth').href).toBe('https://cdn.example/x.pth');
    expect(redirectTarget(new URL('http://models.example/sam.pth'), 'https://cdn.example/x.pth').href).toBe('https://cdn.example/x.pth');
  });

  it('stops a body without Content-Length at twice the catalog size and deletes it', async () => {
    server.route('/endless', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked: no size given
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = () => { while (res.write(chunk)) { /* until the socket pushes back */ } };
      res.on('drain', pump);
      res.on('close', () => res.off('drain', pump));
      pump();
    });
    const err = await failure(request('/endless', { bytes: 1 << 20 }));
    expect(err.code).toBe('too-large');
    expect(err.message).toBe(`${server.url('/endless')} sent more than 2.1 MB without giving its size; the download was stopped and deleted`);
    expect(readdirSync(join(dir, 'cache')).filter((n) => n.endsWith('.part'))).toEqual([]);
  });

  it('stops after too many redirects', async () => {
    server.route('/loop', redirect('/loop'));
    const err = await failure(request('/loop', { maxRedirects: 3 }));
    expect(err.code).toBe('redirects');
    expect(err.message).toContain('too many redirects (more than 3)');
  });

  it('says it cannot reach a host that refuses connections', async () => {
    const url = server.url('/sam_tiny.pth');
    await server.close();
    const err = await failure({ ...request('/sam_tiny.pth'), url });
    expect(err.code).toBe('offline');
    expect(err.message).toMatch(/^cannot reach host 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
    server = await startServer();
  });

  it('refuses to start when the catalog size exceeds the free space', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    const err = await failure(request('/sam_tiny.pth', { bytes: Number.MAX_SAFE_INTEGER }));
    expect(err.code).toBe('no-space');
    expect(server.requests).toHaveLength(0);
  });

  it('cancels through an AbortSignal and keeps no file', async () => {
    server.route('/sam_tiny.pth', stall(checkpoint.length));
    const controller = new AbortController();
    const progress: DownloadProgress[] = [];
    const pending = downloadFile(request('/sam_tiny.pth', {
      signal: controller.signal,
      onProgress: (p) => {
        progress.push(p);
        if (p.phase === 'downloading') controller.abort();
      },
    }));
    const err = await pending.then(() => undefined, (e: unknown) => e as DownloadError);
    expect(err?.code).toBe('cancelled');
    expect(existsSync(join(dir, 'models'))).toBe(false);
  });

  it('reports progress up to the whole size, ending with "done"', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    const progress: DownloadProgress[] = [];
    await downloadFile(request('/sam_tiny.pth', { onProgress: (p) => progress.push(p) }));
    const downloading = progress.filter((p) => p.phase === 'downloading');
    expect(downloading[0]!.totalBytes).toBe(checkpoint.length);
    expect(progress.at(-1)!.phase).toBe('done');
    expect(progress.at(-1)!.receivedBytes).toBe(checkpoint.length);
    const received = downloading.map((p) => p.receivedBytes);
    expect(received).toEqual([...received].sort((a, b) => a - b));
  });

  it('discards a partial file left for a different URL', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"v1"', cutAfterBytes: 1 << 20 }));
    await failure(request('/sam_tiny.pth'));
    const sidecar = join(dir, 'cache', `${partFiles()[0]!}.json`);
    writeFileSync(sidecar, JSON.stringify({ ...JSON.parse(readFileSync(sidecar, 'utf8')), url: 'http://elsewhere/x.pth' }));
    await downloadFile(request('/sam_tiny.pth'));
    expect(server.requests[1]!.headers.range).toBeUndefined();
  });

  it('refuses to append to a file another running process is downloading', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    const req = request('/sam_tiny.pth');
    mkdirSync(req.cacheDir);
    writeFileSync(`${partialPaths(req.cacheDir, req.url, req.expected).data}.lock`, String(process.ppid));
    const err = await failure(req);
    expect(err.code).toBe('busy');
    expect(err.message).toContain(`is already being downloaded by process ${process.ppid}`);
    expect(server.requests).toHaveLength(0);
  });

  it('takes over the lock of a process that no longer runs', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    const req = request('/sam_tiny.pth');
    mkdirSync(req.cacheDir);
    writeFileSync(`${partialPaths(req.cacheDir, req.url, req.expected).data}.lock`, '999999999');
    const result = await downloadFile(req);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);
    expect(readdirSync(req.cacheDir)).toEqual([]);
  });
});
