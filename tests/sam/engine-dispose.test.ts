/**
 * Disposing the engine while onnxruntime runs in its worker: terminating the thread under a
 * native run brought the whole process down (Napi::Error). Each case runs in a child process
 * (tests/helpers/dispose-mid-run.ts) that disposes mid-run; it must exit normally, the work in
 * flight settled (finished, or failed with "engine disposed"), and later calls refused.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, SAM_TINY, samTinyModelDir } from '../helpers/sam-tiny.ts';

let dir: string;
let cleanup: () => void;
beforeAll(async () => { ({ dir, cleanup } = await samTinyModelDir()); });
afterAll(() => cleanup());

function disposeMidRun(kind: string, delayMs: number): { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'tests/helpers/dispose-mid-run.ts'), dir, SAM_TINY, kind, String(delayMs)], {
    cwd: REPO, encoding: 'utf8', timeout: 180_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('engine dispose while a run is in flight', () => {
  for (const [kind, delay] of [['everything', 300], ['boxes', 150], ['queued', 30]] as const) {
    it(`${kind}: the process lives on, the work settles, later calls are refused`, () => {
      const r = disposeMidRun(kind, delay);
      expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe('disposing');
      const result = JSON.parse(lines[1]!) as { outcomes: string[]; after: string };
      for (const o of result.outcomes) expect(['done', 'failed: engine disposed']).toContain(o);
      // the work was still running when dispose came (else this case tests nothing)
      expect(result.outcomes).toContain('failed: engine disposed');
      expect(result.after).toBe('failed: engine disposed');
    }, 200_000);
  }

  it('encode: an encoder run in flight is waited for (one not started yet is refused)', () => {
    const r = disposeMidRun('encode', 0);
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const result = JSON.parse(r.stdout.trim().split('\n')[1]!) as { outcomes: string[]; after: string };
    expect(result.outcomes).toHaveLength(1);
    expect(['done', 'failed: engine disposed']).toContain(result.outcomes[0]);
    expect(result.after).toBe('failed: engine disposed');
  }, 200_000);
});
