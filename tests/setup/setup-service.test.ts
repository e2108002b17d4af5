import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findModel, loadCatalog } from '../../main/setup/catalog.ts';
import { createProject } from '../../main/project/index.ts';
import { bundledSamplesDir as samplesDir, fp32DirFor, runSetup, SetupError, type SetupOptions, type SetupProgress } from '../../main/setup/pipeline.ts';
import { serveBytes, startServer, type TestServer } from '../download/fixture-server.ts';
import { tinyCheckpoint, writeTinyCatalog } from './helpers.ts';

const checkpoint = readFileSync(tinyCheckpoint);
const md5 = createHash('md5').update(checkpoint).digest('hex');

let server: TestServer;
let dir: string;

beforeEach(async () => {
  server = await startServer();
  server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"t"' }));
  dir = mkdtempSync(join(tmpdir(), 'setup-service-'));
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function options(extra: Partial<SetupOptions>): Promise<SetupOptions> {
  const catalog = await loadCatalog(writeTinyCatalog(dir, server.url('/sam_tiny.pth'), md5));
  return { model: findModel(catalog, 'sam_tiny'), outDir: join(dir, 'out'), cacheDir: join(dir, 'cache'), env: {}, ...extra };
}

/** Runs setup, cancelling at the first progress event that `stopAt` accepts. */
async function runUntil(stopAt: (p: SetupProgress) => boolean, extra: Partial<SetupOptions> = {}): Promise<{ error: SetupError; events: SetupProgress[] }> {
  const controller = new AbortController();
  const events: SetupProgress[] = [];
  const o = await options({
    ...extra,
    signal: controller.signal,
    onProgress: (p) => {
      events.push(p);
      if (stopAt(p)) controller.abort();
    },
  });
  const error = await runSetup(o).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(SetupError);
  return { error: error as SetupError, events };
}

function stateFile(): { done: string[] } {
  const setupDir = join(dir, 'cache', 'setup');
  const [run] = readdirSync(setupDir);
  return JSON.parse(readFileSync(join(setupDir, run!, 'state.json'), 'utf8'));
}

describe('runSetup', () => {
  it('records the finished download so a cancelled run resumes at the build', async () => {
    const { error } = await runUntil((p) => p.download?.phase === 'done');
    expect(error.step).toBe('build');
    expect(error.message).toBe('setup cancelled during build');
    expect(stateFile().done).toEqual(['download']);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('skips a finished download on the next run with the same arguments', async () => {
    await runUntil((p) => p.download?.phase === 'done');
    const { error, events } = await runUntil((p) => p.step === 'build');
    expect(events[0]).toMatchObject({ step: 'download', skipped: true, message: 'already downloaded and verified' });
    expect(server.requests).toHaveLength(1);
    expect(error.step).toBe('build');
  });

  it('reports download progress with bytes, total and the one-line message', async () => {
    const { events } = await runUntil((p) => p.download?.phase === 'done');
    const downloading = events.filter((p) => p.download?.phase === 'downloading');
    expect(downloading[0]!.download!.totalBytes).toBe(checkpoint.length);
    expect(downloading[0]!.message).toMatch(/^downloading \d+% /);
  });

  it('keeps the fp32 model in the cache, named after the catalog id and hash', async () => {
    const o = await options({});
    expect(fp32DirFor(o.cacheDir, o.model)).toBe(join(dir, 'cache', 'models', `sam_tiny-${md5.slice(0, 6)}-fp32`));
  });

  it('refuses bits that are not offered before doing anything', async () => {
    await expect(runSetup(await options({ bits: 'w2a2' as 'w8a8' }))).rejects.toThrow('bits "w2a2" is not offered (choose w8a8, w6a6, w4a4)');
    expect(server.requests).toHaveLength(0);
  });

  it('calibrates on the images of an open project when no folder is given', async () => {
    const projectDir = join(dir, 'project');
    mkdirSync(projectDir);
    for (const name of ['coins.png', 'rocket.jpg']) copyFileSync(join(samplesDir, name), join(projectDir, name));
    const db = join(projectDir, 'labels.db');
    const project = createProject(db);
    try {
      await project.addImages([projectDir]);
    } finally {
      project.close();
    }
    const { events } = await runUntil((p) => p.step === 'quantize' && p.message.startsWith('calibrating'), { projectDb: db });
    const calibrating = events.find((p) => p.step === 'quantize' && p.message.startsWith('calibrating'))!;
    const [, calibDir] = /^calibrating on 1 image of (.*), holding out rocket\.jpg for the comparison$/.exec(calibrating.message)!;
    expect(readdirSync(calibDir!).sort()).toEqual(['coins.png', 'rocket.jpg']);
  });

  it('refuses a catalog file name that would leave the download folder, writing nothing outside it', async () => {
    const o = await options({});
    const evil = { ...o.model, files: [{ ...o.model.files[0]!, fileName: '../../../escaped.pth' }] };
    const error = await runSetup({ ...o, model: evil }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(SetupError);
    expect((error as SetupError).message).toMatch(/^sam_tiny: the file name "\.\.\/\.\.\/\.\.\/escaped\.pth" would leave the download folder /);
    expect(server.requests).toHaveLength(0);
    expect(existsSync(join(dir, 'escaped.pth'))).toBe(false);
  });

  it('hashes a file already in the download folder again before trusting it', async () => {
    const o = await options({});
    const cached = join(dir, 'cache', 'downloads', `sam_tiny-${md5.slice(0, 6)}`, 'sam_tiny.pth');
    mkdirSync(join(cached, '..'), { recursive: true });
    writeFileSync(cached, 'not the checkpoint');
    const { events } = await runUntil((p) => p.download?.phase === 'done');
    expect(o.model.files[0]!.fileName).toBe('sam_tiny.pth');
    expect(events.some((p) => p.skipped)).toBe(false);
    expect(server.requests).toHaveLength(1);
    expect(createHash('md5').update(readFileSync(cached)).digest('hex')).toBe(md5);
  });
});
