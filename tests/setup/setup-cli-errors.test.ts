import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serveBytes, stall, startServer, type TestServer } from '../download/fixture-server.ts';
import { lastLine, runCliAsync, tinyCheckpoint, writeTinyCatalog } from './helpers.ts';

const checkpoint = readFileSync(tinyCheckpoint);
const md5 = createHash('md5').update(checkpoint).digest('hex');

let server: TestServer;
let dir: string;
let out: string;
let cache: string;

beforeEach(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'setup-cli-'));
  out = join(dir, 'models', 'tiny-w8a8');
  cache = join(dir, 'cache');
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function setupArgs(catalog: string, ...extra: string[]): string[] {
  return ['setup', '--model', 'sam_tiny', '--catalog', catalog, '--out', out, '--cache-dir', cache, ...extra];
}

/** No model directory anywhere: neither --out nor an fp32 model in the cache. */
function expectNoModelDirectory(): void {
  expect(existsSync(out)).toBe(false);
  expect(existsSync(join(cache, 'models'))).toBe(false);
}

describe('setup failures', () => {
  it('says "not found (HTTP 404)" for a missing file and leaves no model directory', async () => {
    const catalog = writeTinyCatalog(dir, server.url('/gone/sam_tiny.pth'), md5);
    const run = await runCliAsync(setupArgs(catalog));
    expect(run.code).toBe(1);
    expect(lastLine(run.stderr)).toBe(`error: ${server.url('/gone/sam_tiny.pth')} not found (HTTP 404)`);
    expect(run.stdout).toBe('');
    expectNoModelDirectory();
  });

  it('rejects a wrong checksum, deletes the bytes and leaves no model directory', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    const wrong = '0'.repeat(32);
    const catalog = writeTinyCatalog(dir, server.url('/sam_tiny.pth'), wrong);
    const run = await runCliAsync(setupArgs(catalog));
    expect(run.code).toBe(1);
    expect(lastLine(run.stderr)).toBe(`error: checksum mismatch for ${server.url('/sam_tiny.pth')}: expected md5 ${wrong}, got ${md5}; the downloaded file was deleted`);
    expect(readdirSync(join(cache, 'downloads'))).toEqual([]);
    expectNoModelDirectory();
  });

  it('gives up on a stalled server after the stall timeout and leaves no model directory', async () => {
    server.route('/sam_tiny.pth', stall(checkpoint.length));
    const catalog = writeTinyCatalog(dir, server.url('/sam_tiny.pth'), md5);
    const run = await runCliAsync(setupArgs(catalog, '--stall-timeout', '1'));
    expect(run.code).toBe(1);
    expect(lastLine(run.stderr)).toMatch(/^error: no data for 1 s from 127\.0\.0\.1:\d+; run again to resume$/);
    expectNoModelDirectory();
  });

  it('says "disk full while writing" under a file-size limit and leaves no model directory', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    const catalog = writeTinyCatalog(dir, server.url('/sam_tiny.pth'), md5);
    // 4 MiB (bash counts 1024-byte blocks) against a 14.5 MB download; Node ignores SIGXFSZ
    const run = await runCliAsync(setupArgs(catalog), { prelude: 'ulimit -f 4096' });
    expect(run.code).toBe(1);
    expect(lastLine(run.stderr)).toMatch(/^error: disk full while writing .*\.part \(EFBIG\)$/);
    expectNoModelDirectory();
  });

  it('says it cannot reach a host that refuses connections', async () => {
    const url = server.url('/sam_tiny.pth');
    await server.close();
    const catalog = writeTinyCatalog(dir, url, md5);
    const run = await runCliAsync(setupArgs(catalog));
    expect(lastLine(run.stderr)).toMatch(/^error: cannot reach host 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
    expectNoModelDirectory();
    server = await startServer();
  });

  it('refuses an --out that exists and is not empty, before downloading', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint));
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'keep.txt'), 'mine');
    const catalog = writeTinyCatalog(dir, server.url('/sam_tiny.pth'), md5);
    const run = await runCliAsync(setupArgs(catalog));
    expect(run.code).toBe(1);
    expect(lastLine(run.stderr)).toBe(`error: --out ${out} exists and is not empty`);
    expect(server.requests).toHaveLength(0);
    expect(readdirSync(out)).toEqual(['keep.txt']);
  });

  it('names the known models when the id is not in the catalog', async () => {
    const catalog = writeTinyCatalog(dir, server.url('/sam_tiny.pth'), md5);
    const run = await runCliAsync(['setup', '--model', 'sam_vit_q', '--catalog', catalog, '--out', out, '--cache-dir', cache]);
    expect(lastLine(run.stderr)).toBe(`error: ${catalog}: no model "sam_vit_q" (known: sam_tiny)`);
  });

  it('refuses bits that are not offered', async () => {
    const run = await runCliAsync(['setup', '--model', 'sam_vit_b', '--bits', 'w3a3', '--out', out, '--cache-dir', cache]);
    expect(lastLine(run.stderr)).toBe('error: --bits w3a3 is not offered (choose w8a8, w6a6, w4a4)');
  });

  it('refuses a local copy whose checksum does not match the catalog', async () => {
    const fake = join(dir, 'sam_tiny.pth');
    writeFileSync(fake, 'not a checkpoint');
    const catalog = writeTinyCatalog(dir, server.url('/sam_tiny.pth'), md5);
    const run = await runCliAsync(setupArgs(catalog, '--file', fake));
    expect(lastLine(run.stderr)).toMatch(new RegExp(`^error: ${fake}: md5 [0-9a-f]{32} does not match the catalog's ${md5} for sam_tiny$`));
    expectNoModelDirectory();
  });

  it('refuses a folder given as the local copy', async () => {
    const catalog = writeTinyCatalog(dir, server.url('/sam_tiny.pth'), md5);
    const run = await runCliAsync(setupArgs(catalog, '--file', dir));
    expect(lastLine(run.stderr)).toBe(`error: ${dir}: not a file (the model's checkpoint file is expected)`);
    expectNoModelDirectory();
  });
});

describe('a hub entry on the command line when the hub gives no sha256', () => {
  const HUB_PATH = '/test/sam-tiny/resolve/main/sam_tiny.pth';
  const ALT_PATH = '/files/sam_tiny.pth';
  const tinyConfig = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/sam-tiny/config.json'), 'utf8'));
  // the hub's own client reads HF_ENDPOINT, and so does `setup`
  const env = () => ({ ...process.env, HF_ENDPOINT: server.origin });

  function writeHubCatalog(): string {
    const path = join(dir, 'hub-catalog.json');
    writeFileSync(path, JSON.stringify({
      models: [{
        id: 'sam_tiny', name: 'SAM tiny from the hub', format: 'pth',
        hub: { repository: 'test/sam-tiny', file: 'sam_tiny.pth', revision: 'main' },
        alternative: { url: server.url(ALT_PATH), bytes: checkpoint.length },
        bytes: checkpoint.length, licence: 'Apache-2.0', config: tinyConfig,
      }],
    }));
    return path;
  }

  beforeEach(() => {
    server.route(HUB_PATH, (_req, res) => {
      res.writeHead(503);
      res.end();
    });
    server.route(ALT_PATH, serveBytes(checkpoint));
  });

  it('declines the unverified alternative without --use-alternative and downloads nothing', async () => {
    const run = await runCliAsync(setupArgs(writeHubCatalog()), { env: env() });
    expect(run.code).toBe(1);
    expect(lastLine(run.stderr)).toBe(`error: sam_tiny: cannot read the file's sha256 from the hub (${server.url(HUB_PATH)}: HTTP 503 from the hub, no sha256 read); the alternative ${server.url(ALT_PATH)} publishes no checksum (only its size, ${checkpoint.length} bytes, would be checked) and was not confirmed`);
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`HEAD ${HUB_PATH}`]);
    expectNoModelDirectory();
  });

  it('with --use-alternative and --file, refuses a local copy whose size is not the alternative\'s, naming the file', async () => {
    const fake = join(dir, 'sam_tiny.pth');
    writeFileSync(fake, 'not a checkpoint');
    const run = await runCliAsync(setupArgs(writeHubCatalog(), '--use-alternative', '--file', fake), { env: env() });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`setup: ${server.url(HUB_PATH)}: HTTP 503 from the hub, no sha256 read; checking ${fake} against the size of ${server.url(ALT_PATH)} only (${checkpoint.length} bytes)`);
    expect(lastLine(run.stderr)).toBe(`error: ${fake}: 16 bytes, but sam_tiny's file ${server.url(ALT_PATH)} is ${checkpoint.length} bytes (its size is the only check: it publishes no checksum)`);
    // the local copy is what is checked: nothing is fetched from the alternative
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`HEAD ${HUB_PATH}`]);
    expectNoModelDirectory();
  });
});
