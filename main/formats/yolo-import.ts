/**
 * YOLO segmentation import from a folder laid out as the YOLO export writes it: `classes.txt`
 * (names, one per line) and `labels/<image stem>.txt`. Each line `class x1 y1 x2 y2 ...`
 * (normalised coordinates) becomes one annotation: a line cannot say it belongs with another, so
 * an instance exported in several parts comes back as several. Label files are matched to the
 * project's images by stem; the sizes come from the project (`ctx.imageSize(stem)`). Every file
 * is checked before anything is returned: a malformed line throws an error naming file and line.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { importedAnnotation, readText, rleOfPolygons } from './imported.ts';
import type { ImportedAnnotation, Importer } from './types.ts';

interface ParsedLine { classIndex: number; coords: number[] }

export const importYolo: Importer = async (from, ctx) => {
  if (!existsSync(from) || !statSync(from).isDirectory()) throw new Error(`${from}: not a folder (expected a YOLO export with classes.txt and labels/)`);
  const classesPath = join(from, 'classes.txt');
  const classes = readText(classesPath, 'the class names').split(/\r?\n/);
  while (classes.length > 0 && classes[classes.length - 1]!.trim() === '') classes.pop();
  classes.forEach((name, i) => {
    if (name.trim() === '') throw new Error(`${classesPath}:${i + 1}: empty class name`);
  });
  if (classes.length === 0) throw new Error(`${classesPath}: no class names`);
  const labelsDir = join(from, 'labels');
  if (!existsSync(labelsDir) || !statSync(labelsDir).isDirectory()) throw new Error(`${from}: no labels/ folder`);

  const files = readdirSync(labelsDir).filter((f) => f.endsWith('.txt')).sort();
  const parsed = files.map((f) => ({ file: f, lines: parseLabelFile(join(labelsDir, f), classes.length) }));

  const warnings: string[] = [];
  const annotations: ImportedAnnotation[] = [];
  for (const { file, lines } of parsed) {
    if (lines.length === 0) continue;
    const stem = file.slice(0, -'.txt'.length);
    const size = await ctx.imageSize(stem);
    if (!size) {
      warnings.push(`${join(labelsDir, file)}: no project image has the stem "${stem}"; its ${lines.length} polygon(s) were not imported`);
      continue;
    }
    for (const { classIndex, coords } of lines) {
      const outer = coords.map((v, i) => v * (i % 2 === 0 ? size.width : size.height));
      const rle = rleOfPolygons([{ outer, holes: [] }], size.width, size.height);
      annotations.push(importedAnnotation(stem, classes[classIndex]!, rle));
    }
  }
  return { labels: classes, annotations, warnings };
};

function parseLabelFile(path: string, classCount: number): ParsedLine[] {
  const out: ParsedLine[] = [];
  readText(path, 'a YOLO label file').split(/\r?\n/).forEach((text, i) => {
    const where = `${path}:${i + 1}`;
    const values = text.trim().split(/\s+/).filter((v) => v.length > 0);
    if (values.length === 0) return;
    if (values.length < 7 || values.length % 2 === 0) {
      const box = values.length === 5 ? ' (a box line: this folder holds detection labels, not segmentation)' : '';
      throw new Error(`${where}: ${values.length} values${box}; expected a class and at least 3 x y pairs`);
    }
    const [classText, ...coordTexts] = values;
    if (!/^\d+$/.test(classText!) || Number(classText) >= classCount) {
      throw new Error(`${where}: class ${JSON.stringify(classText)} is not an index into the ${classCount} classes of classes.txt`);
    }
    const coords = coordTexts.map((t, j) => {
      const v = Number(t);
      if (!Number.isFinite(v) || v < 0 || v > 1) throw new Error(`${where}: value ${JSON.stringify(t)} in column ${j + 2} is not a number in [0, 1]`);
      return v;
    });
    out.push({ classIndex: Number(classText), coords });
  });
  return out;
}
