/**
 * What the window is sent for each image: the file itself where Chromium draws it as the decoder
 * sees it (EXIF orientation applied to JPEG and PNG), an oriented PNG where it would not (a turned
 * WebP, TIFF), so the pixels drawn are the pixels the clicks and masks refer to.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageServer } from '../../main/services/images.ts';
import type { Project } from '../../main/project/index.ts';
import { openTempProject } from '../project/helpers.ts';

let dir: string;
let close: () => void;
let project: Project;
beforeEach(() => ({ dir, project, close } = openTempProject()));
afterEach(() => close());

/** A picture stored 20x40 (top half red) with EXIF orientation 6: shown 40x20, turned clockwise, red on the right. */
async function turned(file: string): Promise<string> {
  const raw = Buffer.alloc(20 * 40 * 3);
  for (let y = 0; y < 40; y++) for (let x = 0; x < 20; x++) raw.set(y < 20 ? [255, 0, 0] : [0, 0, 255], (y * 20 + x) * 3);
  let image = sharp(raw, { raw: { width: 20, height: 40, channels: 3 } });
  image = file.endsWith('.webp') ? image.webp({ lossless: true }) : file.endsWith('.png') ? image.png() : image.jpeg({ quality: 95 });
  await image.withMetadata({ orientation: 6 }).toFile(file);
  return file;
}

describe('the image server', () => {
  it('sends a turned WebP as an oriented PNG, and JPEG / PNG as they are', async () => {
    const files = await Promise.all(['t.webp', 't.jpg', 't.png'].map((n) => turned(join(dir, 'proj', n))));
    const { added } = await project.addImages(files);
    const server = new ImageServer();
    const served = await Promise.all(added.map((id) => server.serve(project, `full/${id}`)));
    expect(served.map((s) => s.mime)).toEqual(['image/png', 'image/jpeg', 'image/png']);
    expect(project.getImage(added[0]!)).toMatchObject({ width: 40, height: 20, exifOrientation: 6 });
    // the WebP as sent: 40x20, no orientation left to apply, red on the right as the decoder sees it
    const meta = await sharp(served[0]!.body).metadata();
    expect([meta.width, meta.height, meta.orientation ?? 1]).toEqual([40, 20, 1]);
    const { data } = await sharp(served[0]!.body).raw().toBuffer({ resolveWithObject: true });
    expect([...data.subarray((10 * 40 + 5) * 3, (10 * 40 + 5) * 3 + 3)]).toEqual([0, 0, 255]);
    expect([...data.subarray((10 * 40 + 35) * 3, (10 * 40 + 35) * 3 + 3)]).toEqual([255, 0, 0]);
  });
});
