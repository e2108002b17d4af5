/**
 * A click's answer with the best candidate's view alone (`candidates: 'best'`), and the other
 * candidates' views made afterwards from the kept logits (`samCandidateViews`): through the real
 * handlers and engine, with SAM and SAM 2.1 models, on a photo and on a 6000x4500 image whose
 * views are thinned, they are the views a whole answer carries, byte for byte.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandlers, type Handlers } from '../../main/api/handlers.ts';
import { createEngine, type Engine } from '../../main/sam/engine.ts';
import type { MaskView } from '../../preload/contract/index.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/sam-tiny');
const SAM2 = join(import.meta.dirname, '../fixtures/sam2.1-tiny-random');

let dir: string;
let engine: Engine;
let handlers: Handlers;
const images: { id: number; width: number; height: number }[] = [];
const models: { name: string; id: string }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'candidate-views-'));
  mkdirSync(join(dir, 'resources', 'samples'), { recursive: true });
  engine = await createEngine({ threads: 1 });
  copyFileSync(join(FIXTURES, 'landscape.png'), join(dir, 'landscape.png'));
  const large = `<svg xmlns="http://www.w3.org/2000/svg" width="6000" height="4500"><rect width="6000" height="4500" fill="#708090"/><rect x="900" y="700" width="2600" height="2000" fill="#e0c040"/><circle cx="4300" cy="3000" r="1100" fill="#40a0e0"/></svg>`;
  await sharp(Buffer.from(large)).png({ compressionLevel: 1 }).toFile(join(dir, 'large.png'));
  const chosen = [
    [join(FIXTURES, 'sam_tiny.pth')], [join(FIXTURES, 'config.json')], [join(SAM2, 'sam2.1_tiny_random.pt')], [join(SAM2, 'config.json')],
    [join(dir, 'landscape.png'), join(dir, 'large.png')],
  ];
  ({ handlers } = createHandlers({
    appDataDir: join(dir, 'appdata'), resourcesDir: join(dir, 'resources'), engine, executionProvider: 'cpu',
    emit: () => undefined, imageUrlBase: () => 'test://',
    // the handlers take only paths the user chose in a dialog: these answer as a user would
    dialogs: { openFiles: async () => chosen.shift() ?? [], openFolder: async () => null, saveFile: async () => join(dir, 'p.ptq4sam') },
  }));
  const pick = async () => (await handlers.dialogOpenFiles({ title: 'file', filters: [], multiple: true }));
  for (const name of ['sam-tiny', 'sam2.1-tiny-random']) {
    models.push({ name, id: (await handlers.modelImportCheckpoint({ checkpointPath: (await pick())[0]!, configPath: (await pick())[0]! })).id });
  }
  await handlers.projectCreate({ path: (await handlers.dialogSaveFile({ title: 'project', filters: [], defaultName: 'p.ptq4sam' }))! });
  for (const id of (await handlers.imagesAdd({ paths: await pick() })).added) {
    const { width, height } = await handlers.imageGet({ imageId: id });
    images.push({ id, width: width!, height: height! });
  }
}, 120_000);

afterAll(async () => {
  await engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** the same view: box, step and every sample */
function expectSameView(got: MaskView | null | undefined, want: MaskView | null | undefined, what: string): void {
  expect(got, what).toBeTruthy();
  const { data: gotData, ...gotBox } = got!;
  const { data: wantData, ...wantBox } = want!;
  expect(gotBox, what).toEqual(wantBox);
  expect(Buffer.from(gotData).equals(Buffer.from(wantData)), `${what}: samples`).toBe(true);
}

describe('candidate views after the click', () => {
  it.each(['sam-tiny', 'sam2.1-tiny-random'])('answers a click with the best view alone, then gives every view as a whole answer has them (%s)', async (name) => {
    expect(images).toHaveLength(2);
    await handlers.modelSetActive({ modelId: models.find((m) => m.name === name)!.id });
    let thinned = 0;
    for (const { id: imageId, width, height } of images) {
      for (const [fx, fy] of [[0.4, 0.45], [0.7, 0.65]] as const) {
        const prompt = { points: [{ x: Math.round(width * fx), y: Math.round(height * fy), label: 1 as const }] };
        const best = await handlers.samPredict({ imageId, prompt, candidates: 'best' });
        const whole = await handlers.samPredict({ imageId, prompt });
        const what = `image ${imageId} at (${prompt.points[0]!.x}, ${prompt.points[0]!.y})`;
        expect(best.iouPredictions).toEqual(whole.iouPredictions);
        expect(best.best).toBe(whole.best);
        // only the best view came; the others are named as not sent
        expect(best.masks.map((m) => m === null)).toEqual(whole.masks.map((_, i) => i !== whole.best));
        expectSameView(best.masks[best.best], whole.masks[whole.best], `${what}, best`);
        const views = await handlers.samCandidateViews({ imageId, resultId: best.resultId });
        expect(views).toHaveLength(whole.masks.length);
        views.forEach((v, i) => expectSameView(v, whole.masks[i], `${what}, candidate ${i}`));
        thinned += views.filter((v) => v.step > 1).length;
        // asked again: the views made the first time
        expect(await handlers.samCandidateViews({ imageId, resultId: best.resultId })).toEqual(views);
        // a whole answer's views are all there already
        expect(await handlers.samCandidateViews({ imageId, resultId: whole.resultId })).toEqual(whole.masks);
      }
    }
    // the large image's views are thinned (more than MASK_VIEW_MAX_PIXELS in their box)
    expect(thinned).toBeGreaterThan(0);
  }, 120_000);

  it('refuses an answer it does not keep and a candidates value it does not know', async () => {
    const imageId = images[0]!.id;
    await handlers.modelSetActive({ modelId: models[0]!.id });
    await expect(handlers.samCandidateViews({ imageId, resultId: 9999 })).rejects.toThrow(`answer 9999 for image ${imageId} is no longer kept; click again`);
    const { resultId } = await handlers.samPredict({ imageId, prompt: { points: [{ x: 10, y: 10, label: 1 }] }, candidates: 'best' });
    await expect(handlers.samCandidateViews({ imageId: images[1]!.id, resultId })).rejects.toThrow(`answer ${resultId} for image ${images[1]!.id} is no longer kept`);
    await expect(handlers.samPredict({ imageId, prompt: { points: [{ x: 10, y: 10, label: 1 }] }, candidates: 'some' as never }))
      .rejects.toThrow('samPredict.candidates: "some" is not one of all, best');
  });
});
