import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exporters, importers } from '../../main/formats/index.ts';
import { maskUnion, rleFromMask } from '../../main/masks/index.ts';
import { iou, sameMask } from '../masks/helpers.ts';
import { yamlClassNames } from '../../main/formats/yolo-names.ts';
import { annotation, disc, image, labels, lShapeMask, ringMask, tempDir, twoPartsMask } from './dataset.ts';

const sizes = (byStem: Record<string, [number, number]>) => ({
  imageSize: (key: string) => (byStem[key] ? { width: byStem[key][0], height: byStem[key][1] } : undefined),
});

async function exportSample(tolerancePx = 0) {
  const out = tempDir();
  const images = [
    image(1, 'shots/a.jpg', 12, 10, [annotation(101, 10, lShapeMask), annotation(102, 30, twoPartsMask), annotation(103, 20, ringMask)]),
    image(2, 'b.png', 12, 10, []),
  ];
  const report = await exporters.yolo(labels, images, 2, { outDir: out, polygonTolerancePx: tolerancePx });
  return { out, report };
}

describe('YOLO segmentation export', () => {
  it('writes classes.txt, data.yaml and one label file per image stem', async () => {
    const { out, report } = await exportSample();
    expect(readFileSync(join(out, 'classes.txt'), 'utf8')).toBe('cat\ndog\ntraffic light\n');
    expect(readdirSync(join(out, 'labels')).sort()).toEqual(['a.txt', 'b.txt']);
    expect(report.files).toEqual(['classes.txt', 'data.yaml', 'labels/a.txt', 'labels/b.txt']);
  });

  it('lists nc and the names by class index in data.yaml', async () => {
    const { out } = await exportSample();
    const yaml = readFileSync(join(out, 'data.yaml'), 'utf8');
    expect(yaml).toContain('nc: 3\nnames:\n  0: "cat"\n  1: "dog"\n  2: "traffic light"\n');
    expect(yaml).not.toMatch(/^path:/m);
  });

  /**
   * Ultralytics' dataset root (ultralytics/data/utils.py, check_det_dataset): `path` if given,
   * else the folder of the yaml file as the user named it; a root that does not exist and is not
   * absolute is taken under its datasets folder. train/val are then joined to the root.
   */
  function ultralyticsTrainDir(yamlArg: string, cwd: string, datasetsDir: string): string {
    const yaml = readFileSync(resolve(cwd, yamlArg), 'utf8');
    const pathValue = /^path:\s*(.+)$/m.exec(yaml)?.[1]?.trim();
    const train = /^train:\s*(.+)$/m.exec(yaml)![1]!.trim();
    let root = pathValue ?? dirname(yamlArg);
    if (!existsSync(resolve(cwd, root)) && !isAbsolute(root)) root = join(datasetsDir, root);
    return resolve(cwd, root, train);
  }

  it('writes a data.yaml whose images resolve to the export folder wherever training starts', async () => {
    const { out } = await exportSample();
    const elsewhere = tempDir();
    const datasets = join(elsewhere, 'datasets');
    for (const [yamlArg, cwd] of [[join(out, 'data.yaml'), elsewhere], ['data.yaml', out], [relative(elsewhere, join(out, 'data.yaml')), elsewhere]] as const) {
      expect(ultralyticsTrainDir(yamlArg, cwd, datasets), `${yamlArg} from ${cwd}`).toBe(join(out, 'images'));
    }
  });

  it('writes class index and coordinates normalised with 6 decimals', async () => {
    const { out } = await exportSample();
    const first = readFileSync(join(out, 'labels/a.txt'), 'utf8').split('\n')[0]!;
    // the L shape's boundary pixels' centres from its top-right pixel (pixel-index coordinates), x / 12 and y / 10
    expect(first).toBe('0 0.250000 0.100000 0.250000 0.400000 0.666667 0.400000 0.666667 0.500000 0.166667 0.500000 0.166667 0.100000');
  });

  it('writes an empty label file for an image without annotations', async () => {
    const { out } = await exportSample();
    expect(readFileSync(join(out, 'labels/b.txt'), 'utf8')).toBe('');
  });

  it('writes one line per part and names the multi-part instances and the filled holes', async () => {
    const { out, report } = await exportSample();
    expect(readFileSync(join(out, 'labels/a.txt'), 'utf8').trim().split('\n').map((l) => l.split(' ')[0])).toEqual(['0', '2', '2', '1']);
    expect(report.notes).toContain('1 annotation(s) have several parts, written as one line per part (YOLO lines cannot group parts): ids 102');
    expect(report.notes).toContain('1 annotation(s) had holes, which YOLO lines cannot carry: the holes were filled: ids 103');
  });

  it('gives a second image with the same stem another file name and says so', async () => {
    const out = tempDir();
    const images = [image(1, 'a/x.jpg', 12, 10, []), image(2, 'b/x.png', 12, 10, []), image(3, 'c/X.jpg', 12, 10, [])];
    const report = await exporters.yolo(labels, images, 3, { outDir: out });
    expect(readdirSync(join(out, 'labels')).sort()).toEqual(['X_3.txt', 'x.txt', 'x_2.txt']);
    expect(report.notes).toContain('2 image(s) share a file stem with an earlier image and were written under another name: b/x.png -> x_2, c/X.jpg -> X_3');
  });
});

describe('YOLO round trip', () => {
  it('gives back single-part masks without holes exactly at tolerance 0', async () => {
    const { out } = await exportSample(0);
    const result = await importers.yolo(out, sizes({ a: [12, 10], b: [12, 10] }));
    expect(result.labels).toEqual(['cat', 'dog', 'traffic light']);
    const first = result.annotations[0]!;
    expect([first.imageKey, first.labelName, first.rle]).toEqual(['a', 'cat', rleFromMask(lShapeMask)]);
  });

  it('gives back a multi-part instance as one annotation per part that together make the mask', async () => {
    const { out } = await exportSample(0);
    const parts = (await importers.yolo(out, sizes({ a: [12, 10] }))).annotations.filter((a) => a.labelName === 'traffic light');
    expect(parts).toHaveLength(2);
    expect(sameMask(maskUnion(parts[0]!.mask, parts[1]!.mask), twoPartsMask)).toBe(true);
  });

  it('gives back masks without holes within IoU 0.98 at the default 1 px tolerance', async () => {
    const out = tempDir();
    const masks = [disc(320, 240, 100, 90, 60), disc(320, 240, 250, 160, 35)];
    await exporters.yolo(labels, [image(1, 'p.jpg', 320, 240, masks.map((m, i) => annotation(i + 1, 20, m)))], 1, { outDir: out });
    const result = await importers.yolo(out, sizes({ p: [320, 240] }));
    expect(result.annotations.map((a) => iou(a.mask, masks[result.annotations.indexOf(a)]!) >= 0.98)).toEqual([true, true]);
  });

  it('warns about label files whose stem matches no project image', async () => {
    const { out } = await exportSample();
    const result = await importers.yolo(out, sizes({}));
    expect(result.annotations).toEqual([]);
    expect(result.warnings[0]).toMatch(/labels\/a.txt: no project image has the stem "a"; its 4 polygon\(s\) were not imported/);
  });
});

describe('YOLO import of malformed folders', () => {
  async function folderWith(lines: string): Promise<string> {
    const { out } = await exportSample();
    writeFileSync(join(out, 'labels/b.txt'), lines);
    return out;
  }
  const ctx = sizes({ a: [12, 10], b: [12, 10] });

  it('rejects a coordinate outside [0, 1], naming file and line', async () => {
    const out = await folderWith('0 0.1 0.1 0.5 0.1 0.5 0.5\n1 0.1 0.1 1.2 0.1 0.5 0.5\n');
    await expect(importers.yolo(out, ctx)).rejects.toThrow(`${join(out, 'labels/b.txt')}:2: value "1.2" in column 4 is not a number in [0, 1]`);
  });

  it('rejects a class index beyond classes.txt', async () => {
    const out = await folderWith('3 0.1 0.1 0.5 0.1 0.5 0.5\n');
    await expect(importers.yolo(out, ctx)).rejects.toThrow(/b.txt:1: class "3" is not an index into the 3 classes of classes.txt/);
  });

  it('reads detection lines (class cx cy w h) as boxes in pixels, beside segmentation lines', async () => {
    const out = await folderWith('1 0.5 0.5 0.25 0.2\n0 0.1 0.1 0.5 0.1 0.5 0.5\n2 0.125 0.9 0.25 0.2\n');
    const result = await importers.yolo(out, ctx);
    expect(result.boxes).toEqual([
      { imageKey: 'b', labelName: 'dog', bbox: [4.5, 4, 3, 2] },
      { imageKey: 'b', labelName: 'traffic light', bbox: [0, 8, 3, 2] },
    ]);
    expect(result.annotations.filter((a) => a.imageKey === 'b')).toHaveLength(1);
  });

  for (const [what, line, problem] of [
    ['six values (a detection with a confidence)', '0 0.5 0.5 0.2 0.2 0.9', '6 values; expected a class and cx cy w h (a box: 5 values) or at least 3 x y pairs (a polygon: 7 or more, odd)'],
    ['a zero width', '0 0.5 0.5 0 0.2', 'box width 0 and height 0.2 must be positive'],
    ['a box reaching outside the image', '0 0.9 0.5 0.4 0.2', 'box (centre 0.9, 0.5, size 0.4 x 0.2) reaches outside the image'],
    ['a centre outside [0, 1]', '0 1.5 0.5 0.2 0.2', 'value "1.5" in column 2 is not a number in [0, 1]'],
  ] as const) {
    it(`rejects a detection line with ${what}, naming file and line`, async () => {
      const out = await folderWith(`0 0.5 0.5 0.2 0.2\n${line}\n`);
      await expect(importers.yolo(out, ctx)).rejects.toThrow(`${join(out, 'labels/b.txt')}:2: ${problem}`);
    });
  }

  it('rejects a line with an odd number of coordinates', async () => {
    const out = await folderWith('0 0.1 0.1 0.5 0.1 0.5 0.5 0.2\n');
    await expect(importers.yolo(out, ctx)).rejects.toThrow(/b.txt:1: 8 values; expected a class and cx cy w h/);
  });

  it('rejects text where a number should be', async () => {
    const out = await folderWith('0 0.1 0.1 0.5 abc 0.5 0.5\n');
    await expect(importers.yolo(out, ctx)).rejects.toThrow(/b.txt:1: value "abc" in column 5/);
  });

  it('rejects a folder without classes.txt or data.yaml, and reads data.yaml without classes.txt', async () => {
    const { out } = await exportSample();
    rmSync(join(out, 'classes.txt'));
    expect((await importers.yolo(out, ctx)).labels).toEqual(['cat', 'dog', 'traffic light']);
    rmSync(join(out, 'data.yaml'));
    await expect(importers.yolo(out, ctx)).rejects.toThrow(`${out}: no classes.txt or data.yaml (the class names)`);
  });

  it('rejects a folder without labels/', async () => {
    const out = tempDir();
    writeFileSync(join(out, 'classes.txt'), 'cat\n');
    mkdirSync(join(out, 'other'));
    await expect(importers.yolo(out, ctx)).rejects.toThrow(`${out}: no labels/ folder`);
  });
});

describe('YOLO import of an Ultralytics dataset folder', () => {
  it('reads the class names of data.yaml in each of its forms', () => {
    const cases: [string, string[]][] = [
      ['path: ../datasets/x\ntrain: images/train\nnames:\n  0: person\n  1: "traffic light" # a comment\n  2: \'it\'\'s\'\nnc: 3\n', ['person', 'traffic light', "it's"]],
      ['names:\n  1: car\n  0: person\n', ['person', 'car']],
      ['names:\n- person\n- car # two\n', ['person', 'car']],
      ['nc: 2\nnames: [person, \'a, b\']\n', ['person', 'a, b']],
      ['names: {0: person, 1: car}\n', ['person', 'car']],
    ];
    for (const [text, names] of cases) expect(yamlClassNames(text, 'data.yaml'), text).toEqual(names);
    expect(() => yamlClassNames('names:\n  0: a\n  2: b\n', 'd.yaml')).toThrow('d.yaml:1: the names\' indices must be 0 to 1, each once (got 2)');
    expect(() => yamlClassNames('nc: 1\n', 'd.yaml')).toThrow('d.yaml: no top-level "names" key');
    expect(() => yamlClassNames('names:\n  zero: a\n', 'd.yaml')).toThrow('d.yaml:2: expected "index: name", got "zero: a"');
  });

  it('takes labels/<split>/ files and .TXT names, with the names from data.yaml', async () => {
    const from = tempDir();
    mkdirSync(join(from, 'labels', 'train'), { recursive: true });
    mkdirSync(join(from, 'labels', 'val'), { recursive: true });
    writeFileSync(join(from, 'data.yaml'), 'path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n');
    writeFileSync(join(from, 'labels', 'train', 'a.txt'), '1 0.5 0.5 0.5 0.5\n');
    writeFileSync(join(from, 'labels', 'val', 'b.TXT'), '0 0.1 0.1 0.9 0.1 0.9 0.9 0.1 0.9\n');
    const result = await importers.yolo(from, sizes({ a: [12, 10], b: [12, 10] }));
    expect(result.labels).toEqual(['cat', 'dog']);
    expect(result.boxes).toEqual([{ imageKey: 'a', labelName: 'dog', bbox: [3, 2.5, 6, 5] }]);
    expect(result.annotations.map((a) => [a.imageKey, a.labelName])).toEqual([['b', 'cat']]);
    expect(result.warnings).toEqual([]);
  });

  it('names the file and line of a class name it cannot store', async () => {
    const from = tempDir();
    mkdirSync(join(from, 'labels'), { recursive: true });
    writeFileSync(join(from, 'classes.txt'), 'cat\nd\u0001og\n');
    await expect(importers.yolo(from, sizes({}))).rejects.toThrow(`${join(from, 'classes.txt')}:2: label name "d\\u0001og" contains the control character U+0001`);
    rmSync(join(from, 'classes.txt'));
    // a byte order mark before the yaml is read past; an empty names list is named in its own file
    writeFileSync(join(from, 'data.yaml'), '\uFEFFnames: []\n');
    await expect(importers.yolo(from, sizes({}))).rejects.toThrow(`${join(from, 'data.yaml')}: no class names`);
    writeFileSync(join(from, 'data.yaml'), 'names: [cat, "a\\tb"]\n');
    await expect(importers.yolo(from, sizes({}))).rejects.toThrow(`${join(from, 'data.yaml')}: names[1]: label name "a\\tb" contains the control character U+0009`);
  });
});

describe('an export of an image with many annotations', () => {
  it('lets the event loop run between its annotations, not only between images', async () => {
    const out = tempDir();
    // 3,000 polygons on one image: tracing them takes several times the 30 ms between turns
    // (about 260 ms on a fast machine, where 800 took 100-135 ms: too few turns to tell)
    const anns = Array.from({ length: 3000 }, (_, i) => annotation(i + 1, 10, disc(320, 240, 20 + (i % 280), 20 + (i % 200), 12)));
    const order: string[] = [];
    const turns = setInterval(() => order.push('turn'), 0);
    const t0 = performance.now();
    try {
      await exporters.yolo(labels, [image(1, 'p.jpg', 320, 240, anns)], 1, { outDir: out, onProgress: () => order.push('image done') });
    } finally {
      clearInterval(turns);
    }
    const exportMs = performance.now() - t0;
    expect(exportMs).toBeGreaterThan(90);
    // timers ran while the one image was being written, in at least half of its 30 ms slots (one
    // turn before an image is all that yielding between images alone would give)
    const turnsBeforeDone = order.slice(0, order.indexOf('image done')).filter((e) => e === 'turn').length;
    expect(turnsBeforeDone).toBeGreaterThanOrEqual(Math.max(3, Math.floor(exportMs / 30 / 2)));
  });
});
