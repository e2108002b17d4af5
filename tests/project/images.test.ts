import { cpSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exporters } from '../../main/formats/index.ts';
import { exportDataset, openProject, type AddImagesProgress, type Project } from '../../main/project/index.ts';
import { openTempProject, rectRle, writeImage } from './helpers.ts';

let dir: string;
let close: () => void;
let project: Project;
beforeEach(() => ({ dir, project, close } = openTempProject()));
afterEach(() => close());

describe('adding images', () => {
  it('adds a folder recursively in natural name order with oriented sizes, hashes and progress', async () => {
    const root = join(dir, 'proj', 'images');
    await writeImage(join(root, 'img10.png'), 10, 8);
    await writeImage(join(root, 'img2.jpg'), 12, 8);
    await writeImage(join(root, 'sub', 'b.webp'), 6, 4);
    writeFileSync(join(root, 'notes.txt'), 'not an image');
    const progress: AddImagesProgress[] = [];
    const result = await project.addImages([root], { onProgress: (p) => progress.push(p) });
    expect(result.added).toEqual([1, 2, 3]);
    const reads = progress.filter((p) => p.phase === 'read');
    expect(reads.map((p) => p.done).sort()).toEqual([1, 2, 3]);
    expect(reads.every((p) => p.total === 3)).toBe(true);
    expect(progress.filter((p) => p.phase === 'scan').at(-1)).toEqual({ phase: 'scan', done: 3, total: 0, path: root });
    const page = project.listImages();
    expect(page.items.map((i) => [i.path, i.width, i.height])).toEqual([
      ['images/img2.jpg', 12, 8], ['images/img10.png', 10, 8], ['images/sub/b.webp', 6, 4],
    ]);
    expect(page.items.every((i) => /^[0-9a-f]{64}$/.test(i.sha256!))).toBe(true);
  });

  it('an EXIF orientation that rotates by 90 degrees swaps the stored width and height', async () => {
    const file = await writeImage(join(dir, 'rotated.jpg'), 30, 10, 90, 6);
    await project.addImages([file]);
    expect(project.getImage(1)).toMatchObject({ width: 10, height: 30, exifOrientation: 6 });
  });

  it('a corrupt image is added with an error badge instead of being dropped', async () => {
    await writeImage(join(dir, 'in', 'good.png'), 4, 4);
    writeFileSync(join(dir, 'in', 'broken.png'), 'this is not a png');
    const result = await project.addImages([join(dir, 'in')]);
    expect(result.added).toHaveLength(2);
    expect(result.unreadable).toEqual([{ path: join(dir, 'in', 'broken.png'), error: expect.stringMatching(/^cannot read the image header: /) }]);
    const broken = project.listImages().items.find((i) => i.path.endsWith('broken.png'))!;
    expect(broken).toMatchObject({ width: null, height: null, error: expect.stringMatching(/cannot read the image header/) });
    expect(project.stats().imagesWithErrors).toBe(1);
  });

  it('a BMP file is added with the size from its header', async () => {
    const header = Buffer.alloc(54);
    header.write('BM', 0, 'latin1');
    header.writeInt32LE(7, 18);
    header.writeInt32LE(-5, 22);
    writeFileSync(join(dir, 'a.bmp'), header);
    await project.addImages([join(dir, 'a.bmp')]);
    expect(project.getImage(1)).toMatchObject({ width: 7, height: 5, error: null });
  });

  it('adding paths already in the project skips and reports them', async () => {
    const file = await writeImage(join(dir, 'a.png'), 4, 4);
    await project.addImages([file]);
    const again = await project.addImages([file, dir]);
    expect(again.added).toEqual([]);
    expect(again.duplicates).toEqual([file, file]);
    expect(project.stats().images).toBe(1);
  });

  it('a file given by name that is not an image is reported as unsupported', async () => {
    writeFileSync(join(dir, 'readme.txt'), 'x');
    const result = await project.addImages([join(dir, 'readme.txt')]);
    expect(result).toMatchObject({ added: [], unsupported: [join(dir, 'readme.txt')] });
  });

  it('a path that does not exist is an error and adds nothing', async () => {
    const file = await writeImage(join(dir, 'a.png'), 4, 4);
    await expect(project.addImages([file, join(dir, 'missing')])).rejects.toThrow(`cannot add ${join(dir, 'missing')}: no such file or folder`);
    expect(project.stats().images).toBe(0);
  });

  it('an add cancelled while reading changes nothing', async () => {
    for (let i = 0; i < 6; i++) await writeImage(join(dir, 'many', `${i}.png`), 4, 4);
    const controller = new AbortController();
    const adding = project.addImages([join(dir, 'many')], { signal: controller.signal, onProgress: (p) => p.phase === 'read' && p.done === 2 && controller.abort() });
    await expect(adding).rejects.toThrow(/cancelled; nothing was added/);
    expect(project.stats().images).toBe(0);
  });
});

describe('listing and status', () => {
  it('lists a page of images with annotation counts, filtered by status and by label', async () => {
    for (let i = 0; i < 5; i++) await writeImage(join(dir, 'proj', `${i}.png`), 8, 8);
    await project.addImages([join(dir, 'proj')]);
    const cat = project.addLabel({ name: 'cat' });
    const dog = project.addLabel({ name: 'dog' });
    project.addAnnotation({ imageId: 2, labelId: cat.id, rle: rectRle(8, 8, [0, 0, 2, 2]) });
    project.addAnnotation({ imageId: 2, labelId: dog.id, rle: rectRle(8, 8, [4, 4, 2, 2]) });
    project.addAnnotation({ imageId: 4, labelId: dog.id, rle: rectRle(8, 8, [1, 1, 2, 2]) });
    project.setImageStatus(4, 'done');
    const page = project.listImages({ offset: 1, limit: 3 });
    expect(page.total).toBe(5);
    expect(page.items.map((i) => [i.id, i.annotationCount])).toEqual([[2, 2], [3, 0], [4, 1]]);
    expect(project.listImages({ status: 'done' }).items.map((i) => i.id)).toEqual([4]);
    expect(project.listImages({ labelId: dog.id })).toMatchObject({ total: 2, items: [{ id: 2 }, { id: 4 }] });
  });

  it('an unknown status is refused', async () => {
    await project.addImages([await writeImage(join(dir, 'a.png'), 4, 4)]);
    expect(() => project.setImageStatus(1, 'finished' as never)).toThrow('image status "finished" is not one of new, in_progress, done, skipped');
  });

  it('a mask whose size differs from its image is refused', async () => {
    await project.addImages([await writeImage(join(dir, 'a.png'), 8, 6)]);
    const label = project.addLabel({ name: 'cat' });
    expect(() => project.addAnnotation({ imageId: 1, labelId: label.id, rle: rectRle(6, 8, [0, 0, 1, 1]) }))
      .toThrow(/mask is 6x8 but image .*a\.png is 8x6/);
  });
});

describe('finding images after a move', () => {
  it('images inside a moved project folder are found through their relative paths', async () => {
    await writeImage(join(dir, 'proj', 'images', 'a.png'), 4, 4);
    await project.addImages([join(dir, 'proj', 'images')]);
    project.close();
    renameSync(join(dir, 'proj'), join(dir, 'moved'));
    project = openProject(join(dir, 'moved', 'p.db'));
    expect(project.getImage(1).path).toBe('images/a.png');
    expect(project.resolveImagePath(1)).toBe(join(dir, 'moved', 'images', 'a.png'));
  });

  it('images outside the project folder are found when both moved together', async () => {
    await writeImage(join(dir, 'data', 'photos', 'a.png'), 4, 4);
    await project.addImages([join(dir, 'data', 'photos', 'a.png')]);
    expect(project.getImage(1).path).toBe(join(dir, 'data', 'photos', 'a.png'));
    project.close();
    const newRoot = `${dir}-elsewhere`;
    renameSync(dir, newRoot);
    try {
      project = openProject(join(newRoot, 'proj', 'p.db'));
      expect(project.resolveImagePath(1)).toBe(join(newRoot, 'data', 'photos', 'a.png'));
    } finally {
      project.close();
      renameSync(newRoot, dir);
      project = openProject(join(dir, 'proj', 'p.db'));
    }
  });

  it('an image whose absolute folder is gone is found under the project folder when its content matches', async () => {
    await writeImage(join(dir, 'outside', 'photos', 'a.png'), 4, 4, 10);
    await project.addImages([join(dir, 'outside', 'photos', 'a.png')]);
    cpSync(join(dir, 'outside', 'photos'), join(dir, 'proj', 'photos'), { recursive: true });
    rmSync(join(dir, 'outside'), { recursive: true });
    expect(project.resolveImagePath(1)).toBe(join(dir, 'proj', 'photos', 'a.png'));
  });

  it('a different file at a guessed place is not taken for the image', async () => {
    await writeImage(join(dir, 'outside', 'photos', 'a.png'), 4, 4, 10);
    await project.addImages([join(dir, 'outside', 'photos', 'a.png')]);
    rmSync(join(dir, 'outside'), { recursive: true });
    mkdirSync(join(dir, 'proj', 'photos'), { recursive: true });
    await writeImage(join(dir, 'proj', 'photos', 'a.png'), 4, 4, 200);
    expect(project.resolveImagePath(1)).toBeNull();
  });

  it('finds an image by the path it was added with, absolute or relative to the project file', async () => {
    await writeImage(join(dir, 'proj', 'images', 'a.png'), 4, 4);
    await project.addImages([join(dir, 'proj', 'images', 'a.png')]);
    expect(project.findImageByPath(join(dir, 'proj', 'images', 'a.png'))?.id).toBe(1);
    expect(project.findImageByPath('images/a.png')?.id).toBe(1);
    expect(project.findImageByPath('images/b.png')).toBeNull();
  });
});

describe('exporting', () => {
  it('an image whose file disappeared is still exported and named in a note', async () => {
    const file = await writeImage(join(dir, 'proj', 'a.png'), 8, 8);
    await project.addImages([file]);
    const label = project.addLabel({ name: 'cat' });
    project.addAnnotation({ imageId: 1, labelId: label.id, rle: rectRle(8, 8, [1, 1, 3, 3]) });
    rmSync(file);
    const out = join(dir, 'out');
    mkdirSync(out);
    const report = await exportDataset(project, exporters.coco, { outDir: out });
    expect(report).toMatchObject({ images: 1, annotations: 1, skipped: [] });
    expect(report.notes).toEqual(['image file_names: 1 relative to the project folder', '1 image file(s) could not be found (their annotations were exported): a.png']);
  });
});
