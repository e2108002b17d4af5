/** Long jobs in their own process: model import there, leftovers of killed runs, no orphans. */
import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { removeStaleTemporaries } from '../../main/base/stale-temporaries.ts';
import { importInProcess } from '../../main/services/jobs.ts';
import { runCli } from '../helpers/cli.ts';
import { dictPickle, float32Bytes, tensorPickle, writeSyntheticPth } from '../helpers/torch-save.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/sam-tiny');
const dir = mkdtempSync(join(tmpdir(), 'jobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The id of a process that has ended. */
function deadPid(): number {
  return spawnSync('true').pid!;
}

/** Running, not ended: an ended child stays a zombie until whoever adopted it reaps it. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return !/^\d+ \(.*\) Z /.test(stat);
}

describe('model import in the job process', () => {
  it('imports a checkpoint there', async () => {
    const out = join(dir, 'tiny');
    mkdirSync(out);
    const info = await importInProcess({ type: 'checkpoint', file: join(FIXTURES, 'sam_tiny.pth') }, out, { configPath: join(FIXTURES, 'config.json') });
    expect(info.family).toBe('sam');
    expect((info.config as { encoder_depth?: number } | null)?.encoder_depth).toBe(4);
    expect(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).id).toBe(info.id);
  }, 120_000);

  it('reports a hostile checkpoint as the job\'s error', async () => {
    const file = join(dir, 'stride0.pth');
    const w = tensorPickle({ name: 'w', storageType: 'FloatStorage', key: '0', storageNumel: 1, offset: 0, shape: [65536, 65536], stride: [0, 0] });
    writeSyntheticPth(file, dictPickle([['w', w]]), { 0: float32Bytes([1]) });
    const out = join(dir, 'bomb');
    mkdirSync(out);
    await expect(importInProcess({ type: 'checkpoint', file }, out, {})).rejects.toThrow("stride0.pth: tensor 'w' has a size/stride layout whose elements overlap");
  }, 60_000);
});

describe('leftovers of a killed run', () => {
  it('removes temporaries of processes that are gone and keeps those of live ones', () => {
    const folder = join(dir, 'data');
    const stale = `.model-${deadPid()}-abc`;
    const live = `.model-${process.pid}-def`;
    for (const name of [stale, live, 'models']) mkdirSync(join(folder, name), { recursive: true });
    expect(removeStaleTemporaries(folder, '.model-')).toEqual([stale]);
    expect(readdirSync(folder).sort()).toEqual([live, 'models'].sort());
  });

  it('the command line removes the hidden output of a killed run on the next one', () => {
    const db = join(dir, 'p.db');
    expect(runCli(['project', 'init', db]).code).toBe(0);
    const leftover = join(dir, `.export.tmp-${deadPid()}-1700000000000`);
    mkdirSync(join(leftover, 'images'), { recursive: true });
    const r = runCli(['project', 'export', db, '--format', 'coco', '--out', join(dir, 'export')]);
    expect(r.code).toBe(0);
    expect(existsSync(leftover)).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});

describe('the job process', () => {
  it('ends within a second when its parent is killed, even while it works', async () => {
    // a stand-in parent: starts the job process as the app does and prints its id once the
    // quantization reports progress, then waits; the model is the one the first test imported
    // an rpc.ts request, as jobs.ts sends it; the first message back is a progress notice
    const request = { kind: 'request', id: 1, method: 'quantize', args: [{ modelDir: join(dir, 'tiny'), calibDir: join(import.meta.dirname, '../../resources/samples'), outDir: join(dir, 'orphan'), bits: { w: 8, a: 8 }, method: 'ptq4sam' }] };
    const parentScript = `
      const { fork } = require('node:child_process');
      const child = fork(${JSON.stringify(join(import.meta.dirname, '../../main/services/job-process.ts'))}, [], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      child.send(${JSON.stringify(request)});
      child.once('message', () => console.log(child.pid));
      setInterval(() => {}, 1000);
    `;
    mkdirSync(join(dir, 'orphan'));
    const parent = fork('-e', [parentScript], { execArgv: [], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    const childPid = await new Promise<number>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    expect(isAlive(childPid)).toBe(true);
    parent.kill('SIGKILL');
    await delay(1000);
    const alive = isAlive(childPid);
    if (alive) process.kill(childPid, 'SIGKILL');
    expect(alive).toBe(false);
  }, 120_000);
});
