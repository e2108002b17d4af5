/**
 * main/project: the project store. One SQLite file per project (better-sqlite3, WAL,
 * synchronous FULL, foreign keys on) with images, labels, annotations (masks as COCO RLE,
 * exactly, or box-only: a box waiting for its mask), the edit log behind undo/redo, the embedding cache and settings; schema migrations
 * in schema.ts. The only code that knows the SQL schema: others call its functions (readers.ts
 * for read-only use without opening a Project). Plain Node: imports main/formats, main/masks
 * and main/base, never electron. Tests in tests/project/.
 */
export {
  createProject, DEFAULT_EMBEDDING_BUDGET_BYTES, type ImportAnnotation, type ImportInput, type ImportResult, type LabelInput,
  openProject, Project,
} from './project.ts';
export { type DatasetImportReport, exportDataset, importDataset, type ImportOptions } from './dataset.ts';
export { type CalibrationBox, calibrationPrompts, projectImagePaths } from './readers.ts';
export { findImageFiles, type ScannedImage, scanImage, scanImages } from './scan.ts';
export { SCHEMA_VERSION } from './schema.ts';
export { IMAGE_STATUSES } from './types.ts';
export type * from './types.ts';
