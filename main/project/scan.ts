/**
 * Finding image files and reading what the store keeps about them (content hash, oriented size,
 * EXIF orientation). All of it is async file work done before any transaction opens.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { isImageFile } from '../base/index.ts';
import { MAX_IMAGE_PIXELS } from '../base/image-limits.ts';


export interface ScannedImage {
  /** absolute path */
  file: string;
  sha256: string | null;
  width: number | null;
  height: number | null;
  exifOrientation: number;
  error: string | null;
}

const byName = new Intl.Collator('en', { numeric: true }).compare;

function abortError(): Error {
  const err = new Error('adding images was cancelled; nothing was added');
  err.name = 'AbortError';
  return err;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

/**
 * Expands files and folders (recursively, hidden entries skipped, names in natural order) into
 * absolute image paths. Each real folder is walked once, so symlinked loops end. Files named
 * explicitly that are not images are reported, not thrown; a path that does not exist is an
 * error, before anything is read.
 */
export async function findImageFiles(
  inputs: string[],
  signal?: AbortSignal,
  onFolder?: (found: number, dir: string) => void,
): Promise<{ files: string[]; unsupported: string[] }> {
  const files: string[] = [];
  const unsupported: string[] = [];
  const kinds = await Promise.all(inputs.map(async (input) => {
    try {
      return (await stat(input)).isDirectory() ? 'dir' : 'file';
    } catch {
      throw new Error(`cannot add ${input}: no such file or folder`);
    }
  }));
  // Real paths of the folders already walked: a symlink back to a parent (or two links to one
  // folder) would otherwise list the same files again under ever longer paths until the OS's
  // symlink depth limit stops it.
  const visited = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    throwIfAborted(signal);
    const real = await realpath(dir);
    if (visited.has(real)) return;
    visited.add(real);
    const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
    entries.sort((a, b) => byName(a.name, b.name));
    for (const entry of entries) {
      const full = join(dir, entry.name);
      const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(full).catch(() => null))?.isDirectory());
      if (isDir) await walk(full);
      else if (isImageFile(entry.name)) files.push(full);
    }
    onFolder?.(files.length, dir);
  };
  for (const [i, input] of inputs.entries()) {
    const abs = resolve(input);
    if (kinds[i] === 'dir') await walk(abs);
    else if (isImageFile(abs)) files.push(abs);
    else unsupported.push(abs);
  }
  return { files, unsupported };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

interface Header {
  width: number;
  height: number;
  orientation: number;
}

/** libvips as shipped with sharp has no BMP loader, so the BMP header is read here. */
async function readBmpHeader(file: string): Promise<Header> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(26);
    const { bytesRead } = await handle.read(buf, 0, 26, 0);
    if (bytesRead < 26 || buf.toString('latin1', 0, 2) !== 'BM') throw new Error('not a BMP file');
    const width = buf.readInt32LE(18);
    const height = Math.abs(buf.readInt32LE(22)); // negative height = rows stored top-down
    if (width <= 0 || height <= 0) throw new Error(`BMP header gives size ${width}x${height}`);
    if (width * height > MAX_IMAGE_PIXELS) throw new Error(`${width}x${height} exceeds the pixel limit of ${MAX_IMAGE_PIXELS}`);
    return { width, height, orientation: 1 };
  } finally {
    await handle.close();
  }
}

async function readHeader(file: string): Promise<Header> {
  if (extname(file).toLowerCase() === '.bmp') return readBmpHeader(file);
  const meta = await sharp(file, { limitInputPixels: MAX_IMAGE_PIXELS }).metadata();
  if (!meta.width || !meta.height) throw new Error('no image size in the header');
  if (meta.width * meta.height > MAX_IMAGE_PIXELS) throw new Error(`${meta.width}x${meta.height} exceeds the pixel limit of ${MAX_IMAGE_PIXELS}`);
  return { width: meta.width, height: meta.height, orientation: meta.orientation ?? 1 };
}

/**
 * Hashes the file and reads its header. Failures do not throw: the image is kept with its error,
 * so the user sees a badge on it instead of a silently shorter list.
 */
export async function scanImage(file: string): Promise<ScannedImage> {
  let sha256: string;
  try {
    sha256 = await sha256File(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return { file, sha256: null, width: null, height: null, exifOrientation: 1, error: `cannot read the file (${code})` };
  }
  try {
    const { width, height, orientation } = await readHeader(file);
    const exifOrientation = Number.isInteger(orientation) && orientation >= 1 && orientation <= 8 ? orientation : 1;
    // orientations 5-8 rotate by 90 degrees: the image as shown is height x width of the stored pixels
    const swap = exifOrientation >= 5;
    return { file, sha256, width: swap ? height : width, height: swap ? width : height, exifOrientation, error: null };
  } catch (err) {
    const message = (err as Error).message.split('\n')[0];
    return { file, sha256, width: null, height: null, exifOrientation: 1, error: `cannot read the image header: ${message}` };
  }
}

/** Scans files with a few reads in flight, reporting progress in order of completion. */
export async function scanImages(
  files: string[],
  onScanned: (done: number, file: string) => void,
  signal?: AbortSignal,
  concurrency = 4,
): Promise<ScannedImage[]> {
  const results = new Array<ScannedImage>(files.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < files.length) {
      throwIfAborted(signal);
      const i = next++;
      results[i] = await scanImage(files[i]!);
      onScanned(++done, files[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  throwIfAborted(signal);
  return results;
}
