/**
 * YOLO import from a folder laid out as the YOLO export writes it: `classes.txt` (names, one per
 * line) and `labels/<image stem>.txt`, or as Ultralytics datasets are: `data.yaml`'s names and
 * `labels/<split>/<image stem>.txt`. A segmentation line `class x1 y1 x2 y2 ...` (normalised
 * coordinates, at least 3 pairs: 7 or more values, an odd count) becomes one mask annotation: a
 * line cannot say it belongs with another, so an instance exported in several parts comes back
 * as several. A detection line `class cx cy w h` (exactly 5 values: centre and size, normalised)
 * becomes a box-only annotation; its box must lie inside the image. Label files are matched to the
 * project's images by stem; the sizes come from the project (`ctx.imageSize(stem)`). Every file
 * is checked before anything is returned: a malformed line throws an error naming file and line.
 * Values are plain decimals (an exponent allowed). Polygon points are pixel indices once scaled
 * (pixel (x, y) at (x, y)) and a polygon covers the pixels inside it and on its outline, as
 * Ultralytics (cv2.fillPoly) reads it, so one of no area is the pixels along it; one that covers no
 * pixel (on the far edge of the image) is skipped with a warning naming file and line.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { rleArea, rleOfPolygons } from '../masks/index.ts';
import { importedAnnotation, importTurn, labelNameProblem, readText } from './imported.ts';
import { yamlClassNames } from './yolo-names.ts';
import type { ImportedAnnotation, ImportedBox, Importer } from './types.ts';

/**
 * The class names: `classes.txt` (one per line, as the export writes it), else the `names` of
 * the dataset yaml Ultralytics reads (`data.yaml`, else the folder's only `.yaml` file).
 */
function classNames(from: string): string[] {
  const classesPath = join(from, 'classes.txt');
  let classes: string[];
  let source = classesPath;
  let lineOf = (i: number) => `${classesPath}:${i + 1}`;
  if (existsSync(classesPath)) {
    classes = readText(classesPath, 'the class names').split(/\r?\n/);
    while (classes.length > 0 && classes[classes.length - 1]!.trim() === '') classes.pop();
  } else {
    const yamls = readdirSync(from).filter((f) => /\.ya?ml$/i.test(f));
    const yaml = yamls.find((f) => f.toLowerCase() === 'data.yaml') ?? (yamls.length === 1 ? yamls[0] : undefined);
    if (!yaml) throw new Error(`${from}: no classes.txt${yamls.length > 1 ? ` and no data.yaml among ${yamls.join(', ')}` : ' or data.yaml'} (the class names)`);
    source = join(from, yaml);
    classes = yamlClassNames(readText(source, 'the class names'), source);
    lineOf = (i: number) => `${source}: names[${i}]`;
  }
  classes.forEach((name, i) => {
    if (name.trim() === '') throw new Error(`${lineOf(i)}: empty class name`);
    const problem = labelNameProblem(name);
    if (problem) throw new Error(`${lineOf(i)}: ${problem}`);
  });
  if (classes.length === 0) throw new Error(`${source}: no class names`);
  return classes;
}

/**
 * The label files under labels/, relative to it: `<stem>.txt` (any case of the extension), also
 * in subfolders as Ultralytics lays out its splits (`labels/train/`, `labels/val/`).
 */
function labelFiles(labelsDir: string): string[] {
  const found: string[] = [];
  const walk = (rel: string, depth: number) => {
    for (const entry of readdirSync(join(labelsDir, rel), { withFileTypes: true })) {
      const path = rel ? join(rel, entry.name) : entry.name;
      if (entry.isDirectory() && depth < 3) walk(path, depth + 1);
      else if (entry.isFile() && entry.name.toLowerCase().endsWith('.txt')) found.push(path);
    }
  };
  walk('', 0);
  return found.sort();
}

interface ParsedLine { line: number; classIndex: number; coords: number[]; box: boolean }

/** A box may poke out of [0, 1] by rounding of the 6 written decimals, no more. */
const BOX_SLACK = 1e-6;

/** Number() also reads hex, binary and octal literals and "Infinity": a label file holds decimals only. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export const importYolo: Importer = async (from, ctx) => {
  if (!existsSync(from) || !statSync(from).isDirectory()) throw new Error(`${from}: not a folder (expected a YOLO export with classes.txt and labels/)`);
  const classes = classNames(from);
  const labelsDir = join(from, 'labels');
  if (!existsSync(labelsDir) || !statSync(labelsDir).isDirectory()) throw new Error(`${from}: no labels/ folder`);

  const files = labelFiles(labelsDir);
  const parsed = files.map((f) => ({ file: f, lines: parseLabelFile(join(labelsDir, f), classes.length) }));

  const warnings: string[] = [];
  const annotations: ImportedAnnotation[] = [];
  const boxes: ImportedBox[] = [];
  for (const [done, { file, lines }] of parsed.entries()) {
    ctx.onRead?.(done / parsed.length);
    await importTurn(from, ctx);
    if (lines.length === 0) continue;
    const path = join(labelsDir, file);
    const stem = basename(file).slice(0, -'.txt'.length);
    const size = await ctx.imageSize(stem);
    if (!size) {
      const why = ctx.whyNoSize?.(stem) ?? `no project image has the stem "${stem}"`;
      warnings.push(`${path}: ${why}; its ${lineCounts(lines)} were not imported`);
      continue;
    }
    for (const { line, classIndex, coords, box } of lines) {
      if (box) {
        const [cx, cy, w, h] = coords as [number, number, number, number];
        // corners in pixels first, clamped to the image (the slack allowed for rounding)
        const x0 = Math.max(0, (cx - w / 2) * size.width), y0 = Math.max(0, (cy - h / 2) * size.height);
        const x1 = Math.min(size.width, (cx + w / 2) * size.width), y1 = Math.min(size.height, (cy + h / 2) * size.height);
        boxes.push({ imageKey: stem, labelName: classes[classIndex]!, bbox: [x0, y0, x1 - x0, y1 - y0] });
        continue;
      }
      const outer = coords.map((v, i) => v * (i % 2 === 0 ? size.width : size.height));
      const rle = rleOfPolygons([{ outer, holes: [] }], size.width, size.height, 'pixel-index');
      if (rleArea(rle) === 0) warnings.push(`${path}:${line}: the mask is empty; skipped`);
      else annotations.push(importedAnnotation(stem, classes[classIndex]!, rle));
    }
  }
  return { labels: classes, annotations, boxes, warnings };
};

/** "2 polygon(s) and 1 box(es)": what a label file holds, each kind named only when present. */
function lineCounts(lines: ParsedLine[]): string {
  const boxCount = lines.filter((l) => l.box).length;
  const counts: [number, string][] = [[lines.length - boxCount, 'polygon(s)'], [boxCount, 'box(es)']];
  return counts.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`).join(' and ');
}

function parseLabelFile(path: string, classCount: number): ParsedLine[] {
  const out: ParsedLine[] = [];
  readText(path, 'a YOLO label file').split(/\r?\n/).forEach((text, i) => {
    const where = `${path}:${i + 1}`;
    const values = text.trim().split(/\s+/).filter((v) => v.length > 0);
    if (values.length === 0) return;
    const box = values.length === 5;
    if (!box && (values.length < 7 || values.length % 2 === 0)) {
      throw new Error(`${where}: ${values.length} values; expected a class and cx cy w h (a box: 5 values) or at least 3 x y pairs (a polygon: 7 or more, odd)`);
    }
    const [classText, ...coordTexts] = values;
    if (!/^\d+$/.test(classText!) || Number(classText) >= classCount) {
      throw new Error(`${where}: class ${JSON.stringify(classText)} is not an index into the ${classCount} classes of classes.txt`);
    }
    const coords = coordTexts.map((t, j) => {
      const v = DECIMAL.test(t) ? Number(t) : Number.NaN;
      if (!Number.isFinite(v) || v < 0 || v > 1) throw new Error(`${where}: value ${JSON.stringify(t)} in column ${j + 2} is not a number in [0, 1]`);
      return v;
    });
    if (box) {
      const [cx, cy, w, h] = coords as [number, number, number, number];
      if (!(w > 0 && h > 0)) throw new Error(`${where}: box width ${w} and height ${h} must be positive`);
      if (cx - w / 2 < -BOX_SLACK || cy - h / 2 < -BOX_SLACK || cx + w / 2 > 1 + BOX_SLACK || cy + h / 2 > 1 + BOX_SLACK) {
        throw new Error(`${where}: box (centre ${cx}, ${cy}, size ${w} x ${h}) reaches outside the image`);
      }
    }
    out.push({ line: i + 1, classIndex: Number(classText), coords, box });
  });
  return out;
}
