/**
 * `eval`'s fields beyond mask agreement, on the trained sam-shapes model: results per prompt
 * kind, held_out against the calibration images a model's report.json records, and scores
 * against ground truth (COCO masks written by our exporter from the fixture's gt/).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileSha256 } from '../../main/base/index.ts';
import { readGroundTruth } from '../../main/cli/eval.ts';
import { calibrationOverlap, evaluate, evaluationPrompts, gtPrompts, promptKind, type EvalResult } from '../../main/ptq4sam/eval.ts';
import { importCheckpoint } from '../../main/sam/model-dir.ts';
import { runCli } from '../helpers/cli.ts';
import { imageFolder, SAM_SHAPES, shapesObjects, writeGroundTruthCoco } from '../helpers/sam-shapes.ts';
import { readMaskPng, SAM_SHAPES_FIXTURE } from '../helpers/sam-tiny.ts';

let work: string;
let fp32: string;
let images: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'eval-test-'));
  fp32 = join(work, 'fp32');
  mkdirSync(fp32);
  await importCheckpoint(SAM_SHAPES_FIXTURE.pth, fp32, { configPath: SAM_SHAPES_FIXTURE.config });
  images = imageFolder(join(work, 'images'), ['landscape.png', 'portrait.png']);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the default prompt set', () => {
  it('has single clicks, 2 and 3 clicks with a negative, and boxes', () => {
    const prompts = evaluationPrompts(320, 240);
    const points = prompts.filter((p) => promptKind(p) === 'points');
    expect(points.map((p) => p.points!.length).sort()).toEqual([1, 1, 2, 3]);
    expect(points.filter((p) => p.labels!.includes(0))).toHaveLength(2);
    expect(prompts.filter((p) => promptKind(p) === 'boxes').length).toBeGreaterThanOrEqual(2);
    for (const p of prompts) for (const [x, y] of [...(p.points ?? []), ...(p.box ? [[p.box[0], p.box[1]], [p.box[2], p.box[3]]] : [])]) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(320);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(240);
    }
  });
});

describe('the ground-truth prompts', () => {
  it('are each object\'s box and most interior pixel, as the fixture\'s objects.json has them', async () => {
    for (const image of shapesObjects()) {
      for (const o of image.objects) {
        const p = gtPrompts(await readMaskPng(join(SAM_SHAPES, o.mask)))!;
        expect(p.boxes.box, o.mask).toEqual(o.box);
        expect(p.clicks).toEqual({ points: [o.click], labels: [1] });
      }
    }
  });
});

describe('eval of a model against itself, with ground truth', () => {
  let result: EvalResult;

  beforeAll(async () => {
    const gt = await writeGroundTruthCoco(join(work, 'gt'), ['landscape.png', 'portrait.png', 'large.png']);
    const out = join(work, 'self.json');
    const r = runCli(['eval', '--model', fp32, '--reference', fp32, '--images', images, '--gt', gt, '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    result = JSON.parse(readFileSync(out, 'utf8'));
    expect(JSON.parse(r.stdout)).toEqual(result);
  });

  it('gives IoU 1 for every prompt of both kinds', () => {
    expect(result.prompts).toBe(14);
    expect(result.by_kind.points).toEqual({ mean_iou: 1, min_iou: 1, n: 8, nonempty_reference: { mean_iou: 1, n: result.by_kind.points.nonempty_reference.n } });
    expect(result.by_kind.boxes.mean_iou).toBe(1);
    expect(result.by_kind.boxes.n).toBe(6);
    expect(result.by_kind.points.nonempty_reference.n).toBeGreaterThan(0);
    expect(result.embedding_rel_error).toBe(0);
  });

  it('is held out: a float model was calibrated on nothing', () => {
    expect(result.held_out).toBe(true);
    expect(result.calibration_overlap).toEqual([]);
  });

  it('scores both the same against the 8 objects of the evaluated images, with clicks well above boxes (the model has not learned boxes)', () => {
    const gt = result.gt!;
    expect(gt.images).toBe(2);
    expect(gt.objects).toBe(8);
    expect(gt.model).toEqual(gt.reference);
    for (const kind of ['boxes', 'clicks'] as const) {
      for (const v of [gt.model[kind].miou, gt.model[kind].mask_ap]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
    }
    // fixture README, Quality: a click gives an object-sized blob, a box an almost empty mask
    expect(gt.model.clicks.miou).toBeGreaterThan(0.2);
    expect(gt.model.clicks.miou).toBeGreaterThan(gt.model.boxes.miou);
  });
});

describe('held_out against the calibration images in report.json', () => {
  const one = { 'landscape.png': [{ points: [[160, 120]] as [number, number][], labels: [1] }], 'portrait.png': [{ box: [10, 10, 100, 100] as [number, number, number, number] }] };
  let calibrated: string;

  beforeAll(() => {
    calibrated = join(work, 'calibrated');
    cpSync(fp32, calibrated, { recursive: true });
  });

  const writeReport = (calibration: object) => writeFileSync(join(calibrated, 'report.json'), JSON.stringify({ method: 'ptq4sam', calibration }));

  it('is false when an evaluated image has the content of a calibration image, whatever its name', async () => {
    writeReport({ images: 1, image_sha256: [fileSha256(join(SAM_SHAPES, 'landscape.png'))] });
    const renamed = imageFolder(join(work, 'renamed'), ['portrait.png']);
    cpSync(join(SAM_SHAPES, 'landscape.png'), join(renamed, 'a-copy.png'));
    const r = await evaluate(calibrated, fp32, [join(renamed, 'a-copy.png')], { prompts: { 'a-copy.png': [...one['landscape.png'], ...one['portrait.png']] } });
    expect(r.held_out).toBe(false);
    expect(r.calibration_overlap).toEqual(['a-copy.png']);
    expect(r.by_kind.points.n).toBe(1);
    expect(r.by_kind.boxes.n).toBe(1);
    expect(calibrationOverlap(calibrated, [join(renamed, 'a-copy.png'), join(renamed, 'portrait.png')])).toEqual({ heldOut: false, overlap: ['a-copy.png'] });
  });

  // the same rule eval applies above, without running the models again
  it('is true when none is', () => {
    writeReport({ images: 1, image_sha256: [fileSha256(join(SAM_SHAPES, 'large.png'))] });
    expect(calibrationOverlap(calibrated, [join(images, 'landscape.png'), join(images, 'portrait.png')])).toEqual({ heldOut: true, overlap: [] });
  });

  it('is false when the report does not record its calibration images', () => {
    writeReport({ images: 3 });
    expect(calibrationOverlap(calibrated, [join(images, 'portrait.png')])).toEqual({ heldOut: false, overlap: [] });
  });

  it('names the report when it cannot be read', () => {
    writeFileSync(join(calibrated, 'report.json'), '{"calibration": ');
    expect(() => calibrationOverlap(calibrated, [join(images, 'portrait.png')])).toThrow(`${join(calibrated, 'report.json')}: cannot read the quantization report`);
  });
});

describe('the ground truth read for eval --gt', () => {
  it('holds the masks of the evaluated images only, matched by base name, in the file\'s order', async () => {
    // a dataset's GT file names many more images than are measured: only theirs are decoded
    const square = (x: number, y: number) => [[x, y, x + 3, y, x + 3, y + 2, x, y + 2]];
    const annotations = [
      { id: 1, image_id: 1, category_id: 1, segmentation: square(0, 0) },
      { id: 2, image_id: 2, category_id: 1, segmentation: square(1, 1) },
      { id: 3, image_id: 3, category_id: 1, segmentation: square(2, 2) },
      { id: 4, image_id: 1, category_id: 1, segmentation: square(4, 3) },
    ];
    const images = ['a.png', 'sub/b.png', 'c.png'].map((file_name, i) => ({ id: i + 1, file_name, width: 8, height: 6 }));
    const path = join(work, 'many.json');
    writeFileSync(path, JSON.stringify({ images, categories: [{ id: 1, name: 'thing' }], annotations }));
    const gt = await readGroundTruth(path, ['/elsewhere/a.png', '/elsewhere/b.png']);
    expect([...gt.keys()].sort()).toEqual(['a.png', 'b.png']);
    const pixels = (m: { data: Uint8Array }) => m.data.reduce((n, v) => n + v, 0);
    // each square of 3x2 pixel centres
    expect(gt.get('a.png')!.map(pixels)).toEqual([6, 6]);
    expect(gt.get('a.png')![1]!.data[4 * 8 + 5]).toBe(1);
    expect(gt.get('b.png')!.map(pixels)).toEqual([6]);
  });
});

describe('eval --gt with bad input', () => {
  it('refuses a COCO file with no masks for the evaluated images, naming it', async () => {
    const gt = await writeGroundTruthCoco(join(work, 'gt-large'), ['large.png']);
    const r = runCli(['eval', '--model', fp32, '--reference', fp32, '--images', images, '--gt', gt, '--out', join(work, 'x.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${gt}: no object masks for any evaluated image`);
  });

  it('refuses a file that is not COCO, naming it', () => {
    const bad = join(work, 'bad.json');
    writeFileSync(bad, '{"images": []}');
    const r = runCli(['eval', '--model', fp32, '--reference', fp32, '--images', images, '--gt', bad, '--out', join(work, 'y.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${bad}: not a COCO instances file`));
  });
});

describe('eval with prompts or an --out it cannot use', () => {
  const run = (extra: string[], out = join(work, 'never.json')) => runCli(['eval', '--model', fp32, '--reference', fp32, '--images', images, '--out', out, ...extra]);

  it('refuses prompts that meet no evaluated image (a perfect score of nothing) and labels other than 0 and 1', () => {
    const none = join(work, 'prompts-none.json');
    writeFileSync(none, JSON.stringify({ 'nothere.png': [{ points: [[5, 5]], labels: [1] }], 'landscape.png': [] }));
    const r = run(['--prompts', none]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${none}: no prompt for any evaluated image (files: landscape.png, portrait.png); nothing would be measured`);
    const seven = join(work, 'prompts-seven.json');
    writeFileSync(seven, JSON.stringify({ 'landscape.png': [{ points: [[5, 5]], labels: [7] }] }));
    const s = run(['--prompts', seven]);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain(`${seven}: a prompt of landscape.png has labels [7]: each is 1 (positive) or 0 (negative)`);
  });

  it('refuses an --out that exists and is not empty, or whose folder does not exist, before it runs', () => {
    const taken = join(work, 'taken.json');
    writeFileSync(taken, '{}');
    const r = run([], taken);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--out ${taken} exists and is not empty`);
    expect(readFileSync(taken, 'utf8')).toBe('{}');
    const nowhere = join(work, 'no-such-folder', 'r.json');
    const s = run([], nowhere);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain(`--out ${nowhere}: folder ${join(work, 'no-such-folder')} does not exist`);
  });
});
