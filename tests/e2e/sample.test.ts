/**
 * First launch without any model (issue 6, item 5): the app offers the setup wizard, can skip
 * it, and opens on the sample project where the manual tools work and the SAM tools say how to
 * get a model.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRenderer, createStudio, imageOnCanvas, screenshot, type Studio } from './harness.ts';

let studio: Studio;

beforeAll(async () => {
  const rendererDir = await buildRenderer();
  const pre = await createStudio({ rendererDir });
  studio = await pre.open();
});

afterAll(async () => {
  await studio?.close();
});

describe('first launch without a model', () => {
  it('offers the setup wizard with the catalog models', async () => {
    await studio.page.locator('[data-testid=wizard]').waitFor();
    await expect.poll(() => studio.page.locator('[data-testid=wizard] input[type=radio]').count()).toBe(7);
    // the bundled catalog's fastest measured encoder is chosen first (issue 14)
    expect(await studio.page.locator('[data-testid=wizard] input[type=radio]:checked').getAttribute('value')).toBe('sam2.1_hiera_tiny');
    const speed = (id: string) => studio.page.locator(`[data-testid=wizard] tr[data-model="${id}"] [data-testid=model-speed]`);
    expect(await speed('sam2.1_hiera_tiny').textContent()).toBe('fast encoder 4.4 s, click 181 ms CPU');
    expect(await speed('sam_vit_b').getAttribute('data-speed')).toBe('medium');
    expect(await speed('sam_vit_h').textContent()).toBe('slow encoder 103.7 s, click 143 ms CPU (estimated)');
    await screenshot(studio.page, 'wizard');
  });

  it('opens the sample project when the wizard is skipped', async () => {
    await studio.page.locator('[data-testid=wizard-skip]').click();
    await expect.poll(() => studio.page.locator('.image-item').count()).toBeGreaterThan(0);
    expect(studio.session.need().dbPath.startsWith(studio.appDataDir)).toBe(true);
    expect(studio.session.prefs.get().setup.skipped).toBe(true);
  });

  it('tells how to get a model instead of running the SAM tools', async () => {
    await expect.poll(() => studio.page.locator('[data-testid=no-model-hint]').count()).toBe(1);
    expect(await studio.page.locator('[data-tool=point]').isDisabled()).toBe(true);
    await studio.page.keyboard.press('s');
    await expect.poll(() => studio.page.locator('[data-testid=notice]').textContent()).toContain('Models');
  });

  it('stores a polygon drawn on a sample image without a model', async () => {
    const first = studio.page.locator('.image-item').first();
    await first.click();
    const id = await first.getAttribute('data-image-id');
    await expect.poll(() => studio.page.locator('.canvas').getAttribute('data-loaded-image')).toBe(id);
    await studio.page.keyboard.press('f'); // fitted while the notice line is up: it closes with 'p'
    await studio.page.keyboard.press('p');
    // the fitted image fills the canvas (to 2%) whatever message lines opened or closed above it
    await expect.poll(async () => {
      const p = await imageOnCanvas(studio.page);
      const margins = [p.x0, p.y0, p.width - p.x1, p.height - p.y1];
      return Math.min(...margins) >= 0 && Math.min(...margins) <= 0.02 * Math.min(p.width, p.height);
    }).toBe(true);
    const box = (await studio.page.locator('.canvas').boundingBox())!;
    const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
    for (const [dx, dy] of [[-60, -40], [60, -40], [60, 40], [-60, 40]] as const) await studio.page.mouse.click(cx + dx, cy + dy);
    await expect.poll(() => studio.page.locator('.canvas').getAttribute('data-tool-path')).toBe('polygon.placing');
    await studio.page.keyboard.press('Enter');
    await expect.poll(() => studio.page.locator('[data-annotation-id]').count()).toBe(1);
    const db = new Database(studio.session.need().dbPath, { readonly: true });
    try {
      const row = db.prepare('SELECT area FROM annotations').get() as { area: number };
      expect(row.area).toBeGreaterThan(0);
    } finally {
      db.close();
    }
    await screenshot(studio.page, 'sample-project');
  });

  it('shows the models page with no model yet', async () => {
    await studio.page.keyboard.press('m');
    await studio.page.locator('[data-testid=models-page]').waitFor();
    await screenshot(studio.page, 'models');
  });
});
