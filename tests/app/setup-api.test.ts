/**
 * The wizard's back end through the API handlers (no window): a copy of the catalog's file the
 * user already has is checked and built without any download, quantization can be skipped (the
 * full-precision model becomes active), and what was asked survives a restart of the app.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandlers } from '../../main/api/handlers.ts';
import { createEngine, type Engine } from '../../main/sam/engine.ts';
import type { ApiEvent } from '../../preload/contract/index.ts';
import { writeTinyCatalog } from '../setup/helpers.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/sam-tiny');
const checkpoint = join(FIXTURES, 'sam_tiny.pth');
const md5 = createHash('md5').update(readFileSync(checkpoint)).digest('hex');

let dir: string;
let engine: Engine;

function app(events: ApiEvent[] = []) {
  return createHandlers({
    appDataDir: join(dir, 'appdata'), resourcesDir: join(dir, 'resources'), engine, executionProvider: 'cpu',
    emit: (e) => events.push(e), imageUrlBase: () => 'test://',
    dialogs: { openFiles: async () => [checkpoint], openFolder: async () => null, saveFile: async () => null },
  });
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 50));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'setup-api-'));
  mkdirSync(join(dir, 'resources', 'samples'), { recursive: true });
  // nothing listens there: a download attempt would fail the test
  writeTinyCatalog(join(dir, 'resources'), 'http://127.0.0.1:9/sam_tiny.pth', md5);
  engine = await createEngine({ threads: 1 });
});

afterAll(async () => {
  await engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('setup through the API', () => {
  it('builds a local copy of the catalog file without downloading and activates it at full precision', async () => {
    const events: ApiEvent[] = [];
    const { handlers, session } = app(events);
    const [localFile] = await handlers.dialogOpenFiles({ title: 'model', filters: [], multiple: false });
    const started = await handlers.setupRun({ catalogId: 'sam_tiny', bits: 'w8a8', localFile, quantize: false });
    expect(started.running).toBe(true);
    await until(() => events.some((e) => e.type === 'setup-progress' && e.done));
    const end = events.findLast((e) => e.type === 'setup-progress')!;
    expect(end).toMatchObject({ done: true, error: null });
    const status = await handlers.engineStatus(undefined);
    expect(status.model?.precision).toBe('fp32');
    expect(status.model?.id).toBe((end as { modelId: string }).modelId);
    const skipped = events.filter((e) => e.type === 'setup-progress' && e.skipped).map((e) => (e as { step: string }).step);
    expect(skipped).toEqual(['quantize', 'eval']);
    expect(await handlers.setupState(undefined)).toMatchObject({ done: ['download', 'build', 'quantize', 'eval', 'activate'], running: false, error: null });
    session.close();
  });

  it('remembers the choice and the finished setup after a restart', async () => {
    const { handlers, session } = app();
    const state = await handlers.setupState(undefined);
    expect(state.choice).toEqual({ catalogId: 'sam_tiny', bits: 'w8a8', localFile: checkpoint, quantize: false });
    expect(state.modelId).not.toBeNull();
    expect((await handlers.engineStatus(undefined)).model?.id).toBe(state.modelId);
    session.close();
  });

  it('refuses a local file that is not given through a dialog', async () => {
    const { handlers, session } = app();
    await expect(handlers.setupRun({ catalogId: 'sam_tiny', bits: 'w8a8', localFile: '/etc/passwd' })).rejects.toThrow('was not chosen by the user');
    session.close();
  });
});
