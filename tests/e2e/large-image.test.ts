/**
 * A large image (8000x6000, made here with sharp) through the real renderer: it opens and is
 * drawn, a click gives a mask that Enter stores at the image's full size, and panning moves the
 * view while every layer keeps drawing. How fast a pan frame is gets measured in bench/ui.ts,
 * not here.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateTinyModel, buildRenderer, createProject, createStudio, screenshot, tabToNonEmptyCandidate, type Studio } from './harness.ts';

const WIDTH = 8000;
const HEIGHT = 6000;

let studio: Studio;
let imageId: number;
let projectPath: string;

/** Dark background with a few bright shapes, as a JPEG (sharp renders the SVG, no big buffer here). */
async function writeLargeImage(path: string): Promise<void> {
  const shapes = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}">
    <rect x="1000" y="1000" width="2500" height="1800" fill="#e0c040"/>
    <circle cx="5600" cy="3800" r="1300" fill="#40a0e0"/>
    <rect x="600" y="4200" width="1800" height="1200" fill="#d04040"/></svg>`;
  await sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: '#202428' } })
    .composite([{ input: Buffer.from(shapes) }])
    .jpeg({ quality: 85 })
    .toFile(path);
}

/** How many pixels of a layer's canvas are drawn (alpha > 0) in a box of the canvas. */
async function drawnPixels(layer: string, x: number, y: number, w: number, h: number): Promise<number> {
  return studio.page.evaluate(({ layer, x, y, w, h }) => {
    const canvas = document.querySelector(`canvas[data-layer="${layer}"]`) as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(x, y, w, h).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
    return n;
  }, { layer, x, y, w, h });
}

beforeAll(async () => {
  const rendererDir = await buildRenderer();
  const pre = await createStudio({ rendererDir });
  const images = join(pre.dir, 'images');
  mkdirSync(images);
  await writeLargeImage(join(images, 'large-8000x6000.jpg'));
  await activateTinyModel(pre);
  projectPath = await createProject(pre, 'large.ptq4sam', images, [{ name: 'thing', hotkey: '1' }]);
  imageId = pre.session.need().listImages({}).items[0]!.id;
  studio = await pre.open();
});

afterAll(async () => {
  await studio?.close();
});

describe('an 8000x6000 image', () => {
  it('opens fitted to the canvas and is drawn', async () => {
    const canvas = studio.page.locator('.canvas');
    await expect.poll(() => canvas.getAttribute('data-loaded-image'), { timeout: 60_000 }).toBe(String(imageId));
    expect(await canvas.getAttribute('data-image-size')).toBe(`${WIDTH}x${HEIGHT}`);
    await expect.poll(() => studio.page.locator('[data-testid=encoding]').count(), { timeout: 120_000 }).toBe(0);
    const box = (await canvas.boundingBox())!;
    expect(await drawnPixels('image', Math.round(box.width / 2) - 5, Math.round(box.height / 2) - 5, 10, 10)).toBe(100);
  });

  it('gives a mask for a click and stores it at the full image size', async () => {
    const canvas = studio.page.locator('.canvas');
    const [scale, vx, vy] = (await canvas.getAttribute('data-view'))!.split(',').map(Number) as [number, number, number];
    const box = (await canvas.boundingBox())!;
    // the middle of the yellow rectangle
    await studio.page.mouse.click(box.x + vx + 2250 * scale, box.y + vy + 1900 * scale);
    await expect.poll(() => studio.page.locator('[data-testid=candidates]').count(), { timeout: 60_000 }).toBe(1);
    await tabToNonEmptyCandidate(studio.page);
    expect(Number(await canvas.getAttribute('data-shown-width'))).toBeGreaterThan(0);
    await screenshot(studio.page, 'large-image-mask');
    await studio.page.keyboard.press('Enter');
    await expect.poll(() => studio.page.locator('[data-annotation-id]').count(), { timeout: 60_000 }).toBe(1);
    const db = new Database(projectPath, { readonly: true });
    try {
      const row = db.prepare('SELECT area, rle_h AS h, rle_w AS w FROM annotations').get() as { area: number; h: number; w: number };
      expect(row.area).toBeGreaterThan(0);
      expect([row.w, row.h]).toEqual([WIDTH, HEIGHT]);
    } finally {
      db.close();
    }
  });

  it('pans with a middle-button drag while the image and the annotation keep drawing', async () => {
    const canvas = studio.page.locator('.canvas');
    const before = (await canvas.getAttribute('data-view'))!.split(',').map(Number) as [number, number, number];
    const box = (await canvas.boundingBox())!;
    const start = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    await studio.page.mouse.move(start.x, start.y);
    await studio.page.mouse.down({ button: 'middle' });
    for (let i = 1; i <= 10; i++) await studio.page.mouse.move(start.x + 12 * i, start.y + 7 * i);
    await studio.page.mouse.up({ button: 'middle' });
    const after = (await canvas.getAttribute('data-view'))!.split(',').map(Number) as [number, number, number];
    expect(after).toEqual([before[0], before[1] + 120, before[2] + 70]);
    // the image moved with the view: its top-left corner is drawn where the view puts it
    const [, x, y] = after;
    expect(await drawnPixels('image', Math.round(x) + 2, Math.round(y) + 2, 4, 4)).toBe(16);
    expect(await drawnPixels('image', Math.round(x) - 6, Math.round(y) - 6, 4, 4)).toBe(0);
    // and the stored mask too, somewhere in its bounding box as the view now places it
    const ann = await studio.page.evaluate(() => { const m = (window as any).__studio.app.annotations.items[0].mask; return { x: m.x, y: m.y, width: m.width, height: m.height }; });
    const s = after[0];
    const x0 = Math.max(0, Math.floor(x + ann.x * s)), y0 = Math.max(0, Math.floor(y + ann.y * s));
    const x1 = Math.min(box.width, Math.ceil(x + (ann.x + ann.width) * s)), y1 = Math.min(box.height, Math.ceil(y + (ann.y + ann.height) * s));
    expect(await drawnPixels('annotations', x0, y0, x1 - x0, y1 - y0)).toBeGreaterThan(0);
    await screenshot(studio.page, 'large-image-panned');
  });
});
