/**
 * Serving the open project's image files to the renderer (behind the app's image protocol, or
 * the test harness's route): only images of the open project, by id; formats Chromium cannot
 * decode and thumbnails go through sharp. Plain Node, so both hosts share it.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS } from '../base/image-limits.ts';
import type { Project } from '../project/index.ts';

export interface ServedImage { status: number; mime: string; body: Uint8Array }

const NATIVE_MIME: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.bmp': 'image/bmp', '.gif': 'image/gif',
};
/** formats whose EXIF orientation Chromium applies when it draws them */
const ORIENTED_BY_CHROMIUM = new Set(['.png', '.jpg', '.jpeg']);
const THUMB_PX = 160;
const THUMB_CACHE_ENTRIES = 2000;

function text(status: number, message: string): ServedImage {
  return { status, mime: 'text/plain', body: new TextEncoder().encode(message) };
}

export class ImageServer {
  #thumbs = new Map<string, Uint8Array>();

  /** `rest` is what follows the URL base: 'full/<id>' or 'thumb/<id>' */
  async serve(project: Project | null, rest: string): Promise<ServedImage> {
    const m = /^(full|thumb)\/(\d+)$/.exec(rest);
    if (!m) return text(404, 'not an image URL');
    if (!project) return text(404, 'no project is open');
    const id = Number(m[2]);
    let file: string | null;
    try {
      file = project.resolveImagePath(id);
    } catch {
      return text(404, `no image ${id} in this project`);
    }
    if (!file) return text(404, `image ${id}: file not found`);
    try {
      if (m[1] === 'thumb') return { status: 200, mime: 'image/jpeg', body: await this.#thumb(file) };
      const ext = extname(file).toLowerCase();
      const native = NATIVE_MIME[ext];
      // Chromium turns JPEGs and PNGs by their EXIF orientation as the decoder does, but not WebP:
      // a turned WebP goes out as an oriented PNG, or clicks would land in another frame
      const turned = !ORIENTED_BY_CHROMIUM.has(ext) && project.getImage(id).exifOrientation > 1;
      if (native && !turned) return { status: 200, mime: native, body: new Uint8Array(await readFile(file)) };
      // TIFF and friends: oriented PNG
      return { status: 200, mime: 'image/png', body: new Uint8Array(await sharp(file, { limitInputPixels: MAX_IMAGE_PIXELS }).rotate().png({ compressionLevel: 1 }).toBuffer()) };
    } catch (err) {
      return text(415, `${file}: ${(err as Error).message}`);
    }
  }

  async #thumb(file: string): Promise<Uint8Array> {
    const hit = this.#thumbs.get(file);
    if (hit) return hit;
    const body = new Uint8Array(await sharp(file, { limitInputPixels: MAX_IMAGE_PIXELS }).rotate().resize(THUMB_PX, THUMB_PX, { fit: 'inside' }).jpeg({ quality: 70 }).toBuffer());
    if (this.#thumbs.size >= THUMB_CACHE_ENTRIES) this.#thumbs.delete(this.#thumbs.keys().next().value!);
    this.#thumbs.set(file, body);
    return body;
  }
}
