/**
 * LabelMe import from a folder of LabelMe JSON files (LabelMe 5's layout, which our LabelMe export
 * writes): every `*.json` in it and its subfolders, hidden files and folders left out, in name
 * order. A .json without a `shapes` list is refused: a folder of LabelMe files holds nothing else,
 * and a stray COCO or config file more likely means the wrong folder was picked.
 * Each file names its image by `imagePath`, relative to the JSON file (backslashes, as LabelMe on
 * Windows writes them, read as slashes); the imageKey is that image's absolute path. The file's
 * imageWidth and imageHeight are the mask size and must match the image where its size is known.
 * Shapes:
 * - polygon: points read as LabelMe reads them (PIL's polygon with its outline: pixel (x, y) is
 *   the point (x, y), pixels inside and on the outline filled), so our export comes back exactly;
 * - circle (centre, a point on the circle): the pixels (x, y) with (x - cx)^2 + (y - cy)^2 <= r^2;
 * - mask (LabelMe 5.3+): a base64 PNG of the region from points[0], nonzero = inside, placed at
 *   points[0] rounded toward zero as LabelMe does; its extent is the PNG's own size, so points[1]
 *   (the bottom-right corner, which only repeats that size) is not read;
 * - rectangle: a box-only annotation, its corners as drawn ([x, y, w, h], clamped to the image),
 *   waiting for SAM like a YOLO detection line. A box is what LabelMe users draw a rectangle for;
 *   filled as a mask it would be stored as a segmentation it is not. So one that shares a group
 *   with mask shapes stays a box of its own (with a warning);
 * - point, line, linestrip, points and unknown types hold no area: counted in one warning per file
 *   and type.
 * Shapes of one file with the same non-null group_id and label are one instance, their masks
 * unioned: how our export writes an instance in several parts and how labelme2coco groups them.
 * Shapes without a group_id are an instance each. A shape whose mask covers no pixel of the image
 * is skipped with a warning. Every file is checked before anything is returned: malformed input
 * throws an error naming the file and the shape.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS } from '../base/image-limits.ts';
import { type Rle, forEachInsideRun, rleFromCrop, rleMeasure, rleOfPolygons } from '../masks/index.ts';
import { importedAnnotation, importTurn, labelNameProblem, readJson } from './imported.ts';
import type { ImageSizeAnswer, ImportedAnnotation, ImportedBox, Importer } from './types.ts';

type Json = Record<string, unknown>;

interface Shape {
  index: number;
  label: string;
  type: string;
  points: [number, number][];
  /** group_id and label together: the instance the shape belongs to, null when it has no group */
  group: string | null;
  mask: unknown;
}

/** A mask part with its measures, kept so an instance of several parts is unioned within its box. */
interface Part { rle: Rle; bbox: [number, number, number, number] }

interface Instance { label: string; parts: Part[] }

const noArea = new Set(['point', 'line', 'linestrip', 'points']);
const pointsNeeded = new Map<string, { least: number; most: number; what: string }>([
  ['polygon', { least: 3, most: Infinity, what: 'at least 3 points' }],
  // two corners as LabelMe draws it; four corners as some converters write it: the box holds them all
  ['rectangle', { least: 2, most: Infinity, what: 'at least 2 points (two opposite corners)' }],
  ['circle', { least: 2, most: 2, what: 'exactly 2 points (the centre and a point on the circle)' }],
  ['mask', { least: 1, most: Infinity, what: 'its top-left corner as points[0]' }],
]);
const maskTypes = new Set(['polygon', 'circle', 'mask']);

export const importLabelme: Importer = async (from, ctx) => {
  let isFolder = false;
  try {
    isFolder = statSync(from).isDirectory();
  } catch {
    // missing or unreadable: said below
  }
  if (!isFolder) throw new Error(`${from}: not a folder (expected a folder of LabelMe .json files)`);
  const files = jsonFiles(from);
  if (files.length === 0) throw new Error(`${from}: no LabelMe .json files`);

  const labels: string[] = [];
  const annotations: ImportedAnnotation[] = [];
  const boxes: ImportedBox[] = [];
  const warnings: string[] = [];
  const seeLabel = (name: string) => {
    if (!labels.includes(name)) labels.push(name);
  };

  for (const [done, file] of files.entries()) {
    ctx.onRead?.(done / files.length);
    await importTurn(from, ctx);
    const fail = (where: string, problem: string) => new Error(`${file}: ${where}${where ? ': ' : ''}${problem}`);
    const doc = readLabelmeFile(file);
    const imagePath = doc.imagePath;
    if (typeof imagePath !== 'string' || imagePath.trim() === '') {
      throw fail('', `"imagePath" ${imagePath === undefined ? 'is missing' : 'is not a non-empty string'} (the image the shapes belong to)`);
    }
    const imageKey = resolve(dirname(file), imagePath.split('\\').join('/'));
    const width = positiveInteger(doc, 'imageWidth', fail);
    const height = positiveInteger(doc, 'imageHeight', fail);
    // checked before any mask is drawn at that size: a file may claim a size its image does not have
    checkSize(file, imageKey, width, height, await ctx.imageSize(imageKey));
    const shapes = doc.shapes as unknown[];
    const parsed = shapes.map((s, i) => parseShape(s, i, fail));

    const instances: Instance[] = [];
    const groups = new Map<string, Instance>();
    const fileBoxes: { shape: Shape; bbox: [number, number, number, number] }[] = [];
    const skipped = new Map<string, number>();
    for (const shape of parsed) {
      const where = `shapes[${shape.index}]`;
      if (shape.type === 'rectangle') {
        const bbox = rectangleBox(shape, width, height);
        if (bbox) {
          fileBoxes.push({ shape, bbox });
          seeLabel(shape.label);
        } else warnings.push(`${file}: ${where}: the rectangle has no area inside the ${width}x${height} image; skipped`);
        continue;
      }
      if (!maskTypes.has(shape.type)) {
        skipped.set(shape.type, (skipped.get(shape.type) ?? 0) + 1);
        continue;
      }
      let instance = shape.group === null ? undefined : groups.get(shape.group);
      if (!instance) {
        instance = { label: shape.label, parts: [] };
        instances.push(instance);
        if (shape.group !== null) groups.set(shape.group, instance);
      }
      const rle = await partRle(shape, width, height, fail);
      const { area, bbox } = rleMeasure(rle);
      if (area === 0) {
        warnings.push(`${file}: ${where}: the ${shape.type} covers no pixel of the ${width}x${height} image; skipped`);
        continue;
      }
      instance.parts.push({ rle, bbox });
      seeLabel(shape.label);
    }

    const grouped = fileBoxes.filter(({ shape }) => shape.group !== null && groups.has(shape.group)).length;
    if (grouped > 0) warnings.push(`${file}: ${grouped} rectangle shape(s) share a group_id with polygon, circle or mask shapes; each was kept as a box of its own`);
    for (const { shape, bbox } of fileBoxes) boxes.push({ imageKey, labelName: shape.label, bbox });
    for (const instance of instances) {
      if (instance.parts.length > 0) annotations.push(importedAnnotation(imageKey, instance.label, unionOfParts(instance.parts, width, height)));
    }
    for (const [type, count] of skipped) {
      warnings.push(`${file}: ${count} ${type} shape${count === 1 ? '' : 's'} skipped (${noArea.has(type) ? 'no area' : 'not a LabelMe shape type with an area'})`);
    }
  }
  return { labels, annotations, boxes, warnings };
};

/** The .json files under `folder`, depth first, each folder's entries in name order; hidden ones left out. */
function jsonFiles(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      // dot entries are tools' own (.git, macOS's ._ copies of every file, which are not JSON)
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      // symbolic links to folders are not followed: one pointing up would walk forever
      if (entry.isDirectory()) walk(path);
      else if (entry.name.toLowerCase().endsWith('.json') && (entry.isFile() || (entry.isSymbolicLink() && isFile(path)))) found.push(path);
    }
  };
  walk(folder);
  return found;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function readLabelmeFile(file: string): Json {
  const doc = readJson(file, 'a LabelMe file');
  if (!isObject(doc) || !Array.isArray(doc.shapes)) throw new Error(`${file}: not a LabelMe file (no "shapes" list)`);
  return doc;
}

type Fail = (where: string, problem: string) => Error;

function positiveInteger(doc: Json, key: string, fail: Fail): number {
  const v = doc[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw fail('', `"${key}" ${v === undefined ? 'is missing' : `is ${JSON.stringify(v)}, not an integer >= 1`}`);
  }
  return v;
}

function checkSize(file: string, imageKey: string, width: number, height: number, real: ImageSizeAnswer): void {
  if (real && (real.width !== width || real.height !== height)) {
    const where = real.of === 'file' ? 'in its file' : 'in the project';
    throw new Error(`image ${JSON.stringify(imageKey)} is ${width}x${height} in ${file} but ${real.width}x${real.height} ${where}`);
  }
  if (!real && width * height > MAX_IMAGE_PIXELS) {
    throw new Error(`image ${JSON.stringify(imageKey)} is ${width}x${height} in ${file}, more than the ${MAX_IMAGE_PIXELS} pixels an image may have`);
  }
}

function parseShape(shape: unknown, index: number, fail: Fail): Shape {
  const where = `shapes[${index}]`;
  if (!isObject(shape)) throw fail(where, 'not an object');
  const label = shape.label;
  if (typeof label !== 'string') throw fail(where, `"label" ${label === undefined ? 'is missing' : 'is not a string'}`);
  const problem = labelNameProblem(label);
  if (problem) throw fail(where, problem);
  // LabelMe before 4 wrote no shape_type: every shape was a polygon (LabelMe reads it so still)
  const type = shape.shape_type ?? 'polygon';
  if (typeof type !== 'string') throw fail(where, `"shape_type" is ${JSON.stringify(type)}, not a string`);
  const points = shape.points;
  if (!Array.isArray(points)) throw fail(where, `"points" ${points === undefined ? 'is missing' : 'is not a list'}`);
  points.forEach((p, j) => {
    if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw fail(where, `points[${j}] is ${JSON.stringify(p)}, not [x, y] (two finite numbers)`);
    }
  });
  const groupId = shape.group_id ?? null;
  if (groupId !== null && typeof groupId !== 'number' && typeof groupId !== 'string') {
    throw fail(where, `"group_id" is ${JSON.stringify(groupId)}, not a number, a string or null`);
  }
  const needs = pointsNeeded.get(type);
  if (needs && (points.length < needs.least || points.length > needs.most)) {
    throw fail(where, `a ${type} needs ${needs.what}, it has ${points.length} point(s)`);
  }
  return {
    index, label, type, points: points as [number, number][],
    group: groupId === null ? null : JSON.stringify([groupId, label]),
    mask: shape.mask,
  };
}

/** A rectangle's box in image pixels, its corners in any order, clamped to the image; null if nothing is left. */
function rectangleBox(shape: Shape, width: number, height: number): [number, number, number, number] | null {
  const xs = shape.points.map((p) => p[0]), ys = shape.points.map((p) => p[1]);
  const x0 = Math.max(0, Math.min(...xs)), y0 = Math.max(0, Math.min(...ys));
  const x1 = Math.min(width, Math.max(...xs)), y1 = Math.min(height, Math.max(...ys));
  return x1 > x0 && y1 > y0 ? [x0, y0, x1 - x0, y1 - y0] : null;
}

async function partRle(shape: Shape, width: number, height: number, fail: Fail): Promise<Rle> {
  const where = `shapes[${shape.index}]`;
  if (shape.type === 'polygon') {
    try {
      return rleOfPolygons([{ outer: shape.points.flat(), holes: [] }], width, height, 'pixel-index');
    } catch (err) {
      throw fail(where, (err as Error).message);
    }
  }
  if (shape.type === 'circle') return circleRle(shape.points, width, height);
  return maskShapeRle(shape, width, height, fail);
}

/** The pixels (x, y) within the radius of the centre, drawn in the circle's box alone. */
function circleRle(points: [number, number][], width: number, height: number): Rle {
  const [[cx, cy], [px, py]] = points as [[number, number], [number, number]];
  const r = Math.hypot(px - cx, py - cy);
  const x0 = Math.max(0, Math.ceil(cx - r)), x1 = Math.min(width - 1, Math.floor(cx + r));
  const y0 = Math.max(0, Math.ceil(cy - r)), y1 = Math.min(height - 1, Math.floor(cy + r));
  if (x1 < x0 || y1 < y0) return rleFromCrop({ x: 0, y: 0, width: 0, height: 0, data: new Uint8Array(0) }, width, height);
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  const data = new Uint8Array(w * h);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) data[(y - y0) * w + (x - x0)] = 1;
  }
  return rleFromCrop({ x: x0, y: y0, width: w, height: h, data }, width, height);
}

/** A `mask` shape's PNG placed at its first point, the part outside the image cut off. */
async function maskShapeRle(shape: Shape, width: number, height: number, fail: Fail): Promise<Rle> {
  const where = `shapes[${shape.index}]`;
  if (typeof shape.mask !== 'string' || shape.mask === '') throw fail(where, 'a mask shape needs "mask", a base64 PNG');
  let pixels: { data: Buffer; info: sharp.OutputInfo };
  try {
    pixels = await sharp(Buffer.from(shape.mask, 'base64'), { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw fail(where, `"mask" is not a readable base64 PNG (${(err as Error).message})`);
  }
  const { data, info } = pixels;
  // a PNG with alpha decodes with it last: only the other channels say inside or not
  const colours = info.channels === 2 || info.channels === 4 ? info.channels - 1 : info.channels;
  const [px, py] = shape.points[0]!;
  const left = Math.trunc(px), top = Math.trunc(py);
  const x0 = Math.max(0, left), y0 = Math.max(0, top);
  const x1 = Math.min(width, left + info.width), y1 = Math.min(height, top + info.height);
  if (x1 <= x0 || y1 <= y0) return rleFromCrop({ x: 0, y: 0, width: 0, height: 0, data: new Uint8Array(0) }, width, height);
  const w = x1 - x0, h = y1 - y0;
  const crop = new Uint8Array(w * h);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const at = ((y - top) * info.width + (x - left)) * info.channels;
      for (let c = 0; c < colours; c++) {
        if (data[at + c]! > 0) {
          crop[(y - y0) * w + (x - x0)] = 1;
          break;
        }
      }
    }
  }
  return rleFromCrop({ x: x0, y: y0, width: w, height: h, data: crop }, width, height);
}

/** The union of an instance's parts, painted from their runs into the box that holds them all. */
function unionOfParts(parts: Part[], width: number, height: number): Rle {
  if (parts.length === 1) return parts[0]!.rle;
  let x0 = Infinity, y0 = Infinity, x1 = 0, y1 = 0;
  for (const { bbox: [x, y, w, h] } of parts) {
    x0 = Math.min(x0, x); y0 = Math.min(y0, y);
    x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + h);
  }
  const w = x1 - x0, h = y1 - y0;
  const crop = new Uint8Array(w * h);
  for (const { rle } of parts) {
    forEachInsideRun(rle, (x, y, length) => {
      for (let k = 0; k < length; k++) crop[(y + k - y0) * w + (x - x0)] = 1;
    });
  }
  return rleFromCrop({ x: x0, y: y0, width: w, height: h, data: crop }, width, height);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
