/**
 * Box-only annotations through the real renderer: a detection box shows in the annotation list
 * as a box. The Everything tool shows its run's progress and cancels it (its 32x32 grid takes about
 * 20 s on this CPU, and sam-tiny's random weights pass none of its thresholds: accepting proposals
 * is checked through the API in tests/app/everything-api.test.ts).
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateTinyModel, buildRenderer, createProject, createStudio, FIXTURES, type Studio } from './harness.ts';

let studio: Studio;

async function waitFor(cond: () => Promise<boolean>, what: string, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  const pre = await createStudio({ rendererDir: await buildRenderer() });
  const images = join(pre.dir, 'images');
  mkdirSync(images);
  copyFileSync(join(FIXTURES, 'landscape.png'), join(images, 'landscape.png'));
  await activateTinyModel(pre);
  await createProject(pre, 'boxes.ptq4sam', images, [{ name: 'car', hotkey: '1' }]);
  const project = pre.session.need();
  project.addAnnotation({ imageId: 1, labelId: project.listLabels()[0]!.id, rle: null, bbox: [40, 30, 120, 90] });
  studio = await pre.open();
  await studio.page.locator('.image-item').first().click();
  // closing while the engine still encodes would take the process down with it
  await waitFor(async () => (await studio.page.locator('.canvas').getAttribute('data-loaded')) === 'true', 'the image to load');
  await waitFor(async () => !(await studio.page.locator('[data-testid=encoding]').count()), 'encoding to finish');
}, 300_000);

afterAll(async () => {
  await studio?.close();
});

describe('box-only annotations in the window', () => {
  it('lists a detection box as a box', async () => {
    const item = studio.page.locator('[data-testid=annotations] li').first();
    await item.waitFor();
    expect(await item.locator('.box-only').textContent()).toBe('box');
  });
});

describe('the Everything tool', () => {
  it('shows how far its run is and cancels it; leaving the tool ends a run too', async () => {
    const { page } = studio;
    await page.keyboard.press('g');
    const progress = page.locator('[data-testid=everything-progress]');
    await waitFor(async () => /finding objects… [1-9]\d*%/.test((await progress.textContent().catch(() => '')) ?? ''), 'a progress percentage', 60_000);
    await page.locator('[data-testid=cancel-everything]').click();
    expect(await progress.count()).toBe(0);
    // the run's call rejects with "cancelled" within a decoder run or two: not an error to show
    await new Promise((r) => setTimeout(r, 1500));
    expect(await page.locator('[data-testid=everything] .hint').count()).toBe(0);
    // a new run, ended by switching to another tool (polygon)
    await page.keyboard.press('p');
    await page.keyboard.press('g');
    await waitFor(async () => (await progress.count()) > 0, 'the second run');
    await page.keyboard.press('p');
    expect(await page.locator('[data-testid=everything]').count()).toBe(0);
    // the engine is free again: switching back starts a run that reports progress from the start
    await page.keyboard.press('g');
    await waitFor(async () => /finding objects… \d+%/.test((await progress.textContent().catch(() => '')) ?? ''), 'the third run', 60_000);
    await page.locator('[data-testid=cancel-everything]').click();
  }, 180_000);
});
