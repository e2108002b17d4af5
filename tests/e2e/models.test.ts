/**
 * Quantizing from the Models page through the real renderer: the sam-tiny checkpoint imported,
 * a PTQ4SAM run shows its progress and is cancelled (no model is left behind), a second run with
 * two calibration images finishes, and the report view draws the quantizer's report: method and
 * bits, BIG's votes, folds and key histograms, AGQ per attention, sizes, integer kernels,
 * latency and fidelity against fp32.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRenderer, createProject, createStudio, FIXTURES, screenshot, type Studio } from './harness.ts';

let studio: Studio;
let fp32Id: string;

const page = () => studio.page;
const progress = () => page().locator('[data-testid=quantize-progress]');

beforeAll(async () => {
  const rendererDir = await buildRenderer();
  const pre = await createStudio({ rendererDir });
  // a project with two images: the quantizer calibrates on the open project's images
  const images = join(pre.dir, 'images');
  mkdirSync(images);
  for (const f of ['landscape.png', 'portrait.png']) copyFileSync(join(FIXTURES, f), join(images, f));
  await createProject(pre, 'labels.ptq4sam', images);
  for (const f of ['sam_tiny.pth', 'config.json']) pre.session.allowed.allowFile(join(FIXTURES, f));
  fp32Id = (await pre.handlers.modelImportCheckpoint({ checkpointPath: join(FIXTURES, 'sam_tiny.pth'), configPath: join(FIXTURES, 'config.json'), name: 'sam-tiny' })).id;
  studio = await pre.open();
  await page().locator('.image-item').first().waitFor();
  await page().keyboard.press('m');
  await page().locator(`[data-model-id="${fp32Id}"]`).waitFor();
});

afterAll(async () => {
  await studio?.close();
});

describe('quantizing from the Models page', () => {
  it('shows the progress of a run and cancels it without leaving a model', async () => {
    await page().locator('[data-testid=calib-count]').fill('1');
    await page().locator(`[data-model-id="${fp32Id}"] [data-testid=quantize]`).click();
    await expect.poll(() => progress().getAttribute('data-phase'), { timeout: 60_000 }).toMatch(/^(encoder|big|decoder)$/);
    await screenshot(page(), 'models-quantizing');
    await page().locator('[data-testid=quantize-cancel]').click();
    expect(await page().locator('[data-testid=quantize-cancel]').textContent()).toBe('Cancelling…');
    await expect.poll(() => page().locator('[data-testid=models-error]').textContent(), { timeout: 60_000 }).toBe('Quantization cancelled.');
    expect(await progress().count()).toBe(0);
    expect((await studio.handlers.modelsList(undefined)).map((m) => m.id)).toEqual([fp32Id]);
  });

  it('quantizes with two calibration images and shows the report', async () => {
    await page().locator('[data-testid=calib-count]').fill('2');
    await page().locator(`[data-model-id="${fp32Id}"] [data-testid=quantize]`).click();
    await progress().waitFor();
    await page().locator('[data-testid=report-view]').waitFor({ timeout: 600_000 });
    const models = await studio.handlers.modelsList(undefined);
    const quantized = models.find((m) => m.id !== fp32Id)!;
    expect(quantized.precision).toBe('w8a8');
    expect(quantized.hasReport).toBe(true);
    const { report } = await studio.handlers.modelReport({ modelId: quantized.id });
    expect(report.calibration.images).toBe(2);
    expect(await page().locator(`[data-model-id="${quantized.id}"]`).count()).toBe(1);
  }, 660_000);

  it('draws the method, the comparison with fp32 and the integer kernels', async () => {
    const quantized = (await studio.handlers.modelsList(undefined)).find((m) => m.id !== fp32Id)!;
    const { report } = await studio.handlers.modelReport({ modelId: quantized.id });
    const view = page().locator('[data-testid=report-view]');
    expect(await view.locator('[data-testid=report-method]').textContent()).toMatch(/PTQ4SAM\s+W8A8/);
    for (const id of ['size', 'encoder', 'decoder']) expect(await view.locator(`[data-testid=report-${id}] .bar`).count()).toBe(2);
    expect(await view.locator('[data-testid=report-size]').textContent()).toContain(`${(report.size_bytes.quantized / 1e6).toFixed(2)} MB`);
    expect(await view.locator('[data-testid=report-mean-iou]').textContent()).toContain(report.fidelity.mean_iou.toFixed(3));
    const ops = await view.locator('[data-testid=report-int-ops] [data-op]').evaluateAll((els) => els.map((e) => [e.getAttribute('data-op'), Number(e.textContent!.replace(/\D+/g, ' ').trim().split(' ').pop())]));
    expect(Object.fromEntries(ops)).toEqual(report.integer_ops);
    const kept = view.locator('[data-testid=report-float]');
    expect(await kept.textContent()).toContain(`${report.float_modules.length} token-only decoder ops kept float`);
    expect((await kept.getAttribute('title'))!.split('\n')).toEqual(report.float_modules);
  });

  it('draws BIG per attention with key histograms before and after the fold, and AGQ tau and scale', async () => {
    const quantized = (await studio.handlers.modelsList(undefined)).find((m) => m.id !== fp32Id)!;
    const { report, keyHistograms } = await studio.handlers.modelReport({ modelId: quantized.id });
    const view = page().locator('[data-testid=report-view]');
    const rows = view.locator('[data-testid=report-big-row]');
    expect(await rows.count()).toBe(report.big.examined.length);
    expect(keyHistograms.map((h) => h.module)).toEqual(report.big.examined.map((b) => b.module));
    expect(await view.locator('[data-testid=report-hist-before]').count()).toBe(report.big.examined.length);
    expect(await view.locator('[data-testid=report-hist-after]').count()).toBe(report.big.folded.length);
    const folded = await rows.evaluateAll((els) => els.filter((e) => e.getAttribute('data-folded') === 'true').map((e) => e.getAttribute('data-module')));
    expect(folded).toEqual(report.big.folded);
    // every histogram is drawn with its bars (the tallest one full height)
    const bars = await view.locator('[data-testid=report-hist-before] rect').count();
    expect(bars).toBe(keyHistograms.reduce((n, h) => n + h.before.bars.length, 0));
    expect(keyHistograms.every((h) => Math.max(...h.before.bars) === 1)).toBe(true);
    const agq = await view.locator('[data-testid=report-agq-row]').evaluateAll((els) => els.map((e) => e.getAttribute('data-module')));
    expect(agq).toEqual(report.agq.map((a) => a.name));
    await view.locator('[data-testid=report-big-row]').first().scrollIntoViewIfNeeded();
    await screenshot(page(), 'models-report');
  });
});
