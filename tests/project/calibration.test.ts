/** calibrationPrompts: the boxes a project already holds, read-only, for the quantizer. */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { calibrationPrompts, createProject } from '../../main/project/index.ts';
import { rectRle, tempDir, writeImage } from './helpers.ts';

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => { tmp = tempDir('calibration-prompts-'); });
afterEach(() => tmp.cleanup());

describe('calibrationPrompts', () => {
  it('gives every annotation\'s box as [x0, y0, x1, y1] by absolute image path, in annotation order, and changes nothing', async () => {
    const db = join(tmp.dir, 'p.sqlite');
    const project = createProject(db);
    const a = await writeImage(join(tmp.dir, 'images', 'a.png'), 40, 30);
    const b = await writeImage(join(tmp.dir, 'images', 'b.png'), 40, 30, 20);
    const [ia, ib] = (await project.addImages([a, b])).added;
    const label = project.addLabel({ name: 'thing' });
    project.addAnnotation({ imageId: ia!, labelId: label.id, rle: rectRle(40, 30, [2, 3, 10, 5]) });
    project.addAnnotation({ imageId: ib!, labelId: label.id, rle: rectRle(40, 30, [0, 0, 4, 4]) });
    project.addAnnotation({ imageId: ia!, labelId: label.id, rle: rectRle(40, 30, [20, 10, 6, 8]) });
    project.close();
    const before = statSync(db).mtimeMs;

    const boxes = calibrationPrompts(db);
    expect([...boxes.keys()].sort()).toEqual([a, b].sort());
    expect(boxes.get(a)).toEqual([{ box: [2, 3, 12, 8] }, { box: [20, 10, 26, 18] }]);
    expect(boxes.get(b)).toEqual([{ box: [0, 0, 4, 4] }]);
    expect(statSync(db).mtimeMs).toBe(before);
  });

  it('names the file when it is missing or not a project', () => {
    expect(() => calibrationPrompts(join(tmp.dir, 'none.sqlite'))).toThrow(/none\.sqlite: project file not found/);
    const notDb = join(tmp.dir, 'notes.sqlite');
    writeFileSync(notDb, 'just text, not SQLite');
    expect(() => calibrationPrompts(notDb)).toThrow(/notes\.sqlite: not a (readable project|project with annotations)/);
  });
});
