/**
 * main/formats: dataset exporters and importers over plain data (types.ts), one file per format,
 * chosen through the tables below. Exporters stream images in, write into an existing empty
 * folder and return a report of what they wrote, skipped and changed; importers check a whole
 * file before returning masks as canonical COCO RLE (and boxes without masks, from detection data). No SQLite here: main/project wires these to
 * the store. Uses main/masks for all mask maths; tests in tests/formats/. A COCO file is read a
 * chunk and an element at a time (json-lists.ts): it may be longer than one string can be.
 */
import { exportCocoPolygons, exportCocoRle } from './coco.ts';
import { importCoco } from './coco-import.ts';
import { exportLabelme } from './labelme.ts';
import { importLabelme } from './labelme-import.ts';
import type { ExportFormat, ImportFormat } from '../../preload/contract/enums.ts';
import type { Exporter, Importer } from './types.ts';
import { exportVoc } from './voc.ts';
import { exportYolo } from './yolo.ts';
import { importYolo } from './yolo-import.ts';

export const exporters = {
  coco: exportCocoRle,
  'coco-polygons': exportCocoPolygons,
  yolo: exportYolo,
  voc: exportVoc,
  labelme: exportLabelme,
} satisfies Record<ExportFormat, Exporter>;

export const importers = {
  coco: importCoco,
  yolo: importYolo,
  labelme: importLabelme,
} satisfies Record<ImportFormat, Importer>;

export type { ExportFormat, ImportFormat };

export { defaultPolygonTolerancePx, imageStem } from './common.ts';
export { vocPalette } from './voc.ts';
export type * from './types.ts';
