/**
 * The image list of a project larger than one page of the store's list (500 images), through the
 * real renderer and back end: D and A walk across page boundaries to the last image and back, held
 * down too; the list scrolls to the last image with few rows in the page; Ctrl+D in the "To do"
 * list and an undo on an image far down the list; the last image opened, past 500, comes back
 * after the project is opened again and after a restart.
 *   npx vitest run tests/e2e/image-list-paging.test.ts
 */
import { linkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRenderer, createProject, createStudio, pageXY, screenshot, type Studio } from './harness.ts';
import { appExpr as appExprOn, waitFor } from './harness.ts';

const COUNT = 1300;
/** img-0001.png .. img-1300.png, added in that order */
const nameOf = (n: number) => `img-${String(n).padStart(4, '0')}.png`;

let studio: Studio;
let projectPath: string;
/** image id by its number in the list (1-based) */
const ids: number[] = [];

const appExpr = <T>(expr: string): Promise<T> => appExprOn<T>(studio.page, expr);
const currentId = () => appExpr<number | null>('app.project.currentId');
const rowsInPage = () => studio.page.locator('.image-item').count();

async function waitForCurrent(n: number, what: string): Promise<void> {
  await waitFor(async () => (await currentId()) === ids[n], `${what}: image ${n}`);
}

/** opens image n as the app would from anywhere (undo, a restored project): the list finds it */
async function openNumber(n: number): Promise<void> {
  await studio.page.evaluate((id) => (window as any).__studio.app.openImage(id), ids[n]);
  await waitForCurrent(n, 'opened');
  await waitFor(async () => (await studio.page.locator('.canvas').getAttribute('data-loaded-image')) === String(ids[n]), `image ${n} drawn`);
}

/** whether the current image's row is in the page and inside the list's visible box */
async function currentRowInView(): Promise<boolean> {
  return studio.page.evaluate(() => {
    const row = document.querySelector('.image-item.current');
    const list = document.querySelector('.images-scroll');
    if (!row || !list) return false;
    const [r, l] = [row.getBoundingClientRect(), list.getBoundingClientRect()];
    return r.top >= l.top - 1 && r.bottom <= l.bottom + 1;
  });
}

beforeAll(async () => {
  const pre = await createStudio({ rendererDir: await buildRenderer() });
  const images = join(pre.dir, 'images');
  mkdirSync(images);
  const one = join(pre.dir, 'one.png');
  await sharp({ create: { width: 64, height: 48, channels: 3, background: '#607080' } }).png().toFile(one);
  for (let n = 1; n <= COUNT; n++) linkSync(one, join(images, nameOf(n)));
  projectPath = await createProject(pre, 'paging.ptq4sam', images, [{ name: 'cat', hotkey: '1' }]);
  const listed = pre.session.need().listImages({ limit: COUNT }).items;
  expect(listed.map((i) => i.path.split('/').pop())).toEqual(Array.from({ length: COUNT }, (_, k) => nameOf(k + 1)));
  for (const [k, im] of listed.entries()) ids[k + 1] = im.id;
  pre.session.allowed.allowFile(projectPath);
  studio = await pre.open();
  await studio.page.locator('.image-item').first().waitFor();
}, 300_000);

afterAll(async () => {
  await studio?.close();
});

describe('a list of more than one page', () => {
  it('counts every image and puts only the rows in view in the page', async () => {
    expect(await studio.page.locator('.images-head .count').textContent()).toBe(String(COUNT));
    expect(await rowsInPage()).toBeLessThan(60);
  });

  it('D from image 500 reaches 501 and, held down, crosses pages to the last one; A walks back', async () => {
    await openNumber(500);
    await studio.page.keyboard.press('d');
    await waitForCurrent(501, 'D across the first page boundary');
    await waitFor(currentRowInView, 'the list following the current image', 10_000);
    await studio.page.keyboard.press('a');
    await waitForCurrent(500, 'A back across it');
    // as fast as the keyboard sends them, past a page boundary: no step is lost or doubled
    await openNumber(480);
    for (let k = 0; k < 40; k++) await studio.page.keyboard.press('d');
    await waitForCurrent(520, '40 D');
    await openNumber(990);
    for (let k = 0; k < 20; k++) await studio.page.keyboard.press('d');
    await waitForCurrent(1010, '20 D over the second boundary');
    await openNumber(1295);
    for (let k = 0; k < 10; k++) await studio.page.keyboard.press('d');
    await waitForCurrent(COUNT, 'D stops at the last image');
    await waitFor(currentRowInView, 'the last row in view', 10_000);
    for (let k = 0; k < 40; k++) await studio.page.keyboard.press('a');
    await waitForCurrent(1260, '40 A');
    await openNumber(1010);
    for (let k = 0; k < 30; k++) await studio.page.keyboard.press('a');
    await waitForCurrent(980, '30 A back over the boundary');
    expect(await rowsInPage()).toBeLessThan(60);
  });

  it('scrolls to the last image, whose click opens it, each row showing its own image', async () => {
    await openNumber(3);
    const list = studio.page.locator('.images-scroll');
    await list.hover();
    for (let k = 0; k < 40 && !(await studio.page.locator('.image-item', { hasText: nameOf(COUNT) }).count()); k++) {
      await studio.page.mouse.wheel(0, 4000);
      await studio.page.waitForTimeout(30);
    }
    const last = studio.page.locator('.image-item', { hasText: nameOf(COUNT) });
    await last.click();
    await waitForCurrent(COUNT, 'the last row clicked');
    await waitFor(async () => (await studio.page.locator('.canvas').getAttribute('data-loaded-image')) === String(ids[COUNT]), 'the last image drawn');
    expect(await rowsInPage()).toBeLessThan(60);
    await screenshot(studio.page, 'image-list-paging-last');
    // the rows are as high as the list's arithmetic takes them to be: nothing of a row spills over
    expect(await studio.page.locator('.image-item').evaluateAll((els) => els.filter((el) => el.scrollHeight > el.clientHeight).length)).toBe(0);
    const rows = await studio.page.locator('.image-item').evaluateAll((els) => els.map((el) => ({
      id: Number(el.getAttribute('data-image-id')), name: el.querySelector('.name')?.textContent, thumb: el.querySelector('img')?.getAttribute('src'),
    })));
    for (const row of rows) {
      const n = ids.indexOf(row.id);
      expect(row.name).toBe(nameOf(n));
      expect(row.thumb).toMatch(new RegExp(`/thumb/${row.id}$`));
    }
  });

  it('Ctrl+D in the "To do" list at the end of a page shows the next image, from the next page', async () => {
    await studio.page.locator('[data-testid=image-filter]').selectOption('todo');
    await openNumber(500);
    await studio.page.keyboard.press('Control+d');
    await waitForCurrent(501, 'the next image to do');
    await waitFor(async () => (await studio.page.locator('.images-head .count').textContent()) === String(COUNT - 1), 'one image fewer to do');
    expect(studio.session.need().getImage(ids[500]!).status).toBe('done');
    await studio.page.keyboard.press('a');
    await waitForCurrent(499, 'A skips the image done');
    await studio.page.locator('[data-testid=image-filter]').selectOption('all');
    await openNumber(500);
    await studio.page.keyboard.press('Control+d');
    await waitFor(() => studio.session.need().getImage(ids[500]!).status === 'new', 'image 500 to do again');
    expect(await currentId()).toBe(ids[500]);
  });

  it('undo on an image far down the list shows it and its count again', async () => {
    await openNumber(1200);
    await studio.page.keyboard.press('p');
    for (const [x, y] of [[5, 5], [40, 5], [40, 30], [5, 30]] as const) {
      const at = await pageXY(studio.page, x, y);
      await studio.page.mouse.click(at.x, at.y);
    }
    await studio.page.keyboard.press('Enter');
    const row = (n: number) => studio.page.locator(`.image-item[data-image-id="${ids[n]}"]`);
    await waitFor(async () => (await row(1200).locator('.badge').textContent().catch(() => null)) === '1', 'the count on image 1200');
    await studio.page.keyboard.press('s');
    await openNumber(2);
    await studio.page.keyboard.press('Control+z');
    await waitForCurrent(1200, 'the undo shows the image it changed');
    await waitFor(async () => (await row(1200).locator('.badge').count()) === 0, 'no count on image 1200');
    expect(studio.session.need().listAnnotations(ids[1200]!)).toEqual([]);
    // the list scrolls to the row once the page that holds it has come, which may be after the
    // count has gone: failed here once in three full runs when asked at once
    await waitFor(currentRowInView, 'the row of image 1200 in view', 10_000);
  });

  it('opens the project again at the last image opened, past 500, and so does a restart', async () => {
    await openNumber(1234);
    studio.dialogs.files.push([projectPath]);
    await studio.page.keyboard.press('Control+o');
    await waitFor(async () => (await appExpr<string>('app.project.info?.path ?? ""')) === projectPath && (await currentId()) === ids[1234], 'image 1234 after opening the project');
    await waitFor(currentRowInView, 'its row in view');
    await openNumber(777);
    await studio.page.reload();
    await waitFor(async () => (await studio.page.evaluate(() => (window as any).__studio?.app.project.currentId ?? null)) === ids[777], 'image 777 after a restart');
    await waitFor(async () => (await studio.page.locator('.canvas').getAttribute('data-loaded-image')) === String(ids[777]), 'image 777 drawn');
    await waitFor(currentRowInView, 'its row in view');
    expect(await rowsInPage()).toBeLessThan(60);
  });
});
