/**
 * Child process of the crash-safety test: adds images and annotations in a loop as fast as it
 * can and prints each id on stdout right after its transaction commits ("image 3", "annotation
 * 17"; "undoing 17" just before it undoes that annotation). The test kills it with SIGKILL at
 * random moments. Usage: crash-child.ts <db> <template.png> <imagesDir>
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { openProject } from '../../main/project/index.ts';
import { rectRle } from './helpers.ts';

const [dbPath, template, imagesDir] = process.argv.slice(2) as [string, string, string];
const project = openProject(dbPath);
const labelId = project.findLabelByName('thing')!.id;
const size = 32;
process.stdout.write('ready\n');
for (let n = 0; ; n++) {
  const file = join(imagesDir, `${process.pid}-${n}.png`);
  copyFileSync(template, file);
  const { added } = await project.addImages([file]);
  process.stdout.write(`image ${added[0]}\n`);
  let last = 0;
  for (let k = 0; k < 3; k++) {
    const rle = rectRle(size, size, [k * 3, (n + k) % 20, 5 + k, 7]);
    const id = project.addAnnotation({ imageId: added[0]!, labelId, rle, prompts: { points: [{ x: k, y: n % size, label: 1 }] }, modelId: 'crash-test', score: 0.5 });
    process.stdout.write(`annotation ${id}\n`);
    last = id;
  }
  if (n % 4 === 3) {
    // said before, since the process may die between the undo's commit and a later line
    process.stdout.write(`undoing ${last}\n`);
    project.undo();
  }
}
