/**
 * main/base: the few file-system helpers every other folder of main/ shares — output folders
 * and files that appear whole or not at all, folder sizes, file hashes, and the image file
 * extensions the app reads. It imports nothing from the rest of main/ (the bottom of the layering; README
 * "Layout"); tests in tests/base/.
 */
export { moveDir, withAtomicDir, writeFileAtomic, OutputExistsError, checkEmptyOutputDir, checkFolderAbove } from './atomic.ts';
export { dirBytes } from './sizes.ts';
export { fileSha256 } from './hash.ts';
export { IMAGE_EXTENSIONS, isImageFile, listImageFiles } from './images.ts';
