import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findImageFiles, type Project } from '../../main/project/index.ts';
import { openTempProject, writeImage } from './helpers.ts';

let dir: string;
let close: () => void;
let project: Project;
beforeEach(() => ({ dir, project, close } = openTempProject()));
afterEach(() => close());

describe('folders with symlinks', () => {
  it('a symlink back to a parent folder is walked once, so each file is added once', async () => {
    const root = join(dir, 'photos');
    await writeImage(join(root, 'a.png'), 4, 4);
    await writeImage(join(root, 'sub', 'x.png'), 4, 4);
    symlinkSync('..', join(root, 'sub', 'up'));
    const { files } = await findImageFiles([root]);
    expect(files).toEqual([join(root, 'a.png'), join(root, 'sub', 'x.png')]);
    const result = await project.addImages([root]);
    expect(result.added).toHaveLength(2);
    expect(project.listImages().items.map((i) => i.path).sort()).toEqual([join(root, 'a.png'), join(root, 'sub', 'x.png')]);
  });

  it('two links to one folder list its files once', async () => {
    const root = join(dir, 'in');
    await writeImage(join(dir, 'shared', 'y.png'), 4, 4);
    mkdirSync(root);
    symlinkSync(join(dir, 'shared'), join(root, 'one'));
    symlinkSync(join(dir, 'shared'), join(root, 'two'));
    expect((await findImageFiles([root])).files).toEqual([join(root, 'one', 'y.png')]);
  });
});
