/**
 * Catalog entries naming a model hub file (main/setup/hub.ts), against a local server that
 * imitates both sources: the hub's resolve URL (a HEAD answered with a redirect to its storage
 * carrying X-Linked-Etag / X-Linked-Size, as huggingface.co answers for LFS files) and Meta's
 * plain file URL (no checksum published).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findModel, loadCatalog, parseCatalog, type CatalogModel } from '../../main/setup/catalog.ts';
import { downloadFile, DownloadError, type DownloadRequest } from '../../main/setup/download/index.ts';
import { defaultHubEndpoint, hubFileUrl, readHubMetadata, resolveHubModel, type AlternativeOffer } from '../../main/setup/hub.ts';
import { closeServerAndFolder, openServerAndFolder, serveBytes, type TestServer } from './fixture-server.ts';

const checkpoint = readFileSync(new URL('../fixtures/sam2.1-tiny-random/sam2.1_tiny_random.pt', import.meta.url));
const sha256 = createHash('sha256').update(checkpoint).digest('hex');
const HUB_PATH = '/facebook/sam2.1-hiera-tiny/resolve/main/sam2.1_hiera_tiny.pt';
const META_PATH = '/segment_anything_2/092824/sam2.1_hiera_tiny.pt';

let server: TestServer;
let dir: string;

beforeEach(async () => ({ server, dir } = await openServerAndFolder('hub-test-')));
afterEach(() => closeServerAndFolder(server, dir));

/** The hub's answer for an LFS file: a redirect to storage, with the object id and size. */
function hubLfs(digest: string, size: number): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(302, { location: `/storage/${digest}`, 'x-linked-etag': `"${digest}"`, 'x-linked-size': size, etag: '"git-blob-id"' });
    res.end();
  };
}

function entry(alternativeBytes = checkpoint.length): string {
  return JSON.stringify({
    models: [{
      id: 'sam2.1_hiera_tiny',
      name: 'SAM 2.1 Hiera-T (Meta)',
      format: 'pth',
      hub: { repository: 'facebook/sam2.1-hiera-tiny', file: 'sam2.1_hiera_tiny.pt', revision: 'main' },
      alternative: { url: server.url(META_PATH), bytes: alternativeBytes },
      bytes: checkpoint.length,
      licence: 'Apache-2.0',
    }],
  });
}

function model(alternativeBytes?: number): CatalogModel {
  return parseCatalog(entry(alternativeBytes), 'test.json').models[0]!;
}

function request(m: CatalogModel): DownloadRequest {
  const file = m.files[0]!;
  return {
    url: file.url,
    expected: file.expected,
    dest: join(dir, 'models', file.fileName),
    cacheDir: join(dir, 'cache'),
    retries: 0,
    env: {},
    ...(file.sizeOnly !== undefined ? { sizeOnly: file.sizeOnly } : {}),
  };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe('the bundled catalog\'s SAM 2.1 entries', () => {
  it('name the hub files of facebook/sam2.1-hiera-* with Meta\'s URLs and sizes as the alternative', async () => {
    const catalog = await loadCatalog();
    const sizes = { tiny: 156008466, small: 184416285, base_plus: 323606802, large: 898083611 };
    for (const [size, bytes] of Object.entries(sizes)) {
      const m = findModel(catalog, `sam2.1_hiera_${size}`);
      expect(m).toMatchObject({ format: 'pth', bytes, licence: 'Apache-2.0', files: [] });
      expect(m.hub).toEqual({
        file: { repository: `facebook/sam2.1-hiera-${size.replace('_', '-')}`, file: `sam2.1_hiera_${size}.pt`, revision: 'main' },
        alternative: { url: `https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_${size}.pt`, bytes },
      });
      expect(hubFileUrl(m.hub!.file)).toBe(`https://huggingface.co/facebook/sam2.1-hiera-${size.replace('_', '-')}/resolve/main/sam2.1_hiera_${size}.pt`);
    }
  });
});

describe('parsing hub entries', () => {
  const base = { id: 'm', name: 'M', format: 'pth', hub: { repository: 'o/r', file: 'a.pt', revision: 'main' }, bytes: 1, licence: 'Apache-2.0' };
  const problem = (fields: Record<string, unknown>) => {
    try {
      parseCatalog(JSON.stringify({ models: [{ ...base, ...fields }] }), 'c.json');
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('refuses a digest or URL beside "hub", a repository that is not owner/name, a file path leaving the repository, a bad alternative', () => {
    expect(problem({ md5: '0'.repeat(32) })).toBe('c.json: model "m": "md5" cannot be given with "hub" (the hub gives the file\'s sha256)');
    expect(problem({ hub: { repository: 'facebook', file: 'a.pt', revision: 'main' } })).toMatch(/^c\.json: model "m": "hub\.repository" must be "owner\/name"/);
    expect(problem({ hub: { repository: 'o/r', file: '../a.pt', revision: 'main' } })).toMatch(/^c\.json: model "m": "hub\.file" must be a path inside the repository/);
    expect(problem({ hub: { repository: 'o/r', file: 'a.pt', revision: 'a/b' } })).toMatch(/"hub\.revision"/);
    expect(problem({ format: 'onnx-pair' })).toMatch(/"hub" names one checkpoint file/);
    expect(problem({ alternative: { url: 'ftp://x/a.pt', bytes: 1 } })).toMatch(/"alternative\.url" must be an http\(s\) URL/);
    expect(problem({ alternative: { url: 'https://x/a.pt' } })).toMatch(/"alternative\.bytes" must be the file's size/);
  });
});

describe('reading the sha256 from the hub', () => {
  it('takes X-Linked-Etag and X-Linked-Size from the HEAD\'s redirect without following it', async () => {
    server.route(HUB_PATH, hubLfs(sha256, checkpoint.length));
    const meta = await readHubMetadata(model().hub!.file, { endpoint: server.origin, env: {} });
    expect(meta).toEqual({ sha256, bytes: checkpoint.length });
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`HEAD ${HUB_PATH}`]);
  });

  it('takes the ETag of a file the hub answers itself (HTTP 200)', async () => {
    server.route(HUB_PATH, (_req, res) => {
      res.writeHead(200, { etag: `"${sha256.toUpperCase()}"`, 'content-length': checkpoint.length });
      res.end();
    });
    expect(await readHubMetadata(model().hub!.file, { endpoint: server.origin, env: {} })).toEqual({ sha256, bytes: checkpoint.length });
  });

  it('refuses an ETag that is not a sha256, and a redirect elsewhere without X-Linked-Etag', async () => {
    server.route(HUB_PATH, (_req, res) => {
      res.writeHead(200, { etag: '"0123456789abcdef0123456789abcdef01234567"' });
      res.end();
    });
    const hub = model().hub!.file;
    expect((await rejection(readHubMetadata(hub, { endpoint: server.origin, env: {} }))).message).toMatch(/the hub gives no sha256 for this file/);
    server.route(HUB_PATH, (_req, res) => {
      res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere.pt' });
      res.end();
    });
    expect((await rejection(readHubMetadata(hub, { endpoint: server.origin, env: {} }))).message).toMatch(/redirected to http:\/\/127\.0\.0\.1:1 without the file's sha256/);
  });
});

describe('the hub\'s origin', () => {
  it('is HF_ENDPOINT where set (as for the hub\'s own client), else huggingface.co; a bad one is refused by name', async () => {
    expect(defaultHubEndpoint({})).toBe('https://huggingface.co');
    expect(defaultHubEndpoint({ HF_ENDPOINT: 'https://hf-mirror.example' })).toBe('https://hf-mirror.example');
    expect(() => defaultHubEndpoint({ HF_ENDPOINT: 'file:///etc' })).toThrow('HF_ENDPOINT "file:///etc" must be an http(s) URL');
    expect(() => defaultHubEndpoint({ HF_ENDPOINT: 'hub' })).toThrow('HF_ENDPOINT "hub" is not a URL');
    server.route(HUB_PATH, hubLfs(sha256, checkpoint.length));
    const resolved = await resolveHubModel(model(), { env: { HF_ENDPOINT: server.origin } });
    expect(resolved.files[0]!.url).toBe(server.url(HUB_PATH));
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`HEAD ${HUB_PATH}`]);
  });
});

describe('resolving and downloading a hub entry', () => {
  it('downloads from the hub (through its storage redirect) and verifies the sha256 the hub gave', async () => {
    server.route(HUB_PATH, hubLfs(sha256, checkpoint.length));
    server.route(`/storage/${sha256}`, serveBytes(checkpoint, { etag: '"storage"' }));
    let asked = false;
    const resolved = await resolveHubModel(model(), { endpoint: server.origin, env: {}, confirmAlternative: () => (asked = true) });
    expect(asked).toBe(false);
    expect(resolved.files).toEqual([{ role: 'checkpoint', url: server.url(HUB_PATH), expected: { algorithm: 'sha256', digest: sha256 }, fileName: 'sam2.1_hiera_tiny.pt' }]);
    const result = await downloadFile(request(resolved));
    expect(result.digest).toBe(sha256);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);
  });

  it('deletes a download whose bytes do not match the hub\'s sha256', async () => {
    const other = createHash('sha256').update('another file').digest('hex');
    server.route(HUB_PATH, hubLfs(other, checkpoint.length));
    server.route(`/storage/${other}`, serveBytes(checkpoint));
    const resolved = await resolveHubModel(model(), { endpoint: server.origin, env: {} });
    const err = await rejection(downloadFile(request(resolved)));
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as DownloadError).code).toBe('checksum');
    expect(existsSync(join(dir, 'models', 'sam2.1_hiera_tiny.pt'))).toBe(false);
    expect(readdirSync(join(dir, 'cache')).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it('offers Meta\'s URL only when the hub fails, and refuses to go on unless the user confirms', async () => {
    server.route(HUB_PATH, (_req, res) => {
      res.writeHead(503);
      res.end();
    });
    const offers: AlternativeOffer[] = [];
    const err = await rejection(resolveHubModel(model(), { endpoint: server.origin, env: {}, confirmAlternative: (o) => (offers.push(o), false) }));
    expect(offers).toEqual([{ model: 'sam2.1_hiera_tiny', url: server.url(META_PATH), bytes: checkpoint.length, reason: `${server.url(HUB_PATH)}: HTTP 503 from the hub, no sha256 read` }]);
    expect(err.message).toBe(`sam2.1_hiera_tiny: cannot read the file's sha256 from the hub (${offers[0]!.reason}); the alternative ${server.url(META_PATH)} publishes no checksum (only its size, ${checkpoint.length} bytes, would be checked) and was not confirmed`);
    // without a confirmation callback the alternative is declined too
    expect((await rejection(resolveHubModel(model(), { endpoint: server.origin, env: {} }))).message).toMatch(/was not confirmed$/);
    expect(server.requests.some((r) => r.url === META_PATH)).toBe(false);
  });

  it('downloads the confirmed alternative checked by its size: the right size passes, another is deleted', async () => {
    server.route(META_PATH, serveBytes(checkpoint, { etag: '"meta"' }));
    const resolved = await resolveHubModel(model(), { endpoint: server.origin, env: {}, confirmAlternative: () => true });
    expect(resolved.files[0]).toMatchObject({ url: server.url(META_PATH), sizeOnly: checkpoint.length, fileName: 'sam2.1_hiera_tiny.pt' });
    const result = await downloadFile(request(resolved));
    expect(result.digest).toBe(sha256);
    expect(readFileSync(result.path).equals(checkpoint)).toBe(true);

    rmSync(join(dir, 'models'), { recursive: true });
    const wrong = await resolveHubModel(model(checkpoint.length + 1), { endpoint: server.origin, env: {}, confirmAlternative: () => true });
    const err = await rejection(downloadFile(request(wrong)));
    expect((err as DownloadError).code).toBe('checksum');
    expect(err.message).toBe(`size mismatch for ${server.url(META_PATH)}: expected ${checkpoint.length + 1} bytes, got ${checkpoint.length}; the downloaded file was deleted`);
    expect(existsSync(join(dir, 'models', 'sam2.1_hiera_tiny.pt'))).toBe(false);
  });
});
