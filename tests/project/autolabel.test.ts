/**
 * `project autolabel` as users run it (a child process): boxes become the masks `segment` gives
 * for them, one undo step per image; a run killed half-way is resumed without duplicates;
 * segment everything labels an image once, and a stop ends its run at once.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importers } from '../../main/formats/index.ts';
import { rleFromMask } from '../../main/masks/index.ts';
import { createProject, importDataset, openProject } from '../../main/project/index.ts';
import { createEngine } from '../../main/sam/engine.ts';
import { autolabelProject } from '../../main/services/autolabel.ts';
import { runCli } from '../helpers/cli.ts';
import { REPO, SAM_TINY, samTinyModelDir } from '../helpers/sam-tiny.ts';
import { tempDir } from './helpers.ts';

const env = { PTQ4SAM_THREADS: '1' };
let dir: string;
let cleanup: () => void;
let model: string;
let cleanupModel: () => void;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('autolabel-'));
  ({ dir: model, cleanup: cleanupModel } = await samTinyModelDir());
}, 120_000);
afterAll(() => {
  cleanup();
  cleanupModel();
});

const BOXES: [number, number, number, number][] = [[40, 30, 180, 170], [150, 20, 150, 100], [10, 100, 50, 130]];

/** A project of `count` variants of the landscape fixture (plus the portrait one), each with BOXES as box-only "car" annotations. */
async function boxProject(name: string, count: number): Promise<string> {
  const db = join(dir, name, 'p.db');
  const p = createProject(db);
  const files = Array.from({ length: count }, (_, i) => join(dir, name, `land${i}.png`));
  // each copy a little brighter: a different file, so each is encoded (a kill lands mid-run)
  for (const [i, f] of files.entries()) await sharp(join(SAM_TINY, 'landscape.png')).modulate({ brightness: 1 + i * 0.05 }).png().toFile(f);
  copyFileSync(join(SAM_TINY, 'portrait.png'), join(dir, name, 'portrait.png'));
  await p.addImages([...files, join(dir, name, 'portrait.png')]);
  const images = [...files.map((f, i) => ({ id: i + 1, file_name: f, width: 320, height: 240 })), { id: count + 1, file_name: join(dir, name, 'portrait.png'), width: 180, height: 300 }];
  const annotations = [
    ...files.flatMap((_, i) => BOXES.map((bbox, j) => ({ id: i * 10 + j + 1, image_id: i + 1, category_id: 1, bbox }))),
    { id: 1000, image_id: count + 1, category_id: 1, bbox: [10, 20, 160, 260] },
  ];
  const coco = join(dir, name, 'boxes.json');
  writeFileSync(coco, JSON.stringify({ images, categories: [{ id: 1, name: 'car' }], annotations }));
  await importDataset(p, 'coco', importers.coco, coco);
  p.close();
  return db;
}

function editKinds(db: string): string[] {
  const raw = new Database(db, { readonly: true });
  const kinds = raw.prepare("SELECT kind FROM edit_log WHERE kind LIKE 'autolabel.%' ORDER BY id").all().map((r: any) => r.kind as string);
  raw.close();
  return kinds;
}

describe('project autolabel', () => {
  it('--mode boxes replaces every box by the mask segment gives for it, one undo step per image', async () => {
    const db = await boxProject('full', 1);
    const r = runCli(['project', 'autolabel', db, '--model', model, '--mode', 'boxes'], { env });
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(Object.keys(summary)).toEqual(['images', 'created', 'skipped', 'seconds']);
    // a box whose mask comes out empty (random weights) stays a box and counts as skipped
    expect(summary).toMatchObject({ images: 2 });
    expect(summary.created + summary.skipped).toBe(4);
    expect(summary.created).toBeGreaterThan(1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/autolabel: 1\/2 images, \d+ masks, [\d.]+ masks\/s, .* left/);
    // the last line: nothing left to estimate
    expect(r.stderr).toMatch(new RegExp(`autolabel: 2/2 images, ${summary.created} masks, [\\d.]+ masks/s\n`));
    expect(editKinds(db)).toEqual(['autolabel.boxes', 'autolabel.boxes']);

    const p = openProject(db);
    expect(p.stats()).toMatchObject({ annotations: 4, boxOnlyAnnotations: summary.skipped });
    const engine = await createEngine({ threads: 1 });
    try {
      const loaded = await engine.loadModel(model);
      for (const image of p.listImages().items) {
        const file = p.resolveImagePath(image)!;
        for (const a of p.listAnnotations(image.id)) {
          const [x, y, w, h] = a.bbox;
          const box = a.rle === null ? [x, y, x + w, y + h] as [number, number, number, number] : a.prompts!.box!;
          const alone = await engine.segment(loaded, file, { points: [], box });
          if (a.rle === null) {
            expect(alone.masks[alone.best]!.includes(1)).toBe(false);
            continue;
          }
          expect(a.rle).toEqual(rleFromMask({ width: alone.width, height: alone.height, data: alone.masks[alone.best]! }));
          expect(a.score).toBe(alone.iouPredictions[alone.best]);
          expect(a.modelId).toBe(loaded.info.id);
        }
      }
      // the portrait's box, as the prompt it was
      expect(p.listAnnotations(2)[0]!.prompts).toEqual({ points: [], box: [10, 20, 170, 280] });
    } finally {
      await engine.dispose();
    }
    // one undo takes the last image back to its boxes
    p.undo();
    expect(p.listBoxAnnotations(2)).toHaveLength(1);
    p.close();
  }, 300_000);

  it('a run killed half-way resumes where it stopped and never writes a mask twice', async () => {
    const db = await boxProject('killed', 4);
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'main/cli/index.ts'), 'project', 'autolabel', db, '--model', model, '--mode', 'boxes'], {
      cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/autolabel: 1\/5 images/.test(stderr)) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    const after = openProject(db);
    const half = after.stats();
    after.close();
    expect(half.annotations).toBe(13);
    expect(half.boxOnlyAnnotations).toBeLessThan(13);
    expect(half.boxOnlyAnnotations).toBeGreaterThan(0);

    const r = runCli(['project', 'autolabel', db, '--model', model, '--mode', 'boxes'], { env });
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    // boxes whose mask is empty stay boxes (skipped), on every run
    expect(summary.created + summary.skipped).toBe(half.boxOnlyAnnotations);
    const p = openProject(db);
    expect(p.stats()).toMatchObject({ annotations: 13, boxOnlyAnnotations: summary.skipped });
    // every box became at most one mask, still on its own annotation, and every image is one undo step
    const masks = p.listImages().items.flatMap((i) => p.listAnnotations(i.id).filter((a) => a.rle !== null));
    expect(masks.map((a) => a.bbox).length).toBe(13 - summary.skipped);
    expect(new Set(masks.map((a) => `${a.imageId}:${a.prompts!.box!.join(',')}`)).size).toBe(masks.length);
    expect(editKinds(db)).toEqual(Array(5).fill('autolabel.boxes'));
    p.close();
  }, 300_000);

  it('Ctrl-C finishes the image in progress, prints the summary of what was done and exits cleanly', async () => {
    const db = await boxProject('cancelled', 4);
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'main/cli/index.ts'), 'project', 'autolabel', db, '--model', model, '--mode', 'boxes'], {
      cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    const code = await new Promise<number | null>((resolve, reject) => {
      let stderr = '';
      let sent = false;
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (!sent && /autolabel: 1\/5 images/.test(stderr)) { sent = true; child.kill('SIGINT'); }
      });
      child.on('exit', (c) => resolve(c));
      child.on('error', reject);
    });
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary.images).toBeGreaterThanOrEqual(1);
    expect(summary.images).toBeLessThan(5);
    const p = openProject(db);
    expect(p.stats().boxOnlyAnnotations).toBe(13 - summary.created);
    p.close();
  }, 300_000);

  it('--mode everything labels each image once with the given label', async () => {
    const db = await boxProject('everything', 1);
    runCli(['project', 'labels', db, 'add', 'thing']);
    const args = ['project', 'autolabel', db, '--model', model, '--mode', 'everything', '--label', 'thing', '--images', join(dir, 'everything', 'land0.png'),
      '--points-per-side', '2', '--pred-iou-thresh', '0.05', '--stability-thresh', '0.5'];
    const first = runCli(args, { env });
    expect(first.code).toBe(0);
    // the image's grid progress on stderr, from its start
    expect(first.stderr).toMatch(/^autolabel: 0\/1 images, 0 masks, 0\.0 masks\/s, image 1: 0\/4 grid points$/m);
    const summary = JSON.parse(first.stdout);
    expect(summary).toMatchObject({ images: 1, skipped: 0 });
    expect(summary.created).toBeGreaterThan(0);
    const again = JSON.parse(runCli(args, { env }).stdout);
    expect(again).toMatchObject({ images: 0, created: 0, skipped: 1 });
    const p = openProject(db);
    const thing = p.findLabelByName('thing')!;
    expect(p.listAnnotations(1).filter((a) => a.labelId === thing.id)).toHaveLength(summary.created);
    p.close();
  }, 300_000);

  it('leaves out an image it cannot use (pixels that do not decode, too thin for SAM), says why, goes on, and stores no empty mask', async () => {
    const db = await boxProject('unusable', 1);
    const folder = join(dir, 'unusable');
    const jpeg = await sharp(join(SAM_TINY, 'landscape.png')).jpeg().toBuffer();
    writeFileSync(join(folder, 'cut.jpg'), jpeg.subarray(0, jpeg.length >> 1));
    await sharp({ create: { width: 3000, height: 1, channels: 3, background: '#808080' } }).png().toFile(join(folder, 'thin.png'));
    const p = openProject(db);
    await p.addImages([join(folder, 'cut.jpg'), join(folder, 'thin.png')]);
    p.close();
    runCli(['project', 'labels', db, 'add', 'thing']);
    const r = runCli(['project', 'autolabel', db, '--model', model, '--mode', 'everything', '--label', 'thing',
      '--points-per-side', '2', '--pred-iou-thresh', '0', '--stability-thresh', '0'], { env });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    // the landscape copy and the portrait are labelled; the cut JPEG and the 3000x1 image are left out
    expect(summary.images).toBe(2);
    expect(summary.skipped).toBeGreaterThanOrEqual(2);
    expect(r.stderr).toMatch(/autolabel: skipped .*cut\.jpg: .*cut\.jpg: cannot decode image/);
    expect(r.stderr).toMatch(/autolabel: skipped .*thin\.png: .*a 3000x1 image is too thin for SAM/);
    const q = openProject(db);
    const thing = q.findLabelByName('thing')!;
    const made = [1, 2].flatMap((id) => q.listAnnotations(id).filter((a) => a.labelId === thing.id));
    expect(made.length).toBe(summary.created);
    expect(made.every((a) => a.area > 0)).toBe(true);
    q.close();
  }, 300_000);

  it('a stop in everything mode ends the image\'s run at once, writes nothing of it, and the next run does the image', async () => {
    const db = await boxProject('everything-stop', 1);
    const engine = await createEngine({ threads: 1 });
    const p = openProject(db);
    try {
      const thing = p.addLabel({ name: 'thing' });
      const loaded = await engine.loadModel(model);
      const stop = new AbortController();
      // 1024 grid points take seconds on any CPU: the stop lands inside the image's run
      const timer = setTimeout(() => stop.abort(), 1000);
      const stopped = await autolabelProject(p, engine, loaded, {
        mode: 'everything', labelId: thing.id, imageIds: [1], signal: stop.signal,
        everything: { pointsPerSide: 32, predIouThresh: 0.05, stabilityScoreThresh: 0.5 },
      });
      clearTimeout(timer);
      expect(stopped).toMatchObject({ images: 0, created: 0 });
      expect(p.listAnnotations(1).filter((a) => a.labelId === thing.id)).toEqual([]);
      expect(p.imagesEditedBy('autolabel.everything')).toEqual([]);
      const next = await autolabelProject(p, engine, loaded, {
        mode: 'everything', labelId: thing.id, imageIds: [1], everything: { pointsPerSide: 2, predIouThresh: 0.05, stabilityScoreThresh: 0.5 },
      });
      expect(next).toMatchObject({ images: 1 });
      expect(next.created).toBeGreaterThan(0);
    } finally {
      p.close();
      await engine.dispose();
    }
  }, 300_000);

  it('refuses unclear requests with one error line, changing nothing', async () => {
    const db = await boxProject('errors', 1);
    for (const [args, message] of [
      [['--mode', 'everything'], 'project autolabel --mode everything needs --label <name> (the label of the new masks)'],
      [['--mode', 'all'], 'project autolabel: --mode must be boxes or everything, got "all"'],
      [['--mode', 'boxes', '--points-per-side', '8'], 'project autolabel: --points-per-side, --pred-iou-thresh, --stability-thresh and --min-area apply to --mode everything only'],
      [['--mode', 'everything', '--label', 'car', '--pred-iou-thresh', '2'], '--pred-iou-thresh must be a number in [0, 1], got "2"'],
      [['--mode', 'boxes', '--label', 'bus'], /label "bus" does not exist in project/],
      [['--mode', 'boxes', '--images', 'nowhere.png'], /image nowhere\.png is not in project/],
    ] as const) {
      const r = runCli(['project', 'autolabel', db, '--model', model, ...args], { env });
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(typeof message === 'string' ? new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : message);
    }
    const p = openProject(db);
    expect(p.stats()).toMatchObject({ annotations: 4, boxOnlyAnnotations: 4 });
    p.close();
  }, 300_000);
});
