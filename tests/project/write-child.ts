/**
 * Child process of the write-failure test, run under a file-size limit (`ulimit -f`): tries to
 * add many images, a label and many annotations in one import transaction. Writing past the
 * limit fails (EFBIG); SIGXFSZ is ignored so the write returns that error instead of killing the
 * process. Prints the error message on stderr and exits 3 on failure, 0 if the import fit.
 * Usage: write-child.ts <db> <imagesDir>
 */
import { join } from 'node:path';
import { openProject, scanImages } from '../../main/project/index.ts';
import { readdirSync } from 'node:fs';
import { rectRle } from './helpers.ts';

process.on('SIGXFSZ', () => {});
const [dbPath, imagesDir] = process.argv.slice(2) as [string, string];
const project = openProject(dbPath);
const files = readdirSync(imagesDir).map((f) => join(imagesDir, f));
const images = await scanImages(files, () => {});
const annotations = files.flatMap((file, i) => Array.from({ length: 20 }, (_, k) => ({
  imagePath: file, labelName: 'bulk', rle: rectRle(64, 64, [(i + k) % 50, k, 3 + k, 5]), prompts: { points: [{ x: k, y: i, label: 1 }] },
})));
try {
  project.importAnnotations({ images, labels: [{ name: 'bulk' }], annotations });
  process.exitCode = 0;
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 3;
} finally {
  project.close();
}
