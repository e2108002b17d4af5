/**
 * Switching, importing and repairing models as the window drives them, through the real handlers
 * and engine: a failed "Use" keeps the model in use working, switches run one after another (a
 * status call during one does not load the old model over the new, overlapping ones leave nothing
 * loaded behind), and importing a model again repairs its damaged or incomplete folder.
 */
import { closeSync, copyFileSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandlers } from '../../main/api/handlers.ts';
import { createEngine, type Engine } from '../../main/sam/engine.ts';
import { loadModel, saveModel } from '../../main/onnx/index.ts';
import type { ApiEvent } from '../../preload/contract/index.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/sam-tiny');
let dir: string;
let engine: Engine;
const chosen: string[][] = [];
const events: ApiEvent[] = [];
let F: string; // sam_tiny fp32
let Q: string; // its w8a8 copy

function app() {
  return createHandlers({
    appDataDir: join(dir, 'appdata'), resourcesDir: join(dir, 'resources'), engine, executionProvider: 'cpu',
    emit: (e) => events.push(e), imageUrlBase: () => 'test://',
    dialogs: { openFiles: async () => chosen.shift() ?? [], openFolder: async () => null, saveFile: async () => chosen.shift()?.[0] ?? null },
  });
}
type H = ReturnType<typeof app>['handlers'];
const pick = async (h: H) => (await h.dialogOpenFiles({ title: 'f', filters: [], multiple: false }))[0]!;
async function importTiny(h: H) {
  chosen.push([join(FIXTURES, 'sam_tiny.pth')], [join(FIXTURES, 'config.json')]);
  return h.modelImportCheckpoint({ checkpointPath: await pick(h), configPath: await pick(h) });
}
const truncate = (file: string, n: number) => { const fd = openSync(file, 'r+'); ftruncateSync(fd, n); closeSync(fd); };
const prefsActive = () => JSON.parse(readFileSync(join(dir, 'appdata/prefs.json'), 'utf8')).activeModelId as string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'model-switches-'));
  mkdirSync(join(dir, 'resources', 'samples'), { recursive: true });
  engine = await createEngine({ threads: 1 });
  const { handlers: h } = app();
  F = (await importTiny(h)).id;
  // a second model: F's pair with another graph name (other bytes, another id), imported as an ONNX pair
  const pair = join(dir, 'pair');
  mkdirSync(pair);
  copyFileSync(join(dir, 'appdata/models', F, 'encoder.onnx'), join(pair, 'encoder.onnx'));
  const decoder = loadModel(join(dir, 'appdata/models', F, 'decoder.onnx'));
  decoder.graph!.name = 'sam-tiny decoder, second copy';
  saveModel(decoder, join(pair, 'decoder.onnx'));
  chosen.push([join(pair, 'encoder.onnx')], [join(pair, 'decoder.onnx')]);
  Q = (await h.modelImportOnnx({ encoderPath: await pick(h), decoderPath: await pick(h) })).id;
  expect(Q).not.toBe(F);
}, 120_000);

afterAll(async () => {
  await engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('model management', () => {
  it('a failed "Use" on a damaged model keeps the active model working', async () => {
    const { handlers: h } = app();
    await h.modelSetActive({ modelId: Q });
    copyFileSync(join(FIXTURES, 'landscape.png'), join(dir, 'landscape.png'));
    chosen.push([join(dir, 'p1.ptq4sam')], [join(dir, 'landscape.png')]);
    await h.projectCreate({ path: (await h.dialogSaveFile({ title: 'p', filters: [], defaultName: 'p' }))! });
    const [imageId] = (await h.imagesAdd({ paths: [await pick(h)] })).added as [number];
    const click = { points: [{ x: 150, y: 110, label: 1 as const }] };
    await h.samPredict({ imageId, prompt: click });
    const dec = join(dir, 'appdata/models', F, 'decoder.onnx');
    const saved = `${dec}.bak`; copyFileSync(dec, saved);
    truncate(dec, 1000);
    await expect(h.modelSetActive({ modelId: F })).rejects.toThrow(/not a valid ONNX model/);
    expect((await h.modelsList(undefined)).find((m) => m.active)?.id).toBe(Q);
    try {
      // the list still names Q active, and the window does not ask engineStatus again: a click must work
      await expect(h.samPredict({ imageId, prompt: click })).resolves.toMatchObject({ resultId: expect.any(Number) });
    } finally {
      copyFileSync(saved, dec); rmSync(saved);
    }
  });

  it('importing a checkpoint again repairs its damaged or incomplete model folder', async () => {
    const { handlers: h } = app();
    const dec = join(dir, 'appdata/models', F, 'decoder.onnx');
    const size = statSync(dec).size;
    truncate(dec, 1000);
    const again = await importTiny(h);
    expect(again.id).toBe(F);
    expect(statSync(dec).size).toBe(size);
    rmSync(dec);
    await expect(importTiny(h)).resolves.toMatchObject({ id: F });
    expect(statSync(dec).size).toBe(size);
    // the repaired model loads, and nothing was left beside the models folder
    await h.modelSetActive({ modelId: F });
    expect(readdirSync(join(dir, 'appdata')).filter((f) => f.startsWith('.model-'))).toEqual([]);
  });

  it('engineStatus during a switch does not load the previous model over the new one', async () => {
    const { handlers: h, session } = app();
    await h.modelSetActive({ modelId: F });
    const use = h.modelSetActive({ modelId: Q });
    await new Promise((r) => setTimeout(r, 30)); // the old model is unloaded, the new one is loading
    const status = h.engineStatus(undefined);
    expect((await use).model?.id).toBe(Q);
    await status;
    expect(prefsActive()).toBe(Q);
    expect(session.sam.model?.info.id).toBe(Q);
  });

  it('overlapping loads leave only the active model loaded in the engine', async () => {
    for (const k of [F, Q]) await engine.unloadModel(k); // nothing left over from the tests before
    const { handlers: h } = app();
    // control: one after the other, F is unloaded
    await h.modelSetActive({ modelId: F });
    await h.modelSetActive({ modelId: Q });
    await expect(engine.hasEmbedding(F, 'x'.repeat(64))).rejects.toThrow(/is not loaded/);
    await Promise.all([h.modelSetActive({ modelId: F }), h.modelSetActive({ modelId: Q })]);
    expect(prefsActive()).toBe(Q);
    await expect(engine.hasEmbedding(F, 'x'.repeat(64))).rejects.toThrow(/is not loaded/);
  });
});

describe('the engine status', () => {
  it('tries a broken active model once at start, not at every status call, and again after its import repairs it', async () => {
    const { handlers: h } = app();
    await h.modelSetActive({ modelId: F });
    const dec = join(dir, 'appdata/models', F, 'decoder.onnx');
    const size = statSync(dec).size;
    truncate(dec, 1000);
    await engine.unloadModel(F);
    // a restart: new handlers on the same app folder restore F, which fails
    const { handlers: again, session } = app();
    const loads: string[] = [];
    const load = engine.loadModel.bind(engine);
    engine.loadModel = (d: string) => { loads.push(d); return load(d); };
    try {
      for (let i = 0; i < 3; i++) expect((await again.engineStatus(undefined)).problem).toMatch(/could not be loaded/);
      expect(loads).toHaveLength(1);
      await importTiny(again);
      expect(statSync(dec).size).toBe(size);
      expect((await again.engineStatus(undefined)).model?.id).toBe(F);
      expect(session.sam.model?.info.id).toBe(F);
    } finally {
      engine.loadModel = load;
    }
  });

  it('says so when the folder of the model in use was removed by hand', async () => {
    const { handlers: h } = app();
    await h.modelSetActive({ modelId: Q });
    const folder = join(dir, 'appdata/models', Q);
    const aside = join(dir, 'q-aside');
    renameSync(folder, aside);
    try {
      const status = await h.engineStatus(undefined);
      expect(status.model).toBeNull();
      expect(status.problem).toMatch(/^The model in use \(.*\) is no longer in .*: it works until the app restarts/);
    } finally {
      renameSync(aside, folder);
    }
  });
});

describe('a models folder that is a file', () => {
  it('is named in the list and the import, not met with ENOTDIR', async () => {
    const other = join(dir, 'other-appdata');
    mkdirSync(other);
    writeFileSync(join(other, 'models'), 'not a folder');
    const { handlers: h } = createHandlers({
      appDataDir: other, resourcesDir: join(dir, 'resources'), engine, executionProvider: 'cpu',
      emit: () => undefined, imageUrlBase: () => 'test://',
      dialogs: { openFiles: async () => chosen.shift() ?? [], openFolder: async () => null, saveFile: async () => null },
    });
    await expect(h.modelsList(undefined)).rejects.toThrow(`${join(other, 'models')} is a file, not the folder of the models: move it away`);
    await expect(importTiny(h)).rejects.toThrow(`${join(other, 'models')} is a file, not the folder of the models`);
  });
});

describe('an encode when the model changes', () => {
  it('ends in words, never with the runtime\'s "Session already disposed"', async () => {
    const { handlers: h } = app();
    await h.modelSetActive({ modelId: F });
    copyFileSync(join(FIXTURES, 'portrait.png'), join(dir, 'portrait.png'));
    chosen.push([join(dir, 'p2.ptq4sam')], [join(dir, 'portrait.png')]);
    await h.projectCreate({ path: (await h.dialogSaveFile({ title: 'p', filters: [], defaultName: 'p' }))! });
    const [imageId] = (await h.imagesAdd({ paths: [await pick(h)] })).added as [number];
    const encoding = h.samEncode({ imageId }).then(() => 'encoded', (err: Error) => err.message);
    await h.modelSetActive({ modelId: Q });
    const outcome = await encoding;
    expect(outcome === 'encoded' || /was being encoded when the model changed; it is encoded with the new one/.test(outcome), outcome).toBe(true);
    expect((await h.imageGet({ imageId })).error).toBeNull();
  });
});

describe('quantizing', () => {
  it('refuses a model that is quantized already, before any job starts', async () => {
    const { handlers: h } = app();
    const dir8 = join(dir, 'appdata/models', Q);
    const info = JSON.parse(readFileSync(join(dir8, 'model.json'), 'utf8'));
    writeFileSync(join(dir8, 'model.json'), JSON.stringify({ ...info, quantization: { method: 'ptq4sam', bits: { w: 8, a: 8 } } }));
    try {
      await expect(h.modelQuantize({ modelId: Q, bits: 'w8a8' })).rejects.toThrow(/is quantized already \(w8a8\): quantize its fp32 model/);
    } finally {
      writeFileSync(join(dir8, 'model.json'), JSON.stringify(info));
    }
  });
});
