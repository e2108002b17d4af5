/**
 * The wizard's confirmation of a hub entry's unverified alternative, through the real renderer:
 * a local server imitates the model hub (which fails: HTTP 503, no sha256) and the alternative
 * URL that publishes no checksum (the sam-tiny checkpoint). The wizard lists the models with
 * size, licence and speed class and preselects the fastest measured one; it asks before using
 * the alternative. Declined, the setup ends with the hub's reason and installs nothing;
 * accepted, the file is downloaded, checked by its size and set up (full precision, to keep the
 * test short).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveBytes, startServer, type TestServer } from '../download/fixture-server.ts';
import { buildRenderer, createStudio, FIXTURES, ROOT, screenshot, type Studio } from './harness.ts';

const checkpoint = readFileSync(join(FIXTURES, 'sam_tiny.pth'));
const tinyConfig = JSON.parse(readFileSync(join(FIXTURES, 'config.json'), 'utf8'));
const HUB_PATH = '/test/sam-tiny/resolve/main/sam_tiny.pth';
const ALT_PATH = '/files/sam_tiny.pth';

let server: TestServer;
let studio: Studio;
let resources: string;
const savedEndpoint = process.env.HF_ENDPOINT;

beforeAll(async () => {
  server = await startServer();
  // the hub answers without a sha256; the alternative serves the file
  server.route(HUB_PATH, (_req, res) => {
    res.writeHead(503);
    res.end();
  });
  server.route(ALT_PATH, serveBytes(checkpoint, { etag: '"alt"' }));
  // the hub's own client reads HF_ENDPOINT, and so does the app (main/setup/hub.ts)
  process.env.HF_ENDPOINT = server.origin;
  const rendererDir = await buildRenderer();
  resources = mkdtempSync(join(tmpdir(), 'wizard-alternative-'));
  mkdirSync(join(resources, 'samples'));
  copyFileSync(join(ROOT, 'resources/samples/coins.png'), join(resources, 'samples/coins.png'));
  const slow = {
    id: 'slow_model', name: 'A slow model', format: 'pth', url: server.url('/never/slow.pth'), md5: '0'.repeat(32),
    bytes: 1_000_000, licence: 'MIT', speed: { encoder_cpu_s: 30, click_cpu_ms: 150 },
  };
  const hub = {
    id: 'sam_tiny_hub', name: 'SAM tiny from the hub', format: 'pth',
    hub: { repository: 'test/sam-tiny', file: 'sam_tiny.pth', revision: 'main' },
    alternative: { url: server.url(ALT_PATH), bytes: checkpoint.length },
    bytes: checkpoint.length, licence: 'Apache-2.0', config: tinyConfig, speed: { encoder_cpu_s: 0.5, click_cpu_ms: 20 },
  };
  const unmeasured = { ...slow, id: 'unmeasured', name: 'An unmeasured model', speed: undefined };
  writeFileSync(join(resources, 'catalog.json'), JSON.stringify({ models: [slow, hub, unmeasured] }));
  const pre = await createStudio({ rendererDir, resourcesDir: resources });
  studio = await pre.open();
});

afterAll(async () => {
  if (savedEndpoint === undefined) delete process.env.HF_ENDPOINT;
  else process.env.HF_ENDPOINT = savedEndpoint;
  await studio?.close();
  await server?.close();
  if (resources) rmSync(resources, { recursive: true, force: true });
});

const page = () => studio.page;
const wizard = () => page().locator('[data-testid=wizard]');
const installed = () => (existsSync(studio.session.modelsDir) ? readdirSync(studio.session.modelsDir) : []);
const altRequests = () => server.requests.filter((r) => r.url === ALT_PATH);

describe('the wizard with a hub entry whose hub fails', () => {
  it('lists size, licence and speed class, and preselects the fastest measured model', async () => {
    await wizard().waitFor();
    await expect.poll(() => wizard().locator('input[type=radio]').count()).toBe(3);
    expect(await wizard().locator('input[type=radio]:checked').getAttribute('value')).toBe('sam_tiny_hub');
    const row = (id: string) => wizard().locator(`tr[data-model="${id}"]`);
    expect(await row('sam_tiny_hub').locator('[data-testid=model-speed]').getAttribute('data-speed')).toBe('fast');
    expect(await row('sam_tiny_hub').textContent()).toMatch(/SAM tiny from the hub\s*fastest here\s*14\.5 MB\s*licence: Apache-2\.0\s*fast encoder 0\.5 s, click 20 ms CPU$/);
    expect(await row('slow_model').locator('[data-testid=model-speed]').getAttribute('data-speed')).toBe('slow');
    expect(await row('slow_model').textContent()).toContain('licence: MIT');
    expect(await row('unmeasured').locator('[data-testid=model-speed]').textContent()).toBe('speed not measured');
  });

  it('asks before using the alternative; declined, the setup ends with the hub\'s reason and installs nothing', async () => {
    await page().locator('[data-testid=wizard-quantize]').uncheck();
    await page().locator('[data-testid=wizard-start]').click();
    const confirm = page().locator('[data-testid=wizard-alternative]');
    await confirm.waitFor({ timeout: 30_000 });
    const text = (await confirm.textContent())!;
    expect(text).toContain('The model hub cannot give the checksum of SAM tiny from the hub.');
    expect(text).toContain(`${server.url(HUB_PATH)}: HTTP 503 from the hub, no sha256 read`);
    expect(text).toContain(`${new URL(server.origin).host} publishes no checksum for sam_tiny.pth: only its size, ${checkpoint.length.toLocaleString('en-US')} bytes, will be checked. Use it?`);
    // the setup waits: nothing is fetched from the alternative before the answer
    const state = await studio.handlers.setupState(undefined);
    expect(state).toMatchObject({ running: true, offer: { model: 'sam_tiny_hub', url: server.url(ALT_PATH), bytes: checkpoint.length } });
    expect(altRequests()).toEqual([]);
    await screenshot(page(), 'wizard-alternative');

    await page().locator('[data-testid=wizard-alternative-decline]').click();
    await expect.poll(() => page().locator('[data-testid=wizard-error]').textContent(), { timeout: 30_000 })
      .toBe(`sam_tiny_hub: cannot read the file's sha256 from the hub (${server.url(HUB_PATH)}: HTTP 503 from the hub, no sha256 read); the alternative ${server.url(ALT_PATH)} publishes no checksum (only its size, ${checkpoint.length} bytes, would be checked) and was not confirmed`);
    expect(await confirm.count()).toBe(0);
    expect(await studio.handlers.setupState(undefined)).toMatchObject({ running: false, offer: null, modelId: null, done: [] });
    expect(altRequests()).toEqual([]);
    expect(installed()).toEqual([]);
    expect((await studio.handlers.engineStatus(undefined)).model).toBeNull();
  });

  it('refuses an answer to an offer that is not waiting, with a clear error', async () => {
    const err = await page().evaluate(() => (window as any).api.setupAnswerAlternative({ offerId: 1, accept: true }).then(() => 'accepted', (e: Error) => e.message));
    expect(err).toContain('no setup waits for an answer to offer 1');
    const bad = await page().evaluate(() => (window as any).api.setupAnswerAlternative({ offerId: 1, accept: 'yes' }).then(() => 'accepted', (e: Error) => e.message));
    expect(bad).toMatch(/accept/);
  });

  it('accepted, downloads the alternative checked by its size and makes the model active', async () => {
    await page().locator('[data-testid=wizard-start]').click();
    await page().locator('[data-testid=wizard-alternative]').waitFor({ timeout: 30_000 });
    await page().locator('[data-testid=wizard-alternative-accept]').click();
    await expect.poll(() => wizard().getAttribute('data-finished'), { timeout: 300_000, interval: 500 }).toBe('true');
    expect(await page().locator('[data-testid=wizard-error]').count()).toBe(0);
    expect(altRequests().map((r) => `${r.method} ${r.status}`)).toEqual(['GET 200']);
    expect(server.requests.filter((r) => r.url === HUB_PATH).map((r) => r.method)).toEqual(['HEAD', 'HEAD']);
    const status = await studio.handlers.engineStatus(undefined);
    expect(status.model?.precision).toBe('fp32');
    expect(studio.session.prefs.get().activeModelId).toBe(status.model!.id);
    expect(installed()).toEqual(['sam_tiny_hub-fp32']);
    await screenshot(page(), 'wizard-alternative-done');
    // the new model encodes the sample image: the test waits for it on the annotation screen,
    // since ending the engine's worker while onnxruntime runs aborts the process
    await page().locator('[data-testid=wizard-done]').click();
    const first = page().locator('.image-item').first();
    await first.click();
    const id = await first.getAttribute('data-image-id');
    await expect.poll(() => page().locator('.canvas').getAttribute('data-loaded-image')).toBe(id);
    await expect.poll(() => page().evaluate(() => {
      const { app } = (window as any).__studio;
      return app.engine.ready.has(app.project.currentId) && app.engine.encoding === null;
    }), { timeout: 60_000 }).toBe(true);
  }, 360_000);
});
