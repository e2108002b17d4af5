/** Shared set-up for the project store tests: temporary folders, tiny real images, masks. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { rleFromMask, type Rle } from '../../main/masks/index.ts';
import { createProject, type Project } from '../../main/project/index.ts';

export function tempDir(prefix = 'project-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A new project file in a new temporary folder; `close` closes the project and removes the folder. */
export function openTempProject(): { dir: string; project: Project; close: () => void } {
  const { dir, cleanup } = tempDir();
  const project = createProject(join(dir, 'proj', 'p.db'));
  return { dir, project, close: () => { project.close(); cleanup(); } };
}

/** Writes a small real PNG (or another format by extension) of the given size and shade. */
export async function writeImage(file: string, width: number, height: number, shade = 128, exifOrientation?: number): Promise<string> {
  mkdirSync(dirname(file), { recursive: true });
  let image = sharp({ create: { width, height, channels: 3, background: { r: shade, g: 255 - shade, b: 64 } } });
  if (file.endsWith('.jpg')) image = image.jpeg();
  else if (file.endsWith('.webp')) image = image.webp();
  else image = image.png();
  if (exifOrientation) image = image.withMetadata({ orientation: exifOrientation });
  await image.toFile(file);
  return file;
}

/** An RLE of a width x height mask with the rectangle [x, y, w, h] inside. */
export function rectRle(width: number, height: number, [x, y, w, h]: [number, number, number, number]): Rle {
  const data = new Uint8Array(width * height);
  for (let r = y; r < y + h; r++) for (let c = x; c < x + w; c++) data[r * width + c] = 1;
  return rleFromMask({ width, height, data });
}
