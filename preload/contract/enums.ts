/**
 * Every enumeration the app, the CLI and the quantizer share, each declared once as a value (the
 * list the UI offers and the validators accept) with its type derived from it.
 */

/** Quantization settings: weight and activation bits (w8a8 = 8-bit weights, 8-bit activations). */
export const QUANT_BITS = ['w8a8', 'w6a6', 'w4a4'] as const;
export type QuantBits = (typeof QUANT_BITS)[number];

/** The bit widths each setting stands for. */
export const BIT_SETTINGS: Record<QuantBits, { w: number; a: number }> = { w8a8: { w: 8, a: 8 }, w6a6: { w: 6, a: 6 }, w4a4: { w: 4, a: 4 } };

/** The quantizer's calibration methods; ptq4sam is the paper's, the others are its baselines. */
export const QUANT_METHODS = ['ptq4sam', 'minmax', 'percentile', 'omse', 'gptq'] as const;
export type QuantMethod = (typeof QUANT_METHODS)[number];

export const EXPORT_FORMATS = ['coco', 'coco-polygons', 'yolo', 'voc', 'labelme'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The dataset formats `project import` and the Import dialog read. */
export const IMPORT_FORMATS = ['coco', 'yolo', 'labelme'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

export const IMAGE_STATUSES = ['new', 'in_progress', 'done', 'skipped'] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

/** The first-run setup's steps, in the order they run. */
export const SETUP_STEPS = ['download', 'build', 'quantize', 'eval', 'activate'] as const;
export type SetupStep = (typeof SETUP_STEPS)[number];

/** How a catalog entry ships: one PyTorch checkpoint, or an encoder and decoder ONNX pair. */
export const CATALOG_FORMATS = ['pth', 'onnx-pair'] as const;
export type CatalogFormat = (typeof CATALOG_FORMATS)[number];

/** The keys a label can be bound to. */
export const LABEL_HOTKEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;
export type LabelHotkey = (typeof LABEL_HOTKEYS)[number];

/** What deleting a label still in use does: refuse, or delete its annotations with it. */
export const LABEL_DELETE_MODES = ['refuse', 'delete-annotations', 'reassign'] as const;
export type LabelDeleteMode = (typeof LABEL_DELETE_MODES)[number];

/** The application menu's commands, sent to the window as 'menu' events (main only sends them: no list to check against). */
export type MenuCommand = 'project-new' | 'project-open' | 'images-add' | 'folder-add' | 'import' | 'export' | 'undo' | 'redo' | 'models' | 'shortcuts';
