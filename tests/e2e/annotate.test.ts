/**
 * The annotation flow through the real renderer and the real back end (issue 5's checks): hover
 * preview, click -> the engine's mask on the canvas, Tab, Enter -> a row in SQLite, undo/redo,
 * switching images, box / negative point / polygon / brush / eraser / label hotkeys (each checked
 * on stored data), a bad image's badge, a COCO export from the dialog and an import from its own.
 */
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateTinyModel, buildRenderer, createProject, createStudio, FIXTURES, layerPixels, pageXY, screenshot, tabToNonEmptyCandidate, type Studio } from './harness.ts';

let studio: Studio;
let db: Database.Database;
let projectPath: string;

const rows = () => db.prepare('SELECT id, label_id AS labelId, area, prompts, image_id AS imageId FROM annotations ORDER BY id').all() as
  { id: number; labelId: number; area: number; prompts: string | null; imageId: number }[];

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function shownCount(): Promise<number> {
  return Number(await studio.page.locator('.canvas').getAttribute('data-shown-count'));
}

async function openImageNamed(name: string): Promise<void> {
  await studio.page.locator('.image-item', { hasText: name }).click();
  await waitFor(async () => (await studio.page.locator('.canvas').getAttribute('data-loaded')) === 'true', `${name} to load`);
  await waitFor(async () => !(await studio.page.locator('[data-testid=encoding]').count()), 'encoding to finish');
}

beforeAll(async () => {
  const pre = await createStudio({ rendererDir: await buildRenderer() });
  const images = join(pre.dir, 'images');
  mkdirSync(images);
  for (const f of ['landscape.png', 'portrait.png']) copyFileSync(join(FIXTURES, f), join(images, f));
  writeFileSync(join(images, 'broken.png'), Buffer.from('this is not a png at all'));
  await activateTinyModel(pre);
  projectPath = await createProject(pre, 'labels.ptq4sam', images, [{ name: 'cat', hotkey: '1' }, { name: 'dog', hotkey: '2' }]);
  studio = await pre.open();
  db = new Database(projectPath, { readonly: true });
  await studio.page.locator('.image-item').nth(2).waitFor();
  await openImageNamed('landscape.png');
});

afterAll(async () => {
  db?.close();
  await studio?.close();
});

describe('annotating with SAM through the real renderer', () => {
  it('shows a preview mask under the cursor before any click', async () => {
    const before = await shownCount();
    const at = await pageXY(studio.page, 160, 120);
    await studio.page.mouse.move(at.x, at.y);
    await waitFor(async () => (await shownCount()) > before, 'a hover preview');
    await screenshot(studio.page, 'annotate-hover');
  });

  it('keeps two hover requests out while the pointer moves, coalescing the moves between answers', async () => {
    const r = await studio.page.evaluate(async () => {
      const w = window as any;
      const el = document.querySelector('.canvas') as HTMLElement;
      const box = el.getBoundingClientRect();
      const call = w.__apiCall;
      let out = 0, most = 0, previews = 0;
      w.__apiCall = async (m: string, a: { preview?: boolean }) => {
        if (m !== 'samPredict' || !a.preview) return call(m, a);
        out++; previews++;
        most = Math.max(most, out);
        try { return await call(m, a); } finally { out--; }
      };
      const start = Number(el.dataset.shownCount);
      for (let i = 0; i < 150; i++) {
        el.dispatchEvent(new PointerEvent('pointermove', { clientX: box.left + box.width / 2 + 80 * Math.cos(i / 10), clientY: box.top + box.height / 2 + 60 * Math.sin(i / 10), bubbles: true, pointerId: 1 }));
        await new Promise((res) => setTimeout(res, 4));
      }
      while (out > 0) await new Promise((res) => setTimeout(res, 20));
      w.__apiCall = call;
      return { most, previews, shown: Number(el.dataset.shownCount) - start };
    });
    expect(r.most).toBe(2);
    expect(r.previews).toBeLessThan(150); // coalesced: moves while two are out wait, the latest wins
    expect(r.shown).toBeGreaterThan(1);
  });

  it('draws the engine mask pixel for pixel after a click', async () => {
    await studio.page.keyboard.press('o');
    const before = await shownCount();
    const at = await pageXY(studio.page, 100, 80);
    await studio.page.mouse.click(at.x, at.y);
    await waitFor(async () => (await shownCount()) > before && (await studio.page.locator('[data-testid=candidates]').count()) > 0, 'the click result');
    const candidate = Number(await studio.page.locator('.canvas').getAttribute('data-candidate'));
    const imageId = studio.session.need().listImages({}).items.find((i) => i.path.endsWith('landscape.png'))!.id;
    const expected = await studio.handlers.samPredict({ imageId, prompt: { points: [{ x: 100, y: 80, label: 1 }] } });
    const mask = expected.masks[candidate]!;
    expect(mask.width).toBeGreaterThan(0);
    const onScreen = await layerPixels(studio.page, 'sam', mask.x, mask.y, mask.width, mask.height);
    expect(Array.from(onScreen)).toEqual(Array.from(mask.data));
    await screenshot(studio.page, 'annotate-click');
  });

  it('cycles to another candidate mask with Tab: its view, asked for after the click, drawn', async () => {
    const canvas = studio.page.locator('.canvas');
    await expect.poll(() => canvas.getAttribute('data-candidates-ready')).toBe('true');
    const imageId = studio.session.need().listImages({}).items.find((i) => i.path.endsWith('landscape.png'))!.id;
    const expected = await studio.handlers.samPredict({ imageId, prompt: { points: [{ x: 100, y: 80, label: 1 }] } });
    const before = Number(await canvas.getAttribute('data-candidate'));
    for (let tab = 1; tab < expected.masks.length; tab++) {
      await studio.page.keyboard.press('Tab');
      const now = (before + tab) % expected.masks.length;
      await expect.poll(async () => Number(await canvas.getAttribute('data-candidate'))).toBe(now);
      const mask = expected.masks[now]!;
      expect(Number(await canvas.getAttribute('data-shown-width'))).toBe(mask.width);
      if (mask.width === 0) continue;
      // the layer also draws the clicked point as a disc: compare away from it
      const away = (bits: ArrayLike<number>) => Array.from(bits).filter((_, i) => Math.hypot(mask.x + (i % mask.width) + 0.5 - 100, mask.y + Math.floor(i / mask.width) + 0.5 - 80) > 9);
      const onScreen = await layerPixels(studio.page, 'sam', mask.x, mask.y, mask.width, mask.height);
      expect(away(onScreen)).toEqual(away(mask.data));
    }
    // round to the best one again, which Enter stores next
    await studio.page.keyboard.press('Tab');
    await expect.poll(async () => Number(await canvas.getAttribute('data-candidate'))).toBe(before);
  });

  it('stores the mask as an annotation row on Enter', async () => {
    await studio.page.keyboard.press('Enter');
    await waitFor(() => rows().length === 1, 'the annotation row');
    const [row] = rows();
    expect(row!.area).toBeGreaterThan(0);
    expect(JSON.parse(row!.prompts!).points).toEqual([{ x: 100, y: 80, label: 1 }]);
    await expect.poll(() => studio.page.locator('[data-annotation-id]').count()).toBe(1);
    await studio.page.keyboard.press('f');
    await screenshot(studio.page, 'annotate-accepted');
  });

  it('undoes and redoes the accepted mask with Ctrl+Z and Ctrl+Shift+Z', async () => {
    await studio.page.keyboard.press('Control+z');
    await waitFor(() => rows().length === 0, 'undo');
    await expect.poll(() => studio.page.locator('[data-annotation-id]').count()).toBe(0);
    await studio.page.keyboard.press('Control+Shift+z');
    await waitFor(() => rows().length === 1, 'redo');
    await expect.poll(() => studio.page.locator('[data-annotation-id]').count()).toBe(1);
  });

  it('keeps the annotation after switching to the next image and back', async () => {
    await studio.page.keyboard.press('d');
    await expect.poll(() => studio.page.locator('[data-annotation-id]').count()).toBe(0);
    await studio.page.keyboard.press('a');
    await expect.poll(() => studio.page.locator('[data-annotation-id]').count()).toBe(1);
    expect(rows()).toHaveLength(1);
  });

  it('relabels the selected annotation with a label hotkey', async () => {
    const dog = studio.session.need().findLabelByName('dog')!;
    await studio.page.locator('.ann-name').first().click();
    await studio.page.keyboard.press('2');
    await waitFor(() => rows()[0]!.labelId === dog.id, 'the relabel');
    await studio.page.keyboard.press('Escape');
  });

  it('stores a negative point given with a right click', async () => {
    const count = rows().length;
    const pos = await pageXY(studio.page, 200, 150);
    const neg = await pageXY(studio.page, 230, 160);
    const before = await shownCount();
    await studio.page.mouse.click(pos.x, pos.y);
    await waitFor(async () => (await shownCount()) > before, 'the positive point\'s mask');
    const refined = await shownCount();
    await studio.page.mouse.click(neg.x, neg.y, { button: 'right' });
    await waitFor(async () => (await shownCount()) > refined, 'the refined mask');
    // random-weight model: a refined candidate can be empty; the user would Tab to another
    await tabToNonEmptyCandidate(studio.page);
    await studio.page.keyboard.press('Enter');
    await waitFor(() => rows().length === count + 1, 'the new row');
    const points = JSON.parse(rows().at(-1)!.prompts!).points as { label: number }[];
    expect(points.map((p) => p.label)).toEqual([1, 0]);
  });

  it('stores a box prompt drawn with the box tool', async () => {
    const count = rows().length;
    await studio.page.keyboard.press('x');
    const a = await pageXY(studio.page, 40, 40);
    const b = await pageXY(studio.page, 140, 120);
    const before = await shownCount();
    await studio.page.mouse.move(a.x, a.y);
    await studio.page.mouse.down();
    await studio.page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2);
    await studio.page.mouse.move(b.x, b.y);
    await studio.page.mouse.up();
    await waitFor(async () => (await shownCount()) > before, 'the box prediction');
    await screenshot(studio.page, 'annotate-box');
    await studio.page.keyboard.press('Enter');
    await waitFor(() => rows().length === count + 1, 'the box row');
    const box = JSON.parse(rows().at(-1)!.prompts!).box as number[];
    expect(box.map(Math.round)).toEqual([40, 40, 140, 120]);
  });

  it('stores a polygon drawn with the polygon tool', async () => {
    const count = rows().length;
    await studio.page.keyboard.press('p');
    for (const [x, y] of [[10, 10], [60, 10], [60, 50], [10, 50]] as const) {
      const at = await pageXY(studio.page, x, y);
      await studio.page.mouse.click(at.x, at.y);
    }
    await studio.page.keyboard.press('Enter');
    await waitFor(() => rows().length === count + 1, 'the polygon row');
    expect(rows().at(-1)!.area).toBe(50 * 40);
  });

  it('grows the selected annotation with the brush and shrinks it with the eraser', async () => {
    const target = rows().at(-1)!;
    await studio.page.locator(`[data-annotation-id="${target.id}"] .ann-name`).click();
    await studio.page.keyboard.press('b');
    const a = await pageXY(studio.page, 80, 30);
    const b = await pageXY(studio.page, 120, 30);
    await studio.page.mouse.move(a.x, a.y);
    await studio.page.mouse.down();
    await studio.page.mouse.move(b.x, b.y, { steps: 4 });
    await studio.page.mouse.up();
    await waitFor(() => rows().find((r) => r.id === target.id)!.area > target.area, 'the brush stroke');
    const grown = rows().find((r) => r.id === target.id)!.area;
    await studio.page.keyboard.press('e');
    const c = await pageXY(studio.page, 20, 30);
    const d = await pageXY(studio.page, 50, 30);
    await studio.page.mouse.move(c.x, c.y);
    await studio.page.mouse.down();
    await studio.page.mouse.move(d.x, d.y, { steps: 4 });
    await studio.page.mouse.up();
    await waitFor(() => rows().find((r) => r.id === target.id)!.area < grown, 'the eraser stroke');
    await screenshot(studio.page, 'annotate-brush');
  });

  it('shows an error badge on an undecodable image and still opens the others', async () => {
    await expect.poll(() => studio.page.locator('.image-item', { hasText: 'broken.png' }).locator('[data-testid=error-badge]').count()).toBe(1);
    await studio.page.locator('.image-item', { hasText: 'broken.png' }).click();
    await expect.poll(() => studio.page.locator('[data-testid=image-error]').count()).toBe(1);
    await screenshot(studio.page, 'image-error');
    await openImageNamed('portrait.png');
    expect(await studio.page.locator('[data-testid=image-error]').count()).toBe(0);
  });

  it('exports COCO from the dialog with every stored annotation and reports what it skipped', async () => {
    // an image file gone since it was added: still exported (COCO needs no pixels), and named
    renameSync(join(studio.dir, 'images', 'portrait.png'), join(studio.dir, 'portrait-moved.png'));
    const outDir = join(studio.dir, 'export-coco');
    studio.dialogs.folders.push(outDir);
    await studio.page.keyboard.press('Control+e');
    await studio.page.locator('[data-format=coco]').check();
    await studio.page.locator('[data-testid=export-choose]').click();
    await expect.poll(() => studio.page.locator('[data-testid=export-dialog] code').first().textContent()).toBe(outDir);
    await studio.page.locator('[data-testid=export-run]').click();
    await studio.page.locator('[data-testid=export-report]').waitFor();
    await screenshot(studio.page, 'export-dialog');
    const coco = JSON.parse(readFileSync(join(outDir, 'annotations.json'), 'utf8')) as { annotations: { id: number }[]; images: { file_name: string }[] };
    expect(coco.annotations).toHaveLength(rows().length);
    expect(coco.images.map((i) => i.file_name).sort()).toEqual(['images/landscape.png', 'images/portrait.png']);
    expect(await studio.page.locator('[data-testid=export-skipped] li').allTextContents()).toEqual([expect.stringMatching(/^image images\/broken\.png has no known size/)]);
    expect(await studio.page.locator('[data-testid=export-notes]').textContent()).toContain('1 image file(s) could not be found (their annotations were exported): images/portrait.png');
    await studio.page.keyboard.press('Escape');
  });

  it('imports a COCO file from the Import dialog: its label and masks show at once, and one Ctrl+Z takes them back', async () => {
    await openImageNamed('landscape.png');
    const before = rows().length;
    const file = join(studio.dir, 'images', 'birds.json');
    writeFileSync(file, JSON.stringify({
      images: [{ id: 7, file_name: 'landscape.png', width: 320, height: 240 }],
      categories: [{ id: 1, name: 'bird' }],
      annotations: [
        { id: 1, image_id: 7, category_id: 1, segmentation: [[20, 20, 80, 20, 80, 60, 20, 60]], bbox: [20, 20, 60, 40], area: 2400, iscrowd: 0 },
        { id: 2, image_id: 7, category_id: 1, bbox: [150, 100, 40, 30], area: 1200, iscrowd: 0 },
      ],
    }));
    studio.dialogs.files.push([file]);
    await studio.page.locator('[data-testid=open-import]').click();
    await studio.page.locator('[data-format=coco]').check();
    await studio.page.locator('[data-testid=import-choose]').click();
    await expect.poll(() => studio.page.locator('[data-testid=import-dialog] code').first().textContent()).toBe(file);
    await studio.page.locator('[data-testid=import-run]').click();
    await studio.page.locator('[data-testid=import-report]').waitFor();
    await screenshot(studio.page, 'import-dialog');
    expect(await studio.page.locator('[data-testid=import-report]').textContent()).toContain('Added 2 annotations (1 of them boxes waiting for masks), 0 images, labels bird.');
    await studio.page.keyboard.press('Escape');
    // the window shows them without a reload: the new label and the two rows of this image
    await waitFor(async () => (await studio.page.locator('.ann-name', { hasText: 'bird' }).count()) === 2, 'the imported annotations in the list');
    expect(rows().length).toBe(before + 2);
    // the imported box gets SAM's mask for it from the list's button (one undo step of its own)
    const { id: boxId } = db.prepare("SELECT a.id FROM annotations a JOIN labels l ON l.id = a.label_id WHERE l.name = 'bird' AND a.rle_counts IS NULL").get() as { id: number };
    const birdBox = () => db.prepare('SELECT rle_counts AS rle, area FROM annotations WHERE id = ?').get(boxId) as { rle: string | null; area: number };
    expect(birdBox().rle).toBeNull();
    await studio.page.locator('[data-testid=boxes-to-masks]').click();
    await waitFor(async () => /Masks for boxes: /.test((await studio.page.locator('[data-testid=notice]').textContent().catch(() => '')) ?? ''), 'the boxes run to end');
    const said = (await studio.page.locator('[data-testid=notice]').textContent())!;
    const made = Number(/Masks for boxes: (\d+) mask/.exec(said)![1]);
    expect(made === 1 ? birdBox().area > 0 : birdBox().rle === null).toBe(true);
    expect(await studio.page.locator('.box-only').count()).toBe(1 - made);
    await studio.page.keyboard.press('Control+z');
    await waitFor(async () => (await studio.page.locator('.box-only').count()) === 1, 'the masks to go back to a box');
    await studio.page.keyboard.press('Control+z');
    await waitFor(async () => (await studio.page.locator('.ann-name', { hasText: 'bird' }).count()) === 0, 'the import to be undone');
    expect(rows().length).toBe(before);
  });

  it('lists every shortcut on the sheet opened with ?', async () => {
    await studio.page.keyboard.press('?');
    await studio.page.locator('[data-testid=shortcut-sheet]').waitFor();
    expect(await studio.page.locator('[data-testid=shortcut-sheet] kbd', { hasText: 'Tab' }).count()).toBe(1);
    await screenshot(studio.page, 'shortcuts');
    await studio.page.keyboard.press('Escape');
  });
});
