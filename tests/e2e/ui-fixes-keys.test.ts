/**
 * The window's keys, messages and image loading, through the real renderer and back end (one app
 * for the file): shortcuts after a click on a toolbar control or a row's label dropdown, none
 * under the Export dialog, SAM failures and missing files shown, a refused label name kept, Ctrl+D
 * in the "To do" list, no clicks taken while the next image loads or in the margin, and nothing
 * of one project selected in the next.
 *   npx vitest run tests/e2e/ui-fixes-keys.test.ts
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskFromPolygons, rleFromMask } from '../../main/masks/index.ts';
import { createProject as createStore } from '../../main/project/index.ts';
import { activateTinyModel, buildRenderer, createProject, createStudio, FIXTURES, pageXY, type Studio } from './harness.ts';
import { appExpr as appExprOn, imageIdNamed, openImageNamed as openImageOn, sleep, waitFor } from './harness.ts';

let studio: Studio;
let db: Database.Database;
let otherProject: string;
const pageErrors: string[] = [];

type Row = { id: number; labelId: number; imageId: number };
const rowsOf = (d: Database.Database) => d.prepare('SELECT id, label_id AS labelId, image_id AS imageId FROM annotations ORDER BY id').all() as Row[];
const rows = () => rowsOf(db);
const statusOf = (id: number) => (db.prepare('SELECT status FROM images WHERE id = ?').get(id) as { status: string }).status;

const appExpr = <T>(expr: string): Promise<T> => appExprOn<T>(studio.page, expr);
const imageId = (name: string) => imageIdNamed(studio, name);
const loadedImage = () => studio.page.locator('.canvas').getAttribute('data-loaded-image');
const notice = async () => (await studio.page.locator('[data-testid=notice]').allTextContents()).join(' ');

const openImageNamed = (name: string) => openImageOn(studio, name);
/** a middle click on the canvas: takes the focus from a control, as a user's click would, and changes nothing */
async function focusCanvas(): Promise<void> {
  await studio.page.locator('.canvas').click({ button: 'middle', position: { x: 3, y: 3 } });
}
async function dismissNotice(): Promise<void> {
  if (await studio.page.locator('[data-testid=notice]').count()) await studio.page.locator('[data-testid=notice] button').click();
}

beforeAll(async () => {
  const pre = await createStudio({ rendererDir: await buildRenderer() });
  const images = join(pre.dir, 'images');
  mkdirSync(images);
  copyFileSync(join(FIXTURES, 'landscape.png'), join(images, 'a-landscape.png'));
  copyFileSync(join(FIXTURES, 'portrait.png'), join(images, 'b-portrait.png'));
  copyFileSync(join(FIXTURES, 'landscape.png'), join(images, 'c-landscape.png'));
  copyFileSync(join(FIXTURES, 'portrait.png'), join(images, 'd-gone.png'));
  copyFileSync(join(FIXTURES, 'large.png'), join(images, 'e-large.png'));
  // another project over the same folder, made beforehand: annotations 1 and 2 on its portrait
  otherProject = join(pre.dir, 'other.ptq4sam');
  const other = createStore(otherProject);
  await other.addImages([images]);
  const tree = other.addLabel({ name: 'tree', hotkey: '1' });
  const portrait = other.listImages({}).items.find((i) => i.path.endsWith('b-portrait.png'))!;
  for (let k = 0; k < 2; k++) {
    other.addAnnotation({ imageId: portrait.id, labelId: tree.id, rle: rleFromMask(maskFromPolygons([{ outer: [10, 10 + 50 * k, 90, 10 + 50 * k, 90, 50 + 50 * k], holes: [] }], 180, 300)) });
  }
  other.close();
  pre.session.allowed.allowFile(otherProject);
  await activateTinyModel(pre);
  const projectPath = await createProject(pre, 'keys.ptq4sam', images, [{ name: 'cat', hotkey: '1' }, { name: 'dog', hotkey: '2' }]);
  rmSync(join(images, 'd-gone.png')); // deleted after it was added
  studio = await pre.open();
  studio.page.on('pageerror', (e) => pageErrors.push(e.message));
  db = new Database(projectPath, { readonly: true });
  await studio.page.locator('.image-item').nth(4).waitFor();
  await openImageNamed('a-landscape.png');
  await studio.page.keyboard.press('p');
  for (const [x, y] of [[10, 10], [60, 10], [60, 50], [10, 50]] as const) {
    const at = await pageXY(studio.page, x, y);
    await studio.page.mouse.click(at.x, at.y);
  }
  await studio.page.keyboard.press('Enter');
  await waitFor(() => rows().length === 1, 'the first polygon');
  await studio.page.keyboard.press('s');
}, 300_000);

afterAll(async () => {
  db?.close();
  await studio?.close();
});

describe('keys reach the app, and only the app', () => {
  it('D after relabelling in an annotation row\'s dropdown goes to the next image, the label kept', async () => {
    const [first] = rows();
    const dog = studio.session.need().findLabelByName('dog')!;
    const select = studio.page.locator(`[data-annotation-id="${first!.id}"] select`);
    await select.selectOption({ label: 'dog' });
    await waitFor(() => rows()[0]!.labelId === dog.id, 'the relabel');
    expect(await select.evaluate((el) => el === document.activeElement), 'the dropdown hands the keys back').toBe(false);
    // a select focused anyway (by Tab, or a pick that changed nothing) does not take D as "dog"
    await select.focus();
    await studio.page.keyboard.press('d');
    await waitFor(async () => (await appExpr<number>('app.project.currentId')) === imageId('b-portrait.png'), 'the next image');
    await sleep(300);
    expect(rows()[0]!.labelId).toBe(dog.id);
    expect(db.prepare("SELECT count(*) AS n FROM edit_log WHERE kind = 'annotation.label'").get(), 'one relabel').toEqual({ n: 1 });
    await openImageNamed('a-landscape.png');
  });

  it('keeps the shortcuts after a click on a toolbar checkbox or slider', async () => {
    await studio.page.locator('.toolbar label', { hasText: 'outlines' }).locator('input').click();
    expect(await appExpr<boolean>('app.view.showOutlines')).toBe(false);
    await studio.page.keyboard.press('d');
    await waitFor(async () => (await appExpr<number>('app.project.currentId')) === imageId('b-portrait.png'), 'D after the checkbox');
    await studio.page.keyboard.press('l');
    expect(await appExpr<boolean>('app.view.showOutlines'), 'L after the checkbox').toBe(true);
    await openImageNamed('a-landscape.png');
    await studio.page.locator('[data-testid=opacity]').click();
    await studio.page.keyboard.press('p');
    expect(await appExpr<string>('app.toolId'), 'P after the opacity slider').toBe('polygon');
    await studio.page.keyboard.press('s');
    expect(await appExpr<string>('app.toolId')).toBe('point');
  });

  it('gives the Export dialog only Escape and ?: nothing under it is deleted, relabelled or switched', async () => {
    const [first] = rows();
    await studio.page.locator(`[data-annotation-id="${first!.id}"] .ann-name`).click();
    await studio.page.locator('[data-testid=open-export]').click();
    await studio.page.locator('[data-testid=export-dialog]').waitFor();
    const before = await appExpr<number>('app.project.currentId');
    for (const key of ['Delete', 'd', '1', 'h', 'Control+z']) await studio.page.keyboard.press(key);
    await sleep(800);
    expect(rows()).toEqual([first]);
    expect(await appExpr<number>('app.project.currentId')).toBe(before);
    expect(await appExpr<number | null>('app.annotations.selectedId')).toBe(first!.id);
    // while it runs an export, neither Escape nor ? takes its progress and report away
    await appExpr('app.dialogBusy = true');
    for (const key of ['Escape', '?']) await studio.page.keyboard.press(key);
    expect(await appExpr<string | null>('app.dialog'), 'a running export keeps its dialog').toBe('export');
    await appExpr('app.dialogBusy = false');
    await studio.page.keyboard.press('?');
    expect(await appExpr<string | null>('app.dialog'), '? over the dialog').toBe('shortcuts');
    await studio.page.keyboard.press('Escape');
    expect(await appExpr<string | null>('app.dialog'), 'Escape closes it').toBeNull();
    await studio.page.keyboard.press('Escape');
    expect(await appExpr<number | null>('app.annotations.selectedId')).toBeNull();
  });

  it('gives the Models page only the app\'s keys: the annotation screen out of sight keeps its selection and image', async () => {
    const [first] = rows();
    await studio.page.locator(`[data-annotation-id="${first!.id}"] .ann-name`).click();
    const before = await appExpr<number>('app.project.currentId');
    await studio.page.keyboard.press('m');
    expect(await appExpr<string>('app.screen')).toBe('models');
    for (const key of ['Delete', 'd', '1', 'h', 'Control+z']) await studio.page.keyboard.press(key);
    await sleep(800);
    expect(rows()).toEqual([first]);
    expect(await appExpr<number>('app.project.currentId')).toBe(before);
    await studio.page.keyboard.press('m');
    expect(await appExpr<string>('app.screen')).toBe('annotate');
    await studio.page.keyboard.press('Escape');
  });
});

describe('what goes wrong is said', () => {
  it('shows a failed SAM request in the notice line, gone with the next click that works', async () => {
    // a prompt the main process refuses, as it refuses one outside the image it stored
    await studio.page.evaluate(() => {
      const w = window as any; const call = w.__apiCall; let failed = false;
      w.__apiCall = (m: string, a: any) => {
        if (m !== 'samPredict' || a.preview || failed) return call(m, a);
        failed = true;
        return Promise.reject(new Error('samPredict.prompt.points.0.y: 280 is not a number in [0, 240]'));
      };
    });
    const at = await pageXY(studio.page, 150, 120);
    await studio.page.mouse.click(at.x, at.y);
    await waitFor(async () => (await appExpr<string | null>('app.engine.error')) !== null, 'the engine error');
    expect(await notice()).toContain('280 is not a number in [0, 240]');
    await studio.page.keyboard.press('Escape');
    await studio.page.mouse.click(at.x, at.y);
    await waitFor(async () => (await appExpr<unknown>('app.engine.result')) !== null, 'the answer to the second click');
    expect(await appExpr<string | null>('app.engine.error')).toBeNull();
    expect(await studio.page.locator('[data-testid=notice]').count()).toBe(0);
    await studio.page.keyboard.press('Escape');
  });

  it('says an image\'s file is missing, drawing nothing and taking no click there', async () => {
    await studio.page.locator('.image-item', { hasText: 'd-gone.png' }).click();
    await waitFor(async () => (await studio.page.locator('[data-testid=image-error]').count()) > 0, 'the image message');
    await waitFor(async () => (await appExpr<string | null>('app.engine.openError?.message ?? null')) !== null, 'the engine\'s reason');
    expect(await studio.page.locator('[data-testid=image-error]').textContent()).toMatch(/file not found/);
    expect(await loadedImage(), 'a-landscape no longer drawn').toBeNull();
    expect(await studio.page.locator('.canvas').getAttribute('data-loaded')).toBe('false');
    const at = await pageXY(studio.page, 100, 100);
    await studio.page.mouse.click(at.x, at.y);
    await sleep(300);
    expect(await appExpr<unknown[]>('app.engine.points')).toEqual([]);
    expect(await appExpr<string>('app.tool.path')).toBe('point.idle');
    await dismissNotice();
    await openImageNamed('a-landscape.png');
    expect(await studio.page.locator('[data-testid=image-error]').count()).toBe(0);
  });

  it('says why a label name is refused, keeping what was typed', async () => {
    const field = studio.page.locator('[data-testid=new-label]');
    await field.fill('cat');
    await field.press('Enter');
    await waitFor(async () => (await notice()).includes('already exists'), 'the notice');
    expect(await field.inputValue()).toBe('cat');
    expect(studio.session.need().listLabels().map((l) => l.name)).toEqual(['cat', 'dog']);
    await field.fill('');
    await dismissNotice();
    await focusCanvas();
  });
});

describe('images', () => {
  it('Ctrl+D in the "To do" list shows the next image to do; the last one leaves an empty list said as such', async () => {
    await studio.page.locator('[data-testid=image-filter]').selectOption('todo');
    await openImageNamed('b-portrait.png');
    await studio.page.keyboard.press('Control+d');
    await waitFor(async () => (await appExpr<number>('app.project.currentId')) === imageId('c-landscape.png'), 'the next image to do');
    await waitFor(async () => (await loadedImage()) === String(imageId('c-landscape.png')), 'c-landscape drawn');
    expect(statusOf(imageId('b-portrait.png'))).toBe('done');
    await studio.page.keyboard.press('d');
    await waitFor(async () => (await appExpr<number>('app.project.currentId')) === imageId('d-gone.png'), 'D from there');
    // the Done list holds b-portrait alone: marked to do again, it leaves it empty
    await studio.page.locator('[data-testid=image-filter]').selectOption('done');
    await openImageNamed('b-portrait.png');
    await studio.page.keyboard.press('Control+d');
    await waitFor(async () => (await appExpr<number | null>('app.project.currentId')) === null, 'no image');
    expect(statusOf(imageId('b-portrait.png'))).toBe('new');
    expect(await studio.page.locator('.canvas-message').textContent()).toMatch(/No image in this list/);
    await studio.page.locator('[data-testid=image-filter]').selectOption('all');
    await openImageNamed('a-landscape.png');
  });

  it('takes no click while the next image loads: the one before is off screen', async () => {
    await studio.context.route('**/image/*/full/*', async (route) => { await sleep(1500); await route.fallback(); });
    try {
      const at = await pageXY(studio.page, 300, 200); // a-landscape's pixel (300, 200) as drawn
      await studio.page.locator('.image-item', { hasText: 'e-large.png' }).click();
      await sleep(200);
      expect(await loadedImage(), 'nothing drawn while e-large loads').toBeNull();
      await studio.page.mouse.click(at.x, at.y);
      await sleep(300);
      expect(await appExpr<unknown[]>('app.engine.points')).toEqual([]);
      expect(await appExpr<string>('app.tool.path')).toBe('point.idle');
      await waitFor(async () => (await loadedImage()) === String(imageId('e-large.png')), 'e-large drawn');
    } finally {
      await studio.context.unroute('**/image/*/full/*');
    }
    await waitFor(async () => !(await studio.page.locator('[data-testid=encoding]').count()), 'encoding', 120_000);
    expect(await appExpr<unknown[]>('app.engine.points')).toEqual([]);
  });

  it('a point-tool click in the margin places nothing and leaves hover previews on', async () => {
    await openImageNamed('a-landscape.png');
    const box = (await studio.page.locator('.canvas').boundingBox())!;
    const [, , vy] = (await studio.page.locator('.canvas').getAttribute('data-view'))!.split(',').map(Number) as [number, number, number];
    expect(vy).toBeGreaterThan(4);
    await studio.page.mouse.click(box.x + box.width / 2, box.y + vy / 2); // above the image
    expect(await appExpr<string>('app.tool.path')).toBe('point.idle');
    const before = Number(await studio.page.locator('.canvas').getAttribute('data-shown-count'));
    const at = await pageXY(studio.page, 150, 120);
    await studio.page.mouse.move(at.x, at.y, { steps: 5 });
    await waitFor(async () => Number(await studio.page.locator('.canvas').getAttribute('data-shown-count')) > before, 'a hover preview');
    expect(await appExpr<unknown[]>('app.engine.points')).toEqual([]);
  });
});

describe('another project', () => {
  it('opens with nothing of the last one selected: Delete there deletes nothing', async () => {
    await openImageNamed('a-landscape.png');
    const [mine] = rows();
    expect(mine!.id).toBe(1);
    await studio.page.locator(`[data-annotation-id="${mine!.id}"] .ann-name`).click();
    expect(await appExpr<number | null>('app.annotations.selectedId')).toBe(1);
    expect(await appExpr<number>('app.engine.ready.size')).toBeGreaterThan(0);
    // the new project's first encoding held back, so that what is marked ready can be seen before it
    await studio.page.evaluate(() => {
      const w = window as any; const call = w.__apiCall;
      w.__apiCall = async (m: string, a: unknown) => { if (m === 'samEncode') await new Promise((r) => setTimeout(r, 1500)); return call(m, a); };
    });
    studio.dialogs.files.push([otherProject]);
    await studio.page.keyboard.press('Control+o');
    await waitFor(async () => (await appExpr<string>('app.project.info?.path ?? ""')).endsWith('other.ptq4sam'), 'the other project');
    expect(await appExpr<number | null>('app.annotations.selectedId')).toBeNull();
    // the last project's embeddings: its ids name other images here
    expect(await appExpr<number>('app.engine.ready.size')).toBe(0);
    await waitFor(async () => (await loadedImage()) !== null && !(await studio.page.locator('[data-testid=encoding]').count()), 'its image', 120_000);
    expect(await studio.page.locator('[data-annotation-id]').count()).toBe(0);
    const other = new Database(otherProject, { readonly: true });
    try {
      const before = rowsOf(other);
      expect(before.map((r) => r.id)).toEqual([1, 2]);
      await studio.page.keyboard.press('Delete');
      await sleep(800);
      expect(rowsOf(other)).toEqual(before);
    } finally {
      other.close();
    }
    expect(rows().map((r) => r.id), 'the first project untouched').toEqual([1]);
    expect(pageErrors).toEqual([]);
  });
});
