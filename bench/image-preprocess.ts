/**
 * Time of each preprocessing step for SAM's encoder: decode (sharp), PIL-exact bilinear resize to
 * 1024 on the long side, and the whole encoder input (resize + normalise + pad). Medians after
 * warm-up, all measured in one run, wall time with the process's CPU time in brackets (all threads,
 * so libvips' decoding threads count too):
 *   npm run bench -- image [image ...]   (default: the test photos plus a 4000x3000 JPEG)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { decodeImage, resizeBilinearPil, resizedSize, samEncoderInput } from '../main/sam/image/index.ts';

const WARM_UP = 3;
const RUNS = 9;

/** Median wall and CPU milliseconds: on a shared machine the CPU time is the steadier number. */
async function median(fn: () => unknown): Promise<string> {
  for (let i = 0; i < WARM_UP; i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    const startedCpu = process.cpuUsage();
    await fn();
    const used = process.cpuUsage(startedCpu);
    wall.push(performance.now() - started);
    cpu.push((used.user + used.system) / 1000);
  }
  const mid = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(RUNS / 2)]!.toFixed(1);
  return `${mid(wall)} (${mid(cpu)})`;
}

/** A 4000x3000 camera-sized JPEG with smooth gradients and noise, written to a temporary folder. */
async function cameraSizedJpeg(dir: string): Promise<string> {
  const width = 4000;
  const height = 3000;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const noise = (Math.imul(i, 2654435761) >>> 28) - 8;
      data[i] = ((x * 255) / width + noise) & 255;
      data[i + 1] = ((y * 255) / height + noise) & 255;
      data[i + 2] = ((x + y) % 256 + noise) & 255;
    }
  }
  const path = join(dir, 'camera-4000x3000.jpg');
  await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toFile(path);
  return path;
}

export async function main(args: string[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-image-'));
  try {
    const photos = join(import.meta.dirname, '..', 'tests', 'fixtures', 'photos');
    const paths = args.length > 0
      ? args
      : [join(photos, 'rocket.jpg'), join(photos, 'hubble_deep_field.jpg'), join(import.meta.dirname, '..', 'tests', 'fixtures', 'sam-tiny', 'large.png'), await cameraSizedJpeg(dir)];
    const rows = [];
    for (const path of paths) {
      const img = await decodeImage(path);
      const size = resizedSize(img.width, img.height);
      rows.push({
        image: path.split('/').at(-1)!,
        size: `${img.width}x${img.height}`,
        resized: `${size.width}x${size.height}`,
        'decode ms (cpu)': await median(() => decodeImage(path)),
        'resize ms (cpu)': await median(() => resizeBilinearPil(img, size.width, size.height)),
        'encoder input ms (cpu)': await median(() => samEncoderInput(img)),
      });
    }
    console.table(rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
