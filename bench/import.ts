/**
 * COCO import: reading a synthetic COCO instances file (polygons as annotation tools write them)
 * with the streaming reader the importer uses (`readTopLevelLists`, two passes) against
 * `JSON.parse` of the whole text (the importer's way before), each in a fresh process for its
 * peak memory; then the whole import (`importCoco`: validation and every polygon rasterised).
 *
 *   npm run bench -- import [--annotations N] [--runs R]
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importCoco } from '../main/formats/coco-import.ts';
import { readTopLevelLists } from '../main/formats/json-lists.ts';
import { median, seededRandom } from './stats.ts';

const IMAGES = 20_000;

/** COCO's own key order (categories last), 640x480 images, star-shaped polygons of 8-40 points and 5-70 px radius. */
function writeCocoFile(path: string, annotations: number): void {
  const rand = seededRandom(7);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, '{"info": {"description": "synthetic"}, "licenses": [], "images": [');
    writeSync(fd, Array.from({ length: IMAGES }, (_, i) => JSON.stringify({ id: i + 1, file_name: `img${i}.jpg`, width: 640, height: 480 })).join(','));
    writeSync(fd, '], "annotations": [');
    let batch: string[] = [];
    for (let a = 0; a < annotations; a++) {
      const cx = 80 + rand() * 480, cy = 80 + rand() * 320, r = 5 + rand() * 65, k = 8 + Math.floor(rand() * 33);
      const ring: number[] = [];
      for (let i = 0; i < k; i++) {
        const t = (2 * Math.PI * i) / k, rr = r * (0.8 + 0.4 * rand());
        ring.push(Math.round((cx + rr * Math.cos(t)) * 100) / 100, Math.round((cy + rr * Math.sin(t)) * 100) / 100);
      }
      batch.push(JSON.stringify({ segmentation: [ring], area: 0, iscrowd: 0, image_id: (a % IMAGES) + 1, bbox: [0, 0, 1, 1], category_id: (a % 80) + 1, id: a + 1 }));
      if (batch.length === 10_000) { writeSync(fd, (a + 1 > batch.length ? ',' : '') + batch.join(',')); batch = []; }
    }
    if (batch.length) writeSync(fd, (annotations > batch.length ? ',' : '') + batch.join(','));
    writeSync(fd, '], "categories": [');
    writeSync(fd, Array.from({ length: 80 }, (_, i) => JSON.stringify({ supercategory: 's', id: i + 1, name: `class ${i}` })).join(','));
    writeSync(fd, ']}');
  } finally {
    closeSync(fd);
  }
}

interface ChildResult { seconds: number; peakMiB: number; annotations: number }

/** One variant in this process (run as a child): its time and the process's peak RSS. */
async function runVariant(variant: string, path: string): Promise<ChildResult> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
  const t = performance.now();
  let annotations = 0;
  if (variant === 'stream') {
    await readTopLevelLists(path, 'bench file', ['categories', 'images'], () => undefined);
    await readTopLevelLists(path, 'bench file', ['annotations'], () => { annotations++; });
  } else if (variant === 'whole') {
    annotations = (JSON.parse(readFileSync(path, 'utf8')) as { annotations: unknown[] }).annotations.length;
  } else {
    annotations = (await importCoco(path, { imageSize: () => ({ width: 640, height: 480, of: 'file' }) })).annotations.length;
  }
  const seconds = (performance.now() - t) / 1000;
  clearInterval(sampler);
  return { seconds, peakMiB: Math.max(peak, process.memoryUsage().rss) / 2 ** 20, annotations };
}

function inChild(variant: string, path: string): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', variant, path], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench import ${variant}: ${r.stderr.trim().split('\n').at(-1)}`);
  return JSON.parse(r.stdout) as ChildResult;
}

export async function main(args: string[]): Promise<void> {
  const flag = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const child = args.indexOf('--child');
  if (child >= 0) {
    process.stdout.write(JSON.stringify(await runVariant(args[child + 1]!, args[child + 2]!)));
    return;
  }
  const annotations = flag('annotations', 100_000);
  const runs = flag('runs', 3);
  const dir = mkdtempSync(join(tmpdir(), 'bench-import-'));
  try {
    const path = join(dir, 'instances.json');
    writeCocoFile(path, annotations);
    const mb = statSync(path).size / 1e6;
    process.stderr.write(`bench import: ${annotations} polygons over ${IMAGES} images, ${mb.toFixed(1)} MB; ${runs} runs after a warm-up each\n`);
    const rows: [string, ChildResult][] = [];
    for (const variant of ['stream', 'whole']) {
      inChild(variant, path);
      const results = Array.from({ length: runs }, () => inChild(variant, path));
      rows.push([variant, { seconds: median(results.map((r) => r.seconds)), peakMiB: median(results.map((r) => r.peakMiB)), annotations: results[0]!.annotations }]);
    }
    const full = inChild('import', path);
    const [stream, whole] = [rows[0]![1], rows[1]![1]];
    console.log(`| measure (${annotations.toLocaleString('en')} polygons, ${mb.toFixed(0)} MB) | seconds | peak RSS MiB |`);
    console.log('|---|---:|---:|');
    console.log(`| read: streaming, two passes (the importer) | ${stream.seconds.toFixed(2)} | ${stream.peakMiB.toFixed(0)} |`);
    console.log(`| read: JSON.parse of the whole text (before) | ${whole.seconds.toFixed(2)} | ${whole.peakMiB.toFixed(0)} |`);
    console.log(`| streaming / whole | ${(stream.seconds / whole.seconds).toFixed(2)}x | ${(stream.peakMiB / whole.peakMiB).toFixed(2)}x |`);
    console.log(`| whole import (importCoco: read, check, rasterise every polygon) | ${full.seconds.toFixed(2)} (${((1000 * full.seconds) / annotations).toFixed(3)} ms a polygon) | ${full.peakMiB.toFixed(0)} |`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.filename === process.argv[1]) await main(process.argv.slice(2));
