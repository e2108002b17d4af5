/**
 * An atomic output folder interrupted by a signal: Ctrl-C (SIGINT) and SIGTERM (what `npm run`,
 * `timeout` and kill send) both remove the half-written temporary folder and exit with the
 * signal's code, leaving no `--out`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'atomic-signals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function interrupt(signal: NodeJS.Signals, out: string): Promise<{ code: number | null; tmp: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'atomic-child.ts'), out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tmp = '';
    child.stdout.on('data', (d: Buffer) => {
      tmp += d.toString();
      if (tmp.endsWith('\n')) child.kill(signal);
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, tmp: tmp.trim() }));
  });
}

describe('an atomic output folder under a signal', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`removes its temporary folder on ${signal} and exits ${code}`, async () => {
      const out = join(dir, `out-${signal}`);
      const r = await interrupt(signal, out);
      expect(r.tmp).toContain(`.out-${signal}.tmp-`);
      expect(r.code).toBe(code);
      expect(existsSync(r.tmp)).toBe(false);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).filter((f) => f.includes(signal))).toEqual([]);
    }, 60_000);
  }
});
