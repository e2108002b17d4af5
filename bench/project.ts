/**
 * The project store at scale: a synthetic project of 10,000 images (640x480) and 100,000
 * annotations (ellipses and rectangles written as real COCO RLE strings, 10 per image, 5 labels),
 * then open time, a page of the image list with annotation counts, a single edit (one commit
 * with synchronous = FULL) and its undo, COCO export time and the memory the export adds, and
 * the database size; then one import of `--import-step` annotations (default 100,000) as a single
 * undo step, and that step's undo and redo. Medians after warm-up, all in one run:
 *   npm run bench -- project [--images N] [--per-image K] [--import-step M]
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { exporters } from '../main/formats/index.ts';
import { rleStringFromCounts, type Rle } from '../main/masks/index.ts';
import { createProject, exportDataset, openProject, type ImportAnnotation, type ScannedImage } from '../main/project/index.ts';
import { seededRandom } from './stats.ts';

const WIDTH = 640;
const HEIGHT = 480;
const LABELS = ['person', 'car', 'tree', 'road', 'sky'];


/**
 * The RLE of a shape given as one vertical run [y0, y1) per column, built straight from the
 * runs (column-major, as COCO counts them) without a full-size mask.
 */
function rleOfColumns(width: number, height: number, column: (x: number) => [number, number] | null): Rle {
  const counts: number[] = [];
  let inside = false;
  let run = 0;
  let at = 0; // linear column-major position reached
  const advance = (to: number, value: boolean) => {
    if (to === at) return; // runs that touch across a column boundary merge
    if (value !== inside) {
      counts.push(run);
      run = 0;
      inside = value;
    }
    run += to - at;
    at = to;
  };
  for (let x = 0; x < width; x++) {
    const span = column(x);
    if (!span || span[1] <= span[0]) continue;
    advance(x * height + span[0], false);
    advance(x * height + span[1], true);
  }
  advance(width * height, false);
  counts.push(run);
  return { size: [height, width], counts: rleStringFromCounts(counts) };
}

function syntheticMask(rand: () => number): Rle {
  const cx = rand() * WIDTH, cy = rand() * HEIGHT;
  const rx = 5 + rand() * 120, ry = 5 + rand() * 90;
  const clamp = (y: number) => Math.max(0, Math.min(HEIGHT, y));
  if (rand() < 0.5) {
    return rleOfColumns(WIDTH, HEIGHT, (x) => (Math.abs(x + 0.5 - cx) <= rx ? [clamp(Math.ceil(cy - ry)), clamp(Math.ceil(cy + ry))] : null));
  }
  return rleOfColumns(WIDTH, HEIGHT, (x) => {
    const t = (x + 0.5 - cx) / rx;
    if (Math.abs(t) >= 1) return null;
    const dy = ry * Math.sqrt(1 - t * t);
    return [clamp(Math.ceil(cy - dy - 0.5)), clamp(Math.floor(cy + dy - 0.5) + 1)];
  });
}

/**
 * Writes a synthetic project: images are records without files (neither the store nor a COCO
 * export reads pixels), imported in batches of 1,000 images, one transaction each.
 */
export function buildSyntheticProject(dbPath: string, imageCount: number, perImage: number): void {
  const dir = dirname(dbPath);
  const rand = seededRandom(42);
  const project = createProject(dbPath);
  for (const name of LABELS) project.addLabel({ name });
  for (let start = 0; start < imageCount; start += 1000) {
    const images: ScannedImage[] = [];
    const annotations: ImportAnnotation[] = [];
    for (let i = start; i < Math.min(imageCount, start + 1000); i++) {
      const file = join(dir, 'images', `img_${String(i).padStart(5, '0')}.jpg`);
      images.push({ file, sha256: i.toString(16).padStart(64, '0'), width: WIDTH, height: HEIGHT, exifOrientation: 1, error: null });
      for (let k = 0; k < perImage; k++) {
        annotations.push({ imagePath: file, labelName: LABELS[(i + k) % LABELS.length]!, rle: syntheticMask(rand), score: rand(), modelId: 'bench' });
      }
    }
    project.importAnnotations({ images, annotations });
  }
  project.close();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timeMedian(runs: number, warmUp: number, fn: () => void): number {
  for (let i = 0; i < warmUp; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    fn();
    times.push(performance.now() - started);
  }
  return median(times);
}

const MiB = 1024 * 1024;

export interface ProjectBenchResult {
  images: number;
  annotations: number;
  buildS: number;
  openMs: number;
  listFirstPageMs: number;
  listMiddlePageMs: number;
  listByLabelMs: number;
  editCommitMs: number;
  undoMs: number;
  cocoExportS: number;
  exportPeakRssMiB: number;
  exportPeakLiveAddedMiB: number;
  cocoFileMiB: number;
  databaseMiB: number;
  importStep: { annotations: number; importS: number; undoS: number; redoS: number; stateMiB: number };
}

/** One import of `count` annotations (10 per image) as one undo step, then its undo and redo. */
function timeImportStep(dir: string, count: number): ProjectBenchResult['importStep'] {
  const dbPath = join(dir, 'import-step.db');
  const rand = seededRandom(11);
  const project = createProject(dbPath);
  const images: ScannedImage[] = [];
  const annotations: ImportAnnotation[] = [];
  for (let i = 0; annotations.length < count; i++) {
    const file = join(dir, 'images', `step_${i}.jpg`);
    images.push({ file, sha256: null, width: WIDTH, height: HEIGHT, exifOrientation: 1, error: null });
    for (let k = 0; k < 10 && annotations.length < count; k++) annotations.push({ imagePath: file, labelName: LABELS[k % LABELS.length]!, rle: syntheticMask(rand) });
  }
  const stateMiB = annotations.reduce((n, a) => n + a.rle!.counts.length + 200, 0) / MiB;
  let t = performance.now();
  project.importAnnotations({ images, labels: LABELS.map((name) => ({ name })), annotations });
  const importS = (performance.now() - t) / 1000;
  t = performance.now();
  project.undo();
  const undoS = (performance.now() - t) / 1000;
  t = performance.now();
  project.redo();
  const redoS = (performance.now() - t) / 1000;
  project.close();
  return { annotations: count, importS, undoS, redoS, stateMiB };
}

export async function runProjectBench(options: { images?: number; perImage?: number; importStep?: number } = {}): Promise<ProjectBenchResult> {
  const imageCount = options.images ?? 10_000;
  const perImage = options.perImage ?? 10;
  const dir = mkdtempSync(join(tmpdir(), 'bench-project-'));
  try {
    const dbPath = join(dir, 'bench.db');
    const rand = seededRandom(7);

    const built = performance.now();
    buildSyntheticProject(dbPath, imageCount, perImage);
    const buildS = (performance.now() - built) / 1000;
    const databaseMiB = statSync(dbPath).size / MiB;

    const openMs = timeMedian(9, 2, () => openProject(dbPath).close());

    const p = openProject(dbPath);
    const middle = Math.floor(imageCount / 2);
    const listFirstPageMs = timeMedian(51, 5, () => p.listImages({ offset: 0, limit: 100 }));
    const listMiddlePageMs = timeMedian(51, 5, () => p.listImages({ offset: middle, limit: 100 }));
    const labelId = p.findLabelByName('car')!.id;
    const listByLabelMs = timeMedian(51, 5, () => p.listImages({ offset: middle, limit: 100, labelId }));

    const edit = { imageId: 1, labelId, rle: syntheticMask(rand) };
    const commits: number[] = [];
    const undos: number[] = [];
    for (let i = 0; i < 25; i++) {
      let t = performance.now();
      p.addAnnotation(edit);
      commits.push(performance.now() - t);
      t = performance.now();
      p.undo();
      undos.push(performance.now() - t);
    }

    // the export's live memory: the heap and buffers still reachable after a full GC, sampled
    // every 500 images, above what was reachable before it started
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const liveBytes = () => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.external;
    };
    const exportTimes: number[] = [];
    let peakRss = 0;
    let peakLiveAdded = 0;
    let cocoFileMiB = 0;
    for (let run = 0; run < 5; run++) {
      const outDir = join(dir, `coco-${run}`);
      mkdirSync(outDir);
      const sampling = run === 4; // run 0 warms up, runs 1-3 are timed, the last measures memory
      const liveBefore = sampling ? liveBytes() : 0;
      const started = performance.now();
      await exportDataset(p, exporters.coco, {
        outDir,
        onProgress: (done) => {
          if (!sampling || done % 500 !== 0) return;
          peakRss = Math.max(peakRss, process.memoryUsage.rss());
          peakLiveAdded = Math.max(peakLiveAdded, liveBytes() - liveBefore);
        },
      });
      if (run > 0 && !sampling) exportTimes.push(performance.now() - started);
      cocoFileMiB = statSync(join(outDir, 'annotations.json')).size / MiB;
      rmSync(outDir, { recursive: true });
    }
    p.close();
    const importStep = timeImportStep(dir, options.importStep ?? 100_000);

    return {
      images: imageCount, annotations: imageCount * perImage, buildS, openMs, listFirstPageMs, listMiddlePageMs, listByLabelMs,
      editCommitMs: median(commits), undoMs: median(undos), cocoExportS: median(exportTimes) / 1000,
      exportPeakRssMiB: peakRss / MiB, exportPeakLiveAddedMiB: peakLiveAdded / MiB, cocoFileMiB, databaseMiB, importStep,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printProjectBench(r: ProjectBenchResult): void {
  const rows: [string, string, string][] = [
    ['build (import in batches of 1,000 images)', `${r.buildS.toFixed(1)} s`, ''],
    ['open project', `${r.openMs.toFixed(1)} ms`, '< 1 s'],
    ['list page of 100 images with counts (first)', `${r.listFirstPageMs.toFixed(2)} ms`, '< 20 ms'],
    ['list page of 100 images with counts (middle)', `${r.listMiddlePageMs.toFixed(2)} ms`, '< 20 ms'],
    ['list page filtered by label (middle)', `${r.listByLabelMs.toFixed(2)} ms`, '< 20 ms'],
    ['one edit: add annotation + log, committed', `${r.editCommitMs.toFixed(2)} ms`, ''],
    ['undo of that edit', `${r.undoMs.toFixed(2)} ms`, ''],
    ['COCO export (RLE)', `${r.cocoExportS.toFixed(2)} s`, '< 10 s'],
    ['COCO export: peak RSS of the whole process', `${r.exportPeakRssMiB.toFixed(0)} MiB`, ''],
    ['COCO export: peak live memory above the start (after GC)', `${r.exportPeakLiveAddedMiB.toFixed(1)} MiB`, 'streamed'],
    ['annotations.json size', `${r.cocoFileMiB.toFixed(0)} MiB`, ''],
    ['database size', `${r.databaseMiB.toFixed(0)} MiB`, ''],
    [`one import of ${r.importStep.annotations.toLocaleString('en')} annotations, one undo step (about ${r.importStep.stateMiB.toFixed(0)} MiB of row states)`, `${r.importStep.importS.toFixed(1)} s`, ''],
    ['undo of that import', `${r.importStep.undoS.toFixed(2)} s`, ''],
    ['redo of that import', `${r.importStep.redoS.toFixed(2)} s`, ''],
  ];
  process.stdout.write(`project store: ${r.images.toLocaleString('en')} images, ${r.annotations.toLocaleString('en')} annotations (medians after warm-up)\n\n`);
  process.stdout.write('| measure | value | target |\n|---|---:|---|\n');
  for (const [what, value, target] of rows) process.stdout.write(`| ${what} | ${value} | ${target} |\n`);
}

function flag(args: string[], name: string): number | undefined {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} needs a positive integer, got "${args[i + 1]}"`);
  return v;
}

export async function main(args: string[]): Promise<void> {
  printProjectBench(await runProjectBench({ images: flag(args, 'images'), perImage: flag(args, 'per-image'), importStep: flag(args, 'import-step') }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
