/**
 * Peak memory of readCheckpoint: the reader should hold the float32 result plus one storage, never
 * the whole file. Run one file per process so the peak belongs to that file:
 *   npx tsx bench/checkpoint-memory.ts [checkpoint ...]   (default: the sam-tiny fixtures)
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../main/sam/checkpoint/index.ts';

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function measure(path: string): Promise<void> {
  const before = process.memoryUsage().rss;
  const started = performance.now();
  const tensors = await readCheckpoint(path);
  const ms = performance.now() - started;
  const peak = process.resourceUsage().maxRSS * 1024;
  const resultBytes = [...tensors.values()].reduce((sum, t) => sum + t.data.byteLength, 0);
  process.stdout.write(JSON.stringify({ before, peak, resultBytes, ms, tensors: tensors.size }));
}

function run(paths: string[]): void {
  const rows = paths.map((path) => {
    const child = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, '--measure', path], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`${path}: ${child.stderr.trim()}`);
    const { before, peak, resultBytes, ms, tensors } = JSON.parse(child.stdout) as Record<string, number>;
    return {
      file: path.split('/').at(-1)!,
      'file MiB': mib(statSync(path).size),
      tensors,
      'float32 result MiB': mib(resultBytes!),
      'RSS before MiB': mib(before!),
      'peak RSS MiB': mib(peak!),
      'peak - before MiB': mib(peak! - before!),
      'read ms': ms!.toFixed(0),
    };
  });
  console.table(rows);
}

const [flag, path] = process.argv.slice(2);
if (flag === '--measure') await measure(path!);
else {
  const fixtures = join(import.meta.dirname, '../tests/fixtures/sam-tiny');
  const paths = process.argv.slice(2);
  run(paths.length > 0 ? paths : [join(fixtures, 'sam_tiny.pth'), join(fixtures, 'sam_tiny_fp16.pth')]);
}
