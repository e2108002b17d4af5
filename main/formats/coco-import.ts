/**
 * COCO instances import. Reads categories, images (their own width and height) and annotations
 * whose segmentation is compressed RLE ({size, counts: string}), uncompressed RLE ({size, counts:
 * number[]}, as COCO writes crowd regions) or a list of polygons (each rasterised at pixel
 * centres, the list unioned, as pycocotools does). Every mask comes back as canonical compressed
 * RLE, so a pycocotools string is kept exactly. The whole file is checked before anything is
 * returned: any malformed element throws an error naming the file and the element. Annotation
 * ids are optional (nothing refers to them), but an id given twice is refused as a repeated image
 * id is: the same instance would otherwise be stored twice.
 * Annotations without a segmentation (or an empty list) are boxes: their `bbox` [x, y, w, h] must
 * lie inside the image with a positive size, and they become box-only annotations. Annotations
 * with an empty mask are skipped with a warning.
 */
import {
  type Rle, canonicalRleCounts, checkRleCounts, rleArea, rleCountsFromString, rleOfPolygons, rleStringFromCounts,
} from '../masks/index.ts';
import { MAX_IMAGE_PIXELS } from '../base/image-limits.ts';
import { importedAnnotation, importTurn, labelNameProblem } from './imported.ts';
import { readTopLevelLists } from './json-lists.ts';
import type { ImportedAnnotation, ImportedBox, Importer } from './types.ts';

interface CocoImage { key: string; width: number; height: number }

type Json = Record<string, unknown>;

export const importCoco: Importer = async (from, ctx) => {
  const fail = (where: string, problem: string) => new Error(`${from}: ${where}: ${problem}`);
  // Read in two passes over the file, its lists one element at a time (json-lists.ts): a COCO file
  // may be larger than one string can be, and its categories usually come after its annotations.
  // The app's main process answers between chunks and annotations (its window, a cancel). The
  // first pass, a scan for the categories and images, is about a tenth of the time.
  const readFraction = (pass: 0 | 1) => async (read: number, size: number) => {
    ctx.onRead?.(pass === 0 ? 0.1 * (read / size) : 0.1 + 0.9 * (read / size));
    await importTurn(from, ctx);
  };
  const lists: Record<'categories' | 'images', unknown[]> = { categories: [], images: [] };
  const { kinds } = await readTopLevelLists(from, 'the COCO annotations file', ['categories', 'images'], (key, _, value) => {
    lists[key as 'categories' | 'images'].push(value);
  }, { between: readFraction(0) });
  for (const key of ['categories', 'images', 'annotations']) {
    if (kinds.get(key) !== 'list') throw new Error(`${from}: not a COCO instances file ("${key}" is ${kinds.has(key) ? 'not a list' : 'missing'})`);
  }
  const warnings: string[] = [];

  const labels: string[] = [];
  const categoryName = new Map<number, string>();
  lists.categories.forEach((c, i) => {
    const where = `categories[${i}]`;
    const id = integerField(c, 'id', where, fail);
    const name = stringField(c, 'name', where, fail);
    const problem = labelNameProblem(name);
    if (problem) throw fail(where, problem);
    if (categoryName.has(id)) throw fail(where, `category id ${id} appears twice`);
    categoryName.set(id, name);
    if (labels.includes(name)) warnings.push(`${from}: ${where}: a second category named "${name}"; its annotations join the first`);
    else labels.push(name);
  });

  const images = new Map<number, CocoImage>();
  lists.images.forEach((img, i) => {
    const where = `images[${i}]`;
    const id = integerField(img, 'id', where, fail);
    if (images.has(id)) throw fail(where, `image id ${id} appears twice`);
    const key = stringField(img, 'file_name', where, fail);
    const width = integerField(img, 'width', where, fail, 1);
    const height = integerField(img, 'height', where, fail, 1);
    images.set(id, { key, width, height });
  });

  // Declared sizes are checked against the real image before any mask is drawn at that size: a
  // file may claim 50000x50000 for a small picture, and its polygons would be rasterised at it.
  const skipped = new Set<number>();
  for (const [id, img] of images) {
    const real = await ctx.imageSize(img.key);
    if (real && (real.width !== img.width || real.height !== img.height)) {
      skipped.add(id);
      const where = real.of === 'file' ? 'in its file' : 'in the project';
      warnings.push(`image ${JSON.stringify(img.key)} is ${img.width}x${img.height} in ${from} but ${real.width}x${real.height} ${where}; its annotations were not imported`);
    } else if (!real && img.width * img.height > MAX_IMAGE_PIXELS) {
      skipped.add(id);
      warnings.push(`image ${JSON.stringify(img.key)} is ${img.width}x${img.height} in ${from}, more than the ${MAX_IMAGE_PIXELS} pixels an image may have; its annotations were not imported`);
    }
  }

  const annotations: ImportedAnnotation[] = [];
  const boxes: ImportedBox[] = [];
  const annotationIds = new Set<number>();
  await readTopLevelLists(from, 'the COCO annotations file', ['annotations'], async (_, i, ann) => {
    // a large file's polygons take seconds to draw
    await importTurn(from, ctx);
    const where = `annotations[${i}]`;
    if (isObject(ann) && ann.id !== undefined) {
      const id = integerField(ann, 'id', where, fail);
      if (annotationIds.has(id)) throw fail(where, `annotation id ${id} appears twice`);
      annotationIds.add(id);
    }
    const imageId = integerField(ann, 'image_id', where, fail);
    const image = images.get(imageId);
    if (!image) throw fail(where, `image_id ${imageId} is not the id of any image`);
    const categoryId = integerField(ann, 'category_id', where, fail);
    const labelName = categoryName.get(categoryId);
    if (labelName === undefined) throw fail(where, `category_id ${categoryId} is not the id of any category`);
    if (skipped.has(imageId)) return;
    // a crowd region marks people or things too many to outline, which COCO's evaluation ignores:
    // stored as an instance it would come back out as one (iscrowd 0) and be trained on
    if ((ann as Json).iscrowd === 1) {
      warnings.push(`${from}: ${where}: iscrowd 1 (a crowd region) is not imported: a project holds instances only`);
      return;
    }
    const rle = segmentationRle((ann as Json).segmentation, image, `${where}.segmentation`, fail);
    if (rle === null) {
      const bbox = boxField((ann as Json).bbox, image, `${where}.bbox`, fail);
      boxes.push({ imageKey: image.key, labelName, bbox });
    } else if (rleArea(rle) === 0) {
      warnings.push(`${from}: ${where}: the mask is empty; skipped`);
    } else {
      annotations.push(importedAnnotation(image.key, labelName, rle));
    }
  }, { between: readFraction(1) });
  return { labels, annotations, boxes, warnings };
};

/** A bbox-only annotation's box: four finite numbers [x, y, w, h], positive size, inside the image. */
function boxField(bbox: unknown, image: CocoImage, where: string, fail: Fail): [number, number, number, number] {
  if (bbox === undefined) throw fail(where, 'missing: an annotation needs a segmentation or a bbox');
  if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw fail(where, `${JSON.stringify(bbox)} is not [x, y, width, height] (four numbers)`);
  }
  const [x, y, w, h] = bbox as [number, number, number, number];
  if (!(w > 0 && h > 0)) throw fail(where, `${JSON.stringify(bbox)} has no area (width and height must be positive)`);
  if (x < 0 || y < 0 || x + w > image.width || y + h > image.height) {
    throw fail(where, `${JSON.stringify(bbox)} lies outside the ${image.width}x${image.height} image ${JSON.stringify(image.key)}`);
  }
  return [x, y, w, h];
}

type Fail = (where: string, problem: string) => Error;

function segmentationRle(seg: unknown, image: CocoImage, where: string, fail: Fail): Rle | null {
  if (seg === undefined || seg === null || (Array.isArray(seg) && seg.length === 0)) return null;
  if (Array.isArray(seg)) {
    const polygons = seg.map((ring, j) => {
      if (!Array.isArray(ring) || ring.length < 6 || ring.length % 2 !== 0 || !ring.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw fail(`${where}[${j}]`, 'a polygon must be a list of an even number (at least 6) of numbers');
      }
      return { outer: ring as number[], holes: [] };
    });
    return rleOfPolygons(polygons, image.width, image.height);
  }
  if (!isObject(seg)) throw fail(where, 'neither a list of polygons nor an RLE object');
  const size = seg.size;
  if (!Array.isArray(size) || size.length !== 2 || size[0] !== image.height || size[1] !== image.width) {
    throw fail(where, `size ${JSON.stringify(size)} is not the image's [height, width] [${image.height}, ${image.width}]`);
  }
  let counts: number[];
  if (typeof seg.counts === 'string') {
    try {
      counts = rleCountsFromString(seg.counts);
    } catch (err) {
      throw fail(where, (err as Error).message);
    }
  } else if (Array.isArray(seg.counts) && seg.counts.every((c) => typeof c === 'number')) {
    counts = seg.counts as number[];
  } else {
    throw fail(where, 'counts is neither a compressed RLE string nor a list of run lengths');
  }
  try {
    checkRleCounts(counts, [image.height, image.width], 'RLE');
  } catch (err) {
    throw fail(where, (err as Error).message);
  }
  return { size: [image.height, image.width], counts: rleStringFromCounts(canonicalRleCounts(counts)) };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function integerField(obj: unknown, key: string, where: string, fail: Fail, min = Number.MIN_SAFE_INTEGER): number {
  if (!isObject(obj)) throw fail(where, 'not an object');
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw fail(where, `"${key}" ${v === undefined ? 'is missing' : `is ${JSON.stringify(v)}, not an integer${min > 0 ? ` >= ${min}` : ''}`}`);
  }
  return v;
}

function stringField(obj: unknown, key: string, where: string, fail: Fail): string {
  if (!isObject(obj)) throw fail(where, 'not an object');
  const v = obj[key];
  if (typeof v !== 'string' || v.length === 0) throw fail(where, `"${key}" ${v === undefined ? 'is missing' : 'is not a non-empty string'}`);
  return v;
}
