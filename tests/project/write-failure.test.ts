import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProject, openProject } from '../../main/project/index.ts';
import { rectRle, tempDir, writeImage } from './helpers.ts';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('project-write-')));
afterEach(() => cleanup());

describe('a write that fails part-way', () => {
  it('reports disk full or write failed naming the project, and leaves the project unchanged', async () => {
    const db = join(dir, 'p.db');
    const project = createProject(db);
    const first = await writeImage(join(dir, 'first.png'), 64, 64);
    await project.addImages([first]);
    const label = project.addLabel({ name: 'cat' });
    project.addAnnotation({ imageId: 1, labelId: label.id, rle: rectRle(64, 64, [1, 2, 3, 4]) });
    const before = project.stats();
    project.close(); // checkpoints the WAL into the file: the file holds everything now

    const images = join(dir, 'bulk');
    mkdirSync(images);
    for (let i = 0; i < 200; i++) copyFileSync(first, join(images, `image-with-a-long-name-to-take-room-${String(i).padStart(4, '0')}.png`));
    // room for the file as it is plus a little: the import needs far more (its WAL frames)
    const limitBlocks = Math.ceil(statSync(db).size / 1024) + 48;
    const child = spawnSync('bash', ['-c', `ulimit -f ${limitBlocks}; exec "$0" --import tsx "$@"`, process.execPath,
      join(import.meta.dirname, 'write-child.ts'), db, images], { encoding: 'utf8' });

    expect(child.status, child.stderr).toBe(3);
    expect(child.stderr).toContain(`disk full or write failed: ${db} (SQLITE_`);
    expect(child.stderr).toContain('the project is unchanged');

    const after = openProject(db);
    expect(after.checkIntegrity()).toBe('ok');
    expect(after.stats()).toEqual(before);
    after.close();
  });
});
