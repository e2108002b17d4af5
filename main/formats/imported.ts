/** What the importers share: annotations that hold RLE and decode on demand, and file reading with clear errors. */
import { readFileSync } from 'node:fs';
import { type Polygon, type Rle, maskFromPolygons, maskFromRle, rleFromMask } from '../masks/index.ts';
import type { ImportedAnnotation } from './types.ts';

export function importedAnnotation(imageKey: string, labelName: string, rle: Rle): ImportedAnnotation {
  return {
    imageKey,
    labelName,
    rle,
    get mask() {
      return maskFromRle(rle);
    },
  };
}

/** Rasterises polygons at a size straight to RLE, so only one full-size mask exists at a time. */
export function rleOfPolygons(polygons: Polygon[], width: number, height: number): Rle {
  return rleFromMask(maskFromPolygons(polygons, width, height));
}

export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read ${what} (${code === 'ENOENT' ? 'no such file' : code ?? String(err)})`);
  }
}
