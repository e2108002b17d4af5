/**
 * The first-run wizard end to end through the real renderer (issue 6): a fresh app whose catalog
 * lists the sam-tiny checkpoint served by a local HTTP server. The download shows its progress
 * over a slow link (speed, time left) and is cancelled part-way; Resume continues it with a Range request, builds, quantizes (w8a8,
 * calibrated on the two sample images), compares with fp32, shows the report and makes the
 * quantized model active; a click on a sample image then gives a mask.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveBytes, startServer, type Handler, type TestServer } from '../download/fixture-server.ts';
import { writeTinyCatalog } from '../setup/helpers.ts';
import { buildRenderer, createStudio, FIXTURES, layerPixels, ROOT, screenshot, tabToNonEmptyCandidate, type Studio } from './harness.ts';

const checkpoint = readFileSync(join(FIXTURES, 'sam_tiny.pth'));
const md5 = createHash('md5').update(checkpoint).digest('hex');
const SAMPLES = ['coins.png', 'rocket.jpg'];
const FINISH_MS = 600_000;

let server: TestServer;
let studio: Studio;
let resources: string;

/** A slow link: the first quarter of the file, then 16 KiB every 100 ms until the client goes away. */
function slowLink(bytes: Buffer): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-length': bytes.length, etag: '"tiny-1"', 'accept-ranges': 'bytes' });
    let sent = bytes.length >> 2;
    res.write(bytes.subarray(0, sent));
    const timer = setInterval(() => {
      if (sent >= bytes.length - 16_384) return; // never the last bytes: the test cancels first
      res.write(bytes.subarray(sent, sent + 16_384));
      sent += 16_384;
    }, 100);
    res.on('close', () => clearInterval(timer));
  };
}

beforeAll(async () => {
  server = await startServer();
  const rendererDir = await buildRenderer();
  // the app's resources: a catalog with the test entry and two small sample photos
  resources = mkdtempSync(join(tmpdir(), 'wizard-resources-'));
  mkdirSync(join(resources, 'samples'));
  for (const f of SAMPLES) copyFileSync(join(ROOT, 'resources/samples', f), join(resources, 'samples', f));
  writeTinyCatalog(resources, server.url('/sam_tiny.pth'), md5);
  const pre = await createStudio({ rendererDir, resourcesDir: resources });
  server.route('/sam_tiny.pth', slowLink(checkpoint));
  studio = await pre.open();
});

afterAll(async () => {
  await studio?.close();
  await server?.close();
  if (resources) rmSync(resources, { recursive: true, force: true });
});

const wizard = () => studio.page.locator('[data-testid=wizard]');

describe('the first-run wizard', () => {
  it('shows the download with its speed and time left, and cancels it', async () => {
    await wizard().waitFor();
    await expect.poll(() => wizard().locator('input[type=radio][value=sam_tiny]').count()).toBe(1);
    await studio.page.locator('[data-testid=wizard-start]').click();
    await expect.poll(() => studio.page.locator('[data-testid=setup-download]').textContent(), { timeout: 30_000 }).toMatch(/^[1-9][\d.]* MB of 14\.5 MB · [\d.]+ MB\/s · \d+ (s|min) left$/);
    await screenshot(studio.page, 'wizard-download');
    await studio.page.locator('[data-testid=wizard-cancel]').click();
    await expect.poll(() => studio.page.locator('[data-testid=wizard-error]').textContent()).toContain('Cancelled');
    expect(await studio.page.locator('[data-testid=wizard-start]').textContent()).toBe('Resume');
    expect(existsSync(studio.session.modelsDir) ? readdirSync(studio.session.modelsDir) : []).toEqual([]);
  });

  it('resumes the download with a Range request and ends with the quantized model active', async () => {
    server.route('/sam_tiny.pth', serveBytes(checkpoint, { etag: '"tiny-1"' }));
    await studio.page.locator('[data-testid=wizard-start]').click();
    await expect.poll(() => wizard().getAttribute('data-finished'), { timeout: FINISH_MS, interval: 500 }).toBe('true');
    expect(await studio.page.locator('[data-testid=wizard-error]').count()).toBe(0);
    const resumed = server.requests.at(-1)!;
    expect(resumed.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(resumed.status).toBe(206);

    const status = await studio.handlers.engineStatus(undefined);
    expect(status.model?.precision).toBe('w8a8');
    expect(studio.session.prefs.get().activeModelId).toBe(status.model!.id);
    expect(existsSync(join(status.model!.dir, 'report.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(status.model!.dir, 'eval.json'), 'utf8')).prompts).toBeGreaterThan(0);
    await expect.poll(() => studio.page.locator('[data-testid=status-model]').textContent()).toContain('w8a8');
    await studio.page.locator('[data-testid=report-view]').waitFor();
    expect(await studio.page.locator('[data-testid=report-method]').textContent()).toContain('W8A8');
    await screenshot(studio.page, 'wizard-done');
  }, FINISH_MS + 60_000);

  it('gives a mask on a sample image with the quantized model', async () => {
    await studio.page.locator('[data-testid=wizard-done]').click();
    const first = studio.page.locator('.image-item').first();
    await first.click();
    const id = await first.getAttribute('data-image-id');
    const canvas = studio.page.locator('.canvas');
    await expect.poll(() => canvas.getAttribute('data-loaded-image')).toBe(id);
    await expect.poll(() => studio.page.locator('[data-testid=encoding]').count(), { timeout: 60_000 }).toBe(0);
    await studio.page.keyboard.press('o');
    const box = (await canvas.boundingBox())!;
    await studio.page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await expect.poll(() => studio.page.locator('[data-testid=candidates]').count(), { timeout: 60_000 }).toBe(1);
    // random-weight model: a candidate can be empty; the user would Tab to another
    await tabToNonEmptyCandidate(studio.page);
    // The layer also draws the clicked points as discs: compare pixel by pixel away from them.
    const mask = await studio.page.evaluate(() => {
      const { app } = (window as any).__studio;
      const m = app.engine.shown;
      return { x: m.x, y: m.y, width: m.width, height: m.height, data: Array.from(m.data as Uint8Array, (v) => (v ? 1 : 0)), points: app.engine.points.map((p: { x: number; y: number }) => [p.x, p.y]) as [number, number][] };
    });
    const awayFromPoints = (i: number) => mask.points.every(([px, py]) => Math.hypot(mask.x + (i % mask.width) + 0.5 - px, mask.y + Math.floor(i / mask.width) + 0.5 - py) > 9);
    const area = (bits: ArrayLike<number>) => Array.from(bits).reduce((n: number, v, i) => n + (v && awayFromPoints(i) ? 1 : 0), 0);
    expect(area(mask.data)).toBeGreaterThan(0);
    await expect.poll(async () => area(await layerPixels(studio.page, 'sam', mask.x, mask.y, mask.width, mask.height))).toBe(area(mask.data));
    await screenshot(studio.page, 'wizard-first-mask');
  });
});
