import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskFromRle } from '../../main/masks/index.ts';
import { openProject } from '../../main/project/index.ts';
import { rectRle, tempDir, writeImage } from './helpers.ts';

const repo = resolve(import.meta.dirname, '../..');
const tsx = pathToFileURL(join(repo, 'node_modules/tsx/dist/loader.mjs')).href;

/** `cli project ...` as a child process, run from `cwd` (the repository unless given). */
function cli(args: string[], cwd = repo): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', tsx, join(repo, 'main/cli/index.ts'), 'project', ...args], { cwd, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[], cwd?: string): string {
  const r = cli(args, cwd);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return union === 0 ? 1 : inter / union;
}

let dir: string;
let cleanup: () => void;
let db: string;
const masks = [
  { image: 'images/a.png', label: 'cat', box: [2, 3, 10, 6] as [number, number, number, number] },
  { image: 'images/a.png', label: 'dog', box: [20, 10, 7, 9] as [number, number, number, number] },
  { image: 'images/sub/b.png', label: 'cat', box: [0, 0, 5, 5] as [number, number, number, number] },
];

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('project-cli-'));
  db = join(dir, 'proj', 'p.db');
  await writeImage(join(dir, 'proj', 'images', 'a.png'), 40, 30, 10);
  await writeImage(join(dir, 'proj', 'images', 'sub', 'b.png'), 24, 16, 200);
  writeFileSync(join(dir, 'proj', 'images', 'broken.jpg'), 'not a jpeg');
});
afterAll(() => cleanup());

describe('cli project', () => {
  it('init creates a project file and stats reports it empty', () => {
    ok(['init', db]);
    expect(JSON.parse(ok(['stats', db]))).toMatchObject({ images: 0, annotations: 0, labels: 0 });
  });

  it('add takes a folder, shows progress on stderr and prints a summary naming the unreadable image', () => {
    const r = cli(['add', db, join(dir, 'proj', 'images')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('reading images 3/3');
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ added: 3, duplicates: [], unsupported: [] });
    expect(summary.unreadable).toEqual([{ path: join(dir, 'proj', 'images', 'broken.jpg'), error: expect.stringContaining('cannot read the image header') }]);
  });

  it('labels add stores a label with its colour and labels list prints them as JSON', () => {
    expect(JSON.parse(ok(['labels', db, 'add', 'cat', '--color', '#FF8800']))).toMatchObject({ name: 'cat', color: '#ff8800' });
    ok(['labels', db, 'add', 'dog']);
    expect(JSON.parse(ok(['labels', db, 'list'])).map((l: { name: string }) => l.name)).toEqual(['cat', 'dog']);
  });

  it('a bad label colour fails with one line naming the problem', () => {
    const r = cli(['labels', db, 'add', 'bird', '--color', 'blue']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('error: label colour "blue" is not of the form #rrggbb\n');
  });

  it('stats counts images, annotations and labels', () => {
    const project = openProject(db);
    for (const m of masks) {
      const image = project.findImageByPath(m.image)!;
      project.addAnnotation({ imageId: image.id, labelId: project.findLabelByName(m.label)!.id, rle: rectRle(image.width!, image.height!, m.box) });
    }
    project.close();
    expect(JSON.parse(ok(['stats', db]))).toMatchObject({ images: 3, annotations: 3, labels: 2, imagesWithErrors: 1 });
  });

  it('a COCO export imported into a new project of the same images gives back the same masks exactly', () => {
    const out = join(dir, 'coco');
    const report = JSON.parse(ok(['export', db, '--format', 'coco', '--out', out]));
    expect(report).toMatchObject({ format: 'coco', images: 2, annotations: 3 });
    expect(report.skipped).toEqual([expect.objectContaining({ reason: expect.stringContaining('broken.jpg has no known size') })]);
    const coco = JSON.parse(readFileSync(join(out, 'annotations.json'), 'utf8'));
    expect(coco.images.map((i: { file_name: string }) => i.file_name)).toEqual(['images/a.png', 'images/sub/b.png']);

    // a second project next to the first one: COCO file_names resolve against the project
    const db2 = join(dir, 'proj', 'copy.db');
    ok(['init', db2]);
    const run = cli(['import', db2, '--format', 'coco', '--from', join(out, 'annotations.json')]);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ addedImages: 2, addedLabels: ['cat', 'dog'], annotations: 3 });
    // progress on stderr: the file read (its first pass a tenth), the new images' headers read while it is, storing
    expect(run.stderr.split('\n').filter(Boolean)).toEqual(['reading the dataset: 0%', 'reading the dataset: 10%', 'reading the dataset: 100%', 'storing 3 annotations']);
    const a = openProject(db);
    const b = openProject(db2);
    const masksOf = (p: typeof a) => p.listImages().items.flatMap((image) =>
      p.listAnnotations(image.id).map((x) => [image.path, p.getLabel(x.labelId).name, x.rle]));
    expect(masksOf(b)).toEqual(masksOf(a));
    a.close();
    b.close();
  });

  it('a YOLO export imported into a new project gives back masks within the polygon tolerance', () => {
    const out = join(dir, 'yolo');
    ok(['export', db, '--format', 'yolo', '--out', out]);
    const db2 = join(dir, 'proj', 'yolo.db');
    ok(['init', db2]);
    ok(['add', db2, join(dir, 'proj', 'images', 'a.png'), join(dir, 'proj', 'images', 'sub', 'b.png')]);
    expect(JSON.parse(ok(['import', db2, '--format', 'yolo', '--from', out]))).toMatchObject({ annotations: 3, addedLabels: ['cat', 'dog'] });
    const a = openProject(db);
    const b = openProject(db2);
    for (const path of ['images/a.png', 'images/sub/b.png']) {
      const before = a.listAnnotations(a.findImageByPath(path)!.id);
      const after = b.listAnnotations(b.findImageByPath(path)!.id);
      expect(after.map((x) => b.getLabel(x.labelId).name)).toEqual(before.map((x) => a.getLabel(x.labelId).name));
      after.forEach((x, i) => expect(iou(maskFromRle(x.rle!).data, maskFromRle(before[i]!.rle!).data)).toBeGreaterThan(0.9));
    }
    a.close();
    b.close();
  });

  it('every export format writes its layout', () => {
    const layouts: Record<string, string[]> = {
      'coco-polygons': ['annotations.json'],
      voc: ['SegmentationClass/a.png', 'SegmentationObject/a.png', 'labels.txt'],
      labelme: ['a.json', 'b.json'],
      yolo: ['labels/a.txt', 'classes.txt', 'data.yaml'],
    };
    for (const [format, files] of Object.entries(layouts)) {
      const out = join(dir, `layout-${format}`);
      const report = JSON.parse(ok(['export', db, '--format', format, '--out', out]));
      for (const file of files) expect(() => readFileSync(join(out, file)), `${format}: ${file}`).not.toThrow();
      expect(report.format).toBe(format);
    }
  });

  it('export into a folder that is not empty is refused', () => {
    mkdirSync(join(dir, 'full'));
    writeFileSync(join(dir, 'full', 'x'), '');
    const r = cli(['export', db, '--format', 'coco', '--out', join(dir, 'full')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/exists and is not empty/);
  });

  it('a malformed COCO file is refused with its name and the project is unchanged', () => {
    const before = ok(['stats', db]);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"images": [], "annotations": [');
    const r = cli(['import', db, '--format', 'coco', '--from', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(bad);
    expect(ok(['stats', db])).toBe(before);
  });

  it('a COCO file whose last annotation is bad imports nothing at all', () => {
    const before = ok(['stats', db]);
    const coco = JSON.parse(readFileSync(join(dir, 'coco', 'annotations.json'), 'utf8'));
    coco.annotations.at(-1).segmentation = { size: [3, 3], counts: 'zz' };
    const file = join(dir, 'proj', 'bad-last.json');
    writeFileSync(file, JSON.stringify(coco));
    const r = cli(['import', db, '--format', 'coco', '--from', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(file);
    expect(ok(['stats', db])).toBe(before);
  });

  it('a YOLO file with out-of-range numbers is refused and the project is unchanged', () => {
    const before = ok(['stats', db]);
    const out = join(dir, 'yolo-bad');
    mkdirSync(join(out, 'labels'), { recursive: true });
    copyFileSync(join(dir, 'yolo', 'classes.txt'), join(out, 'classes.txt'));
    writeFileSync(join(out, 'labels', 'a.txt'), '0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.1 0.1 1.7 0.1 0.5 0.5\n');
    const r = cli(['import', db, '--format', 'yolo', '--from', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(join(out, 'labels', 'a.txt'));
    expect(ok(['stats', db])).toBe(before);
  });

  it('annotate with a label that does not exist fails before running any model', () => {
    const r = cli(['annotate', db, '--image', 'images/a.png', '--label', 'zebra', '--model', join(dir, 'no-model'), '--point', '5,5,1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: label "zebra" does not exist in project ${db} (add it with: project labels add)\n`);
  });

  it('annotate with an image that is not in the project says so', () => {
    const r = cli(['annotate', db, '--image', 'images/nope.png', '--label', 'cat', '--model', join(dir, 'no-model'), '--point', '5,5,1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: image images/nope.png is not in project ${db} (add it with: project add)\n`);
  });

  it('annotate on an image whose file disappeared says so and stores nothing', async () => {
    const file = await writeImage(join(dir, 'proj', 'images', 'gone.png'), 8, 8);
    ok(['add', db, file]);
    rmSync(file);
    const before = ok(['stats', db]);
    const r = cli(['annotate', db, '--image', file, '--label', 'cat', '--model', join(dir, 'no-model'), '--point', '1,1,1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: image images/gone.png of project ${db}: file not found (moved or deleted)\n`);
    expect(ok(['stats', db])).toBe(before);
  });

  it('annotate segments with the model and prints only the new annotation id', () => {
    const model = join(dir, 'model');
    const imported = spawnSync(process.execPath, ['--import', tsx, join(repo, 'main/cli/index.ts'), 'model', 'import',
      join(repo, 'tests/fixtures/sam-tiny/sam_tiny.pth'), '--config', join(repo, 'tests/fixtures/sam-tiny/config.json'), '--out', model], { encoding: 'utf8' });
    expect(imported.status, imported.stderr).toBe(0);
    // relative to the project file, from another working folder
    const stdout = ok(['annotate', db, '--image', 'images/a.png', '--label', 'dog', '--model', model, '--point', '12,9,1', '--box', '2,2,30,20'], dir);
    expect(stdout).toMatch(/^\d+\n$/);
    const project = openProject(db);
    const a = project.getAnnotation(Number(stdout));
    expect(a).toMatchObject({ imageId: project.findImageByPath('images/a.png')!.id, labelId: project.findLabelByName('dog')!.id,
      prompts: { points: [{ x: 12, y: 9, label: 1 }], box: [2, 2, 30, 20] }, rle: { size: [30, 40] } });
    expect(a.modelId).toMatch(/^[0-9a-f]{16}$/);
    expect(a.score).toEqual(expect.any(Number));
    // the embedding went into the project's cache, and a second click is served from it
    const image = project.findImageByPath('images/a.png')!;
    const cached = project.getEmbedding(image.sha256!, a.modelId!);
    expect(cached?.shape).toEqual([1, 256, 64, 64]);
    project.close();
    const second = ok(['annotate', db, '--image', 'images/a.png', '--label', 'dog', '--model', model, '--point', '12,9,1', '--box', '2,2,30,20'], dir);
    const again = openProject(db);
    expect(again.getAnnotation(Number(second)).rle).toEqual(a.rle);
    again.close();
  });
});
