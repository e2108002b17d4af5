import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { downloadInChild } from './child.ts';
import { closeServerAndFolder, openServerAndFolder, serveBytes, type TestServer } from './fixture-server.ts';

const checkpoint = readFileSync(new URL('../fixtures/sam-tiny/sam_tiny.pth', import.meta.url));
const md5 = createHash('md5').update(checkpoint).digest('hex');

let server: TestServer;
let dir: string;

beforeEach(async () => ({ server, dir } = await openServerAndFolder('disk-full-test-')));
afterEach(() => closeServerAndFolder(server, dir));

it('says "disk full while writing" when a file-size limit stops the write, and places no file', async () => {
  server.route('/sam_tiny.pth', serveBytes(checkpoint));
  // bash counts `ulimit -f` in 1024-byte blocks: a 4 MiB limit against a 14.5 MB checkpoint.
  // Node ignores SIGXFSZ, so the write fails with EFBIG instead of killing the process.
  const outcome = await downloadInChild(
    { url: server.url('/sam_tiny.pth'), expected: { algorithm: 'md5', digest: md5 }, dest: join(dir, 'models', 'sam_tiny.pth'), cacheDir: join(dir, 'cache'), retries: 0 },
    { prelude: 'ulimit -f 4096' },
  );
  expect(outcome.ok).toBe(false);
  expect(outcome.code).toBe('disk-full');
  expect(outcome.message).toMatch(/^disk full while writing .*sam_tiny\.pth-[0-9a-f]{12}\.part \(EFBIG\)$/);
  expect(existsSync(join(dir, 'models'))).toBe(false);
  // the partial file that filled the disk is deleted: it would only keep the disk full
  expect(readdirSync(join(dir, 'cache')).filter((n) => n.endsWith('.part'))).toEqual([]);
});
