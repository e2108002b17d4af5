/**
 * main/masks: mask maths, pure and synchronous. COCO RLE bit-identical to pycocotools (the store's
 * exact form of every mask), polygons with holes and several parts (tracing, simplification,
 * rasterising), bbox, area, the raster edits the tools make (union, subtract, brush), and the
 * distance transform (a mask's most interior pixel).
 * Imports nothing outside this folder and no I/O; tests in tests/masks/.
 */
export {
  type BinaryMask, emptyMask, maskArea, maskBbox, maskIntersect, maskSubtract, maskUnion, paintBrushStroke,
} from './binary.ts';
export {
  type Rle, canonicalRleCounts, checkRleCounts, forEachInsideRun, maskFromRle, rleArea, rleBbox, rleCountsFromString, rleFromCrop, rleFromMask, rleFromPositive,
  rleMeasure, rleStringFromCounts,
} from './rle.ts';
export { type Polygon, maskFromPixelIndexPolygons, maskFromPolygons, pixelIndexRing, polygonsFromMask, polygonsFromRle, rleOfPolygons } from './polygons.ts';
export { distanceToEdge, mostInteriorPixel } from './distance.ts';
