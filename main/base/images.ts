import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';

/** The image files the app reads (by extension; the decoder then checks the content). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.bmp']);

export function isImageFile(path: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(path).toLowerCase());
}

/** The image files directly inside a folder, sorted by name; errors name the folder. */
export function listImageFiles(dir: string): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    names = readdirSync(dir);
  } catch (err) {
    throw new Error(`${dir}: cannot read image folder (${(err as Error).message})`);
  }
  const files = names.filter(isImageFile).sort().map((n) => join(dir, n));
  if (files.length === 0) throw new Error(`${dir}: no images (expected ${[...IMAGE_EXTENSIONS].join(', ')} files)`);
  return files;
}
