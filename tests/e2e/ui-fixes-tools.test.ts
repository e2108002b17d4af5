/**
 * The tools and the undo history through the real renderer and back end (one app for the file,
 * a project that starts without labels): no label made for nothing, no stroke into a hidden
 * annotation, no draft left over an image switch, Ctrl+Z taking back a gesture's last vertex or
 * point before the project history, an undo on an image the list filter hides, the Everything
 * tool across D and undo, and labels renamed and deleted from the window, each one undo step.
 *   npx vitest run tests/e2e/ui-fixes-tools.test.ts
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateTinyModel, buildRenderer, createProject, createStudio, FIXTURES, pageXY, type Studio } from './harness.ts';
import { appExpr as appExprOn, imageIdNamed, openImageNamed as openImageOn, sleep, waitFor } from './harness.ts';

let studio: Studio;
let db: Database.Database;
const pageErrors: string[] = [];

type Row = { id: number; labelId: number; area: number; hidden: number; imageId: number };
const rows = () => db.prepare('SELECT id, label_id AS labelId, area, hidden, image_id AS imageId FROM annotations ORDER BY id').all() as Row[];
const log = () => db.prepare('SELECT kind, undone FROM edit_log ORDER BY id').all() as { kind: string; undone: number }[];
const labels = () => studio.session.need().listLabels().map((l) => l.name);

const appExpr = <T>(expr: string): Promise<T> => appExprOn<T>(studio.page, expr);
const imageId = (name: string) => imageIdNamed(studio, name);
const loadedImage = () => studio.page.locator('.canvas').getAttribute('data-loaded-image');
const onImage = (name: string) => rows().filter((r) => r.imageId === imageId(name));

const openImageNamed = (name: string) => openImageOn(studio, name);
async function clickAt(points: readonly (readonly [number, number])[]): Promise<void> {
  for (const [x, y] of points) { const at = await pageXY(studio.page, x, y); await studio.page.mouse.click(at.x, at.y); }
}
async function drawPolygon(points: [number, number][]): Promise<void> {
  await studio.page.keyboard.press('p');
  await clickAt(points);
  await studio.page.keyboard.press('Enter');
}
async function stroke(from: [number, number], to: [number, number]): Promise<void> {
  const a = await pageXY(studio.page, ...from);
  const b = await pageXY(studio.page, ...to);
  await studio.page.mouse.move(a.x, a.y);
  await studio.page.mouse.down();
  await studio.page.mouse.move(b.x, b.y, { steps: 4 });
  await studio.page.mouse.up();
}
async function undo(what: string, done: () => boolean): Promise<void> {
  await studio.page.keyboard.press('Control+z');
  await waitFor(done, what);
}
async function redo(what: string, done: () => boolean): Promise<void> {
  await studio.page.keyboard.press('Control+Shift+z');
  await waitFor(done, what);
}

beforeAll(async () => {
  const pre = await createStudio({ rendererDir: await buildRenderer() });
  const images = join(pre.dir, 'images');
  mkdirSync(images);
  copyFileSync(join(FIXTURES, 'landscape.png'), join(images, 'a-landscape.png'));
  copyFileSync(join(FIXTURES, 'portrait.png'), join(images, 'b-portrait.png'));
  copyFileSync(join(FIXTURES, 'landscape.png'), join(images, 'c-third.png'));
  await activateTinyModel(pre);
  const projectPath = await createProject(pre, 'tools.ptq4sam', images, []); // no labels yet
  studio = await pre.open();
  studio.page.on('pageerror', (e) => pageErrors.push(e.message));
  db = new Database(projectPath, { readonly: true });
  await studio.page.locator('.image-item').nth(2).waitFor();
  await openImageNamed('a-landscape.png');
  // sam-tiny's random weights score ~0.1: the Everything runs are asked with thresholds they pass
  await studio.page.evaluate(() => {
    const w = window as any; const call = w.__apiCall;
    w.__apiCall = (m: string, a: any) => call(m, m === 'samEverything' ? { ...a, pointsPerSide: 4, predIouThresh: 0.05, stabilityThresh: 0.5 } : a);
  });
}, 300_000);

afterAll(async () => {
  db?.close();
  await studio?.close();
});

describe('labels made and strokes given only where there is something to change', () => {
  it('makes no first label for an empty accept or an eraser stroke with nothing selected', async () => {
    const edits = log().length;
    await studio.page.evaluate(() => (window as any).__studio.app.acceptMask());
    expect(await appExpr<string>('app.notice')).toMatch(/Nothing to accept/);
    await studio.page.keyboard.press('e');
    await stroke([100, 100], [160, 100]);
    await sleep(500);
    expect(labels()).toEqual([]);
    expect(log()).toHaveLength(edits);
    // the first polygon makes the first label, in its own undo step: one Ctrl+Z takes both back
    await drawPolygon([[10, 10], [60, 10], [60, 50], [10, 50]]);
    await waitFor(() => rows().length === 1, 'the polygon');
    expect(labels()).toEqual(['object']);
    expect(log().slice(edits)).toEqual([{ kind: 'annotation.add', undone: 0 }]);
    await studio.page.keyboard.press('Escape');
    await undo('the polygon and its label undone', () => rows().length === 0 && labels().length === 0);
    await redo('both back', () => rows().length === 1 && labels().length === 1);
    await waitFor(async () => (await appExpr<number>('app.project.labels.length')) === 1, 'the label list');
  });

  it('paints into no hidden annotation: it stays selected, H shows it again, then the brush paints into it', async () => {
    const [target] = rows();
    await studio.page.locator(`[data-annotation-id="${target!.id}"] .ann-name`).click();
    await studio.page.keyboard.press('h');
    await waitFor(() => rows()[0]!.hidden === 1, 'hidden');
    await studio.page.keyboard.press('b');
    await stroke([40, 30], [120, 30]);
    await waitFor(async () => /is hidden/.test((await appExpr<string | null>('app.notice')) ?? ''), 'the notice');
    expect(rows()).toEqual([{ ...target, hidden: 1 }]);
    expect(await appExpr<number | null>('app.annotations.selectedId')).toBe(target!.id);
    await studio.page.keyboard.press('h');
    await waitFor(() => rows()[0]!.hidden === 0, 'shown');
    await stroke([40, 30], [120, 30]);
    await waitFor(() => rows()[0]!.area > target!.area, 'the stroke painted into it');
    expect(rows()).toHaveLength(1);
    await undo('the stroke undone', () => rows()[0]!.area === target!.area);
    await studio.page.keyboard.press('Escape');
    await studio.page.keyboard.press('s');
  });
});

describe('gestures across image switches and undo', () => {
  it('leaves no polygon draft over the next image after D', async () => {
    await studio.page.keyboard.press('p');
    await clickAt([[100, 100], [150, 100], [150, 150]]);
    expect(await studio.page.locator('.canvas').getAttribute('data-tool-path')).toBe('polygon.placing');
    await studio.page.keyboard.press('d');
    await waitFor(async () => (await loadedImage()) === String(imageId('b-portrait.png')), 'b-portrait');
    const draftShapes = await studio.page.evaluate(() => (window as any).__studio.stage.getLayers()[3].getChildren().length);
    expect({ draftShapes, shown: await studio.page.locator('.canvas').getAttribute('data-tool-path') }).toEqual({ draftShapes: 0, shown: 'polygon.idle' });
  });

  it('Ctrl+Z takes back the polygon\'s last vertex, then, with none left, the last stored edit', async () => {
    await drawPolygon([[20, 20], [70, 20], [70, 60]]);
    await waitFor(() => onImage('b-portrait.png').length === 1, 'a polygon on b-portrait');
    await openImageNamed('a-landscape.png');
    await studio.page.keyboard.press('p');
    await clickAt([[100, 100], [150, 100], [150, 150], [100, 150]]);
    const vertices = () => appExpr<number>('app.tool.draft()?.points.length ?? 0');
    for (const left of [3, 2, 1]) {
      await studio.page.keyboard.press('Control+z');
      expect(await vertices()).toBe(left);
      expect(await appExpr<string>('app.tool.path')).toBe('polygon.placing');
    }
    await studio.page.keyboard.press('Control+z');
    expect(await appExpr<string>('app.tool.path')).toBe('polygon.idle');
    await sleep(300);
    expect(onImage('b-portrait.png'), 'nothing stored undone yet').toHaveLength(1);
    expect(await appExpr<number>('app.project.currentId')).toBe(imageId('a-landscape.png'));
    // the next Ctrl+Z is the project's: the polygon on b-portrait, which is shown
    await undo('the polygon on b-portrait undone', () => onImage('b-portrait.png').length === 0);
    await waitFor(async () => (await appExpr<number>('app.project.currentId')) === imageId('b-portrait.png'), 'b-portrait shown');
    await redo('redo', () => onImage('b-portrait.png').length === 1);
  });

  it('Ctrl+Z takes back the SAM points one by one (the mask asked again for those left), then leaves the tool idle', async () => {
    await openImageNamed('a-landscape.png');
    await studio.page.keyboard.press('s');
    await clickAt([[100, 80], [200, 150]]);
    await waitFor(async () => (await appExpr<number>('app.engine.points.length')) === 2 && (await appExpr<unknown>('app.engine.result')) !== null, 'two points answered');
    const stored = rows().length;
    await studio.page.keyboard.press('Control+z');
    expect(await appExpr<number[][]>('app.engine.points.map((p) => [Math.round(p.x), Math.round(p.y)])')).toEqual([[100, 80]]);
    expect(await appExpr<string>('app.tool.path')).toBe('point.refining');
    await waitFor(async () => (await appExpr<unknown>('app.engine.result')) !== null, 'the answer for the point left');
    await studio.page.keyboard.press('Control+z');
    expect(await appExpr<number>('app.engine.points.length')).toBe(0);
    expect(await appExpr<string>('app.tool.path')).toBe('point.idle');
    await sleep(300);
    expect(rows()).toHaveLength(stored);
  });

  it('an undo on an image the "To do" list hides brings the whole list back and shows that image', async () => {
    await openImageNamed('b-portrait.png');
    await drawPolygon([[20, 100], [70, 100], [70, 160]]);
    await waitFor(() => onImage('b-portrait.png').length === 2, 'a second polygon on b-portrait');
    await studio.page.keyboard.press('Control+d'); // done: status changes are no undo steps
    await waitFor(() => (db.prepare('SELECT status FROM images WHERE id = ?').get(imageId('b-portrait.png')) as { status: string }).status === 'done', 'done');
    await studio.page.locator('[data-testid=image-filter]').selectOption('todo');
    await openImageNamed('a-landscape.png');
    await undo('the polygon on b-portrait undone', () => onImage('b-portrait.png').length === 1);
    await waitFor(async () => (await loadedImage()) === String(imageId('b-portrait.png')), 'b-portrait drawn');
    expect(await appExpr<string>('app.project.filter.kind')).toBe('all');
    expect(await appExpr<string | null>('app.project.current?.path ?? null')).toBe('images/b-portrait.png');
    expect(await studio.page.locator('.canvas-message').count()).toBe(0);
  });
});

describe('the Everything tool', () => {
  it('finds the proposals of the next image after D', async () => {
    await openImageNamed('a-landscape.png');
    await studio.page.keyboard.press('g');
    await waitFor(async () => (await appExpr<number | null>('app.proposals.set?.imageId ?? null')) === imageId('a-landscape.png'), 'proposals on a-landscape', 120_000);
    await studio.page.keyboard.press('d');
    await waitFor(async () => (await appExpr<number | null>('app.proposals.set?.imageId ?? null')) === imageId('b-portrait.png'), 'proposals on b-portrait', 120_000);
    await openImageNamed('a-landscape.png');
    await waitFor(async () => (await appExpr<number | null>('app.proposals.set?.imageId ?? null')) === imageId('a-landscape.png'), 'proposals on a-landscape again', 120_000);
  });

  it('shows an accepted proposal again when the acceptance is undone, and hides it on redo', async () => {
    await studio.page.evaluate(() => { (window as any).__studio.app.proposals.minScore = 0; }); // sam-tiny scores ~0.1
    const shown = () => appExpr<number>('app.proposals.shown.length');
    const all = await shown();
    // a pixel of the first proposal shown that no smaller one covers: a click there accepts it
    const pick = await appExpr<[number, number] | null>(`(() => {
      for (const p of app.proposals.shown) {
        const m = p.mask; const w = Math.ceil(m.width / m.step);
        for (let i = 0; i < m.data.length; i++) {
          if (!m.data[i]) continue;
          const at = { x: m.x + (i % w) * m.step + 0.5, y: m.y + Math.floor(i / w) * m.step + 0.5 };
          if (app.proposals.at(at)?.index === p.index) return [at.x, at.y];
        }
      }
      return null;
    })()`);
    expect(pick, 'a proposal to click').not.toBeNull();
    const n0 = rows().length;
    await clickAt([pick!]);
    await waitFor(() => rows().length === n0 + 1, 'the proposal stored');
    await waitFor(async () => (await shown()) === all - 1, 'the accepted one hidden');
    await undo('the acceptance undone', () => rows().length === n0);
    await waitFor(async () => (await shown()) === all, 'the proposal shown again');
    await redo('the acceptance redone', () => rows().length === n0 + 1);
    await waitFor(async () => (await shown()) === all - 1, 'hidden again');
    await studio.page.keyboard.press('s');
  });
});

describe('labels renamed and deleted in the window', () => {
  const row = (name: string) => studio.page.locator('[data-testid=labels] li', { has: studio.page.locator('.label-name', { hasText: name }) });

  it('renames a label (double-click or ✎), one undo step; a name taken is refused and kept to correct', async () => {
    const [object] = studio.session.need().listLabels();
    await studio.page.locator(`.label-name[data-label-id="${object!.id}"]`).dblclick();
    await studio.page.locator('[data-testid=rename-label]').fill('thing');
    await studio.page.locator('[data-testid=rename-label]').press('Enter');
    await waitFor(() => labels()[0] === 'thing', 'the rename');
    await waitFor(async () => (await studio.page.locator('[data-testid=rename-label]').count()) === 0, 'the field closed');
    expect(await studio.page.locator(`.label-name[data-label-id="${object!.id}"]`).textContent()).toBe('thing');
    await undo('the rename undone', () => labels()[0] === 'object');
    await waitFor(async () => (await studio.page.locator(`.label-name[data-label-id="${object!.id}"]`).textContent()) === 'object', 'the old name shown');
    await redo('the rename redone', () => labels()[0] === 'thing');
    // a second label, then the first renamed to its name
    const field = studio.page.locator('[data-testid=new-label]');
    await field.fill('tree');
    await field.press('Enter');
    await waitFor(() => labels().includes('tree'), 'the new label');
    await row('thing').locator('[data-testid=rename-label-button]').click();
    await studio.page.locator('[data-testid=rename-label]').fill('tree');
    await studio.page.locator('[data-testid=rename-label]').press('Enter');
    await waitFor(async () => (await studio.page.locator('[data-testid=notice]').allTextContents()).join(' ').includes('already exists'), 'the notice');
    expect(await studio.page.locator('[data-testid=rename-label]').inputValue()).toBe('tree');
    await studio.page.locator('[data-testid=rename-label]').press('Escape');
    expect(await studio.page.locator('[data-testid=rename-label]').count()).toBe(0);
    expect(labels()).toEqual(['thing', 'tree']);
    await studio.page.locator('[data-testid=notice] button').click();
  });

  it('deletes an unused label at once, and a used one with its annotations when the user says so, each one undo step', async () => {
    await row('tree').locator('[data-testid=delete-label]').click();
    await waitFor(() => !labels().includes('tree'), 'tree deleted');
    await undo('tree back', () => labels().includes('tree'));
    await waitFor(async () => (await row('tree').count()) === 1, 'tree listed');
    const used = rows().length;
    expect(used).toBeGreaterThan(1);
    await row('thing').locator('[data-testid=delete-label]').click();
    const confirm = studio.page.locator('[data-testid=confirm-delete-label]');
    await confirm.waitFor();
    expect(await confirm.textContent()).toMatch(/used on 2 images/);
    await confirm.locator('button', { hasText: 'Cancel' }).click();
    expect(labels()).toEqual(['thing', 'tree']);
    await row('thing').locator('[data-testid=delete-label]').click();
    await studio.page.locator('[data-testid=delete-label-annotations]').click();
    await waitFor(() => labels().length === 1 && rows().length === 0, 'the label and its annotations deleted');
    await waitFor(async () => (await studio.page.locator('[data-annotation-id]').count()) === 0, 'the list emptied');
    await waitFor(async () => (await appExpr<number>('app.project.images.reduce((n, i) => n + i.annotationCount, 0)')) === 0, 'no count in the image list');
    await undo('both back in one step', () => labels().length === 2 && rows().length === used);
    await waitFor(async () => (await studio.page.locator('[data-annotation-id]').count()) > 0, 'the list filled again');
    await waitFor(async () => (await appExpr<number>('app.project.images.reduce((n, i) => n + i.annotationCount, 0)')) === used, 'the counts in the image list');
    // merging: the used label's annotations move to the other one, one undo step
    const tree = studio.session.need().listLabels().find((l) => l.name === 'tree')!.id;
    await row('thing').locator('[data-testid=delete-label]').click();
    await studio.page.locator('[data-testid=move-label-target]').selectOption(String(tree));
    await studio.page.locator('[data-testid=move-label-annotations]').click();
    await waitFor(() => labels().length === 1 && rows().length === used && rows().every((r) => r.labelId === tree), 'moved to tree, thing deleted');
    await waitFor(async () => (await appExpr<number>('app.project.labels.length')) === 1, 'the panel');
    await undo('thing back with its annotations', () => labels().length === 2 && rows().every((r) => r.labelId !== tree));
    expect(pageErrors).toEqual([]);
  });
});
