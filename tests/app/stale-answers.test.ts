/**
 * What a window could drive the API into, through the real handlers and engine: a click still
 * decoding when another project opens or the model changes is refused, never kept under an image
 * id of the next project; an image whose file was briefly unreadable is usable again once the
 * file is back; a proposal named twice is stored once; an export into a file says so.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandlers, type Handlers } from '../../main/api/handlers.ts';
import { createEngine, type Engine } from '../../main/sam/engine.ts';
import type { ApiEvent } from '../../preload/contract/index.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/sam-tiny');

let dir: string;
let engine: Engine;
let handlers: Handlers;
let session: ReturnType<typeof createHandlers>['session'];
const events: ApiEvent[] = [];
/** what the dialogs answer next, in order, as a user picking files would */
const chosen: string[][] = [];
let modelId: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stale-answers-'));
  mkdirSync(join(dir, 'resources', 'samples'), { recursive: true });
  engine = await createEngine({ threads: 1 });
  ({ handlers, session } = createHandlers({
    appDataDir: join(dir, 'appdata'), resourcesDir: join(dir, 'resources'), engine, executionProvider: 'cpu',
    emit: (e) => events.push(e), imageUrlBase: () => 'test://',
    dialogs: { openFiles: async () => chosen.shift() ?? [], openFolder: async () => chosen.shift()?.[0] ?? null, saveFile: async () => chosen.shift()?.[0] ?? null },
  }));
  chosen.push([join(FIXTURES, 'sam_tiny.pth')], [join(FIXTURES, 'config.json')]);
  const pick = async () => (await handlers.dialogOpenFiles({ title: 'file', filters: [], multiple: false }))[0]!;
  modelId = (await handlers.modelImportCheckpoint({ checkpointPath: await pick(), configPath: await pick() })).id;
  await handlers.modelSetActive({ modelId });
}, 120_000);

afterAll(async () => {
  await engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** A new project holding a copy of the landscape fixture; returns the image's id and file. */
async function newProject(name: string, fresh: 'flop' | 'flip' | null = null): Promise<{ imageId: number; file: string }> {
  mkdirSync(join(dir, name));
  const file = join(dir, name, 'landscape.png');
  // fresh: pixels no embedding was made of yet (each mirror once), so the engine has to read the file
  if (fresh) await sharp(join(FIXTURES, 'landscape.png'))[fresh]().png().toFile(file);
  else copyFileSync(join(FIXTURES, 'landscape.png'), file);
  chosen.push([join(dir, name, 'p.ptq4sam')]);
  await handlers.projectCreate({ path: (await handlers.dialogSaveFile({ title: 'project', filters: [], defaultName: 'p.ptq4sam' }))! });
  chosen.push([file]);
  const [picked] = await handlers.dialogOpenFiles({ title: 'images', filters: [], multiple: false });
  const [imageId] = (await handlers.imagesAdd({ paths: [picked!] })).added as [number];
  return { imageId, file };
}

const click = { points: [{ x: 150, y: 110, label: 1 as const }] };

async function waitForEvent(match: (e: ApiEvent) => boolean): Promise<void> {
  const end = Date.now() + 30_000;
  while (!events.some(match)) {
    if (Date.now() > end) throw new Error('timed out waiting for an event');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('answers that outlive their project or model', () => {
  it('refuses a click that was decoding when another project opened, and keeps nothing of it', async () => {
    const a = await newProject('a');
    await handlers.samEncode({ imageId: a.imageId });
    // the refusal is caught as it comes: the next project opens meanwhile
    const refusal = handlers.samPredict({ imageId: a.imageId, prompt: click }).then(() => 'answered', (err: Error) => err.message);
    const b = await newProject('b');
    // the same image id now names the other project's image
    expect(b.imageId).toBe(a.imageId);
    expect(await refusal).toBe('the model or the project changed while this click was decoding; click again');
    const labelId = (await handlers.labelCreate({ name: 'thing' })).id;
    // the ids the stale answer would have had are not kept
    for (const resultId of [1, 2, 3]) {
      await expect(handlers.annotationAddPrediction({ imageId: b.imageId, labelId, resultId, candidate: 0 })).rejects.toThrow(/no longer kept/);
    }
    expect(await handlers.annotationsList({ imageId: b.imageId })).toEqual([]);
    // a click of this project's own is answered and kept
    const fresh = await handlers.samPredict({ imageId: b.imageId, prompt: click });
    expect(fresh.masks.length).toBeGreaterThan(0);
    await handlers.annotationAddPrediction({ imageId: b.imageId, labelId, resultId: fresh.resultId, candidate: fresh.best });
  }, 120_000);

  it('says nothing of a background encode of the last project: its image id names another image now', async () => {
    await newProject('prefetch-b');
    const a = await newProject('prefetch-a');
    // two more images of pixels no embedding was made of, for the background queue
    const more = await Promise.all(['flip', 'flop'].map(async (how) => {
      const file = join(dir, 'prefetch-a', `${how}.png`);
      await sharp(join(FIXTURES, 'landscape.png'))[how as 'flip' | 'flop']().modulate({ brightness: 1.1 }).png().toFile(file);
      return file;
    }));
    chosen.push(more);
    const added = (await handlers.imagesAdd({ paths: await handlers.dialogOpenFiles({ title: 'images', filters: [], multiple: true }) })).added;
    await handlers.samEncode({ imageId: a.imageId });
    events.length = 0;
    await handlers.samPrefetch({ imageIds: added });
    await waitForEvent((e) => e.type === 'encode-progress' && !e.done);
    // the other project opens while the first image of the queue is encoding
    chosen.push([join(dir, 'prefetch-b', 'p.ptq4sam')]);
    const [other] = await handlers.dialogOpenFiles({ title: 'project', filters: [], multiple: false });
    await handlers.projectOpen({ path: other! });
    const switched = events.length;
    expect(events.filter((e) => e.type === 'encode-progress' && e.done)).toEqual([]);
    // the encode under way ends in the engine; the window hears nothing of it
    await new Promise((r) => setTimeout(r, 2500));
    expect(events.slice(switched).filter((e) => e.type === 'encode-progress')).toEqual([]);
  }, 120_000);

  it('refuses a click that was decoding when the model changed, in words, and answers a stale hover with nothing', async () => {
    const { imageId } = await newProject('c');
    await handlers.samEncode({ imageId });
    const refusal = handlers.samPredict({ imageId, prompt: click }).then(() => 'answered', (err: Error) => err.message);
    const hover = handlers.samPredict({ imageId, prompt: click, preview: true });
    await handlers.modelSetActive({ modelId });
    expect(await refusal).toBe('the model or the project changed while this click was decoding; click again');
    expect((await hover).masks).toEqual([]);
    expect((await handlers.samPredict({ imageId, prompt: click })).masks.length).toBeGreaterThan(0);
  }, 120_000);
});

describe('an image file that was unreadable for a moment', () => {
  it('is usable again once the file is back as it was added', async () => {
    const { imageId, file } = await newProject('d', 'flop');
    const original = readFileSync(file);
    writeFileSync(file, Buffer.from('not an image at all'));
    await expect(handlers.samEncode({ imageId })).rejects.toThrow(/cannot decode image/);
    expect((await handlers.imageGet({ imageId })).error).toMatch(/cannot decode image/);
    // still the other bytes: still refused
    await expect(handlers.samEncode({ imageId })).rejects.toThrow(/cannot be used/);
    writeFileSync(file, original);
    const embedded = await handlers.samEncode({ imageId });
    expect(embedded.width).toBe(320);
    expect((await handlers.imageGet({ imageId })).error).toBeNull();
  }, 120_000);
});

describe('an image file replaced by another picture', () => {
  it('is refused as changed on disk, not answered at the new picture\'s size', async () => {
    const { imageId, file } = await newProject('g', 'flip');
    await sharp({ create: { width: 384, height: 303, channels: 3, background: '#336699' } }).png().toFile(file);
    await expect(handlers.samPredict({ imageId, prompt: click })).rejects.toThrow(`${file}: the file changed on disk since it was added (its contents differ); add it again to label it`);
    // not a decoding failure: no error badge, the original file may come back
    expect((await handlers.imageGet({ imageId })).error).toBeNull();
  }, 120_000);
});

describe('accepting proposals and exporting', () => {
  it('stores a proposal named several times once', async () => {
    const { imageId } = await newProject('e');
    const labelId = (await handlers.labelCreate({ name: 'thing' })).id;
    const set = await handlers.samEverything({ imageId, pointsPerSide: 3, predIouThresh: 0.05, stabilityThresh: 0.5 });
    expect(set.proposals.length).toBeGreaterThan(0);
    const stored = await handlers.annotationsAcceptProposals({ imageId, labelId, proposalsId: set.proposalsId, indices: [0, 0, 0] });
    expect(stored).toHaveLength(1);
    expect(await handlers.annotationsList({ imageId })).toHaveLength(1);
  }, 120_000);

  it('cancels an export leaving its folder as it was, and a retry writes it whole', async () => {
    const { file } = await newProject('cancel');
    // three more images: the cancel lands between two of them
    const more = ['b', 'c', 'd'].map((n) => join(dir, 'cancel', `${n}.png`));
    for (const m of more) copyFileSync(file, m);
    chosen.push(more);
    await handlers.imagesAdd({ paths: await handlers.dialogOpenFiles({ title: 'images', filters: [], multiple: true }) });
    const outDir = join(dir, 'cancel', 'export');
    mkdirSync(outDir);
    chosen.push([outDir], [outDir]);
    const picked = (await handlers.dialogOpenFolder({ title: 'export' }))!;
    const running = handlers.exportRun({ format: 'labelme', outDir: picked });
    await handlers.exportCancel(undefined);
    await expect(running).rejects.toThrow(`export to ${outDir} cancelled; nothing was written`);
    expect(readdirSync(outDir)).toEqual([]);
    expect(readdirSync(join(dir, 'cancel')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const again = await handlers.exportRun({ format: 'labelme', outDir: (await handlers.dialogOpenFolder({ title: 'export' }))! });
    expect(again.images).toBe(4);
    expect(readdirSync(outDir).sort()).toEqual(['b.json', 'c.json', 'd.json', 'landscape.json']);
  });

  it('leaves a box-only annotation as it is under the eraser (it has no pixels to erase)', async () => {
    const { imageId } = await newProject('eraser');
    const label = await handlers.labelCreate({ name: 'thing', color: '#ff0000' });
    const project = session.need();
    const boxId = project.addAnnotation({ imageId, labelId: label.id, rle: null, bbox: [10, 10, 60, 40] });
    const steps = await handlers.historyState(undefined);
    const erased = await handlers.annotationBrush({ imageId, annotationId: boxId, labelId: label.id, points: [[30, 30], [40, 30]], radiusPx: 20, value: 0 });
    expect(erased).toMatchObject({ id: boxId });
    expect(project.getAnnotation(boxId)).toMatchObject({ rle: null, bbox: [10, 10, 60, 40] });
    expect(await handlers.historyState(undefined)).toEqual(steps);
  });

  it('says that an export folder is a file', async () => {
    await newProject('f');
    const blocker = join(dir, 'f', 'blocker');
    writeFileSync(blocker, 'a file');
    for (const [outDir, message] of [[blocker, `export: ${blocker} is a file; choose an empty folder`], [join(blocker, 'below'), `export: cannot make the folder ${join(blocker, 'below')}: ${blocker} is a file, not a folder`]]) {
      chosen.push([outDir!]);
      const picked = await handlers.dialogOpenFolder({ title: 'export' });
      await expect(handlers.exportRun({ format: 'coco', outDir: picked! })).rejects.toThrow(message);
    }
  });
});
