/**
 * Long jobs out of the main process. Quantizing (alone, or as a step of the first-run setup)
 * spends tens of seconds in JavaScript; on the main process's thread it would stall every API
 * call the window makes meanwhile (hover previews, clicks). Model imports run there too: a
 * hostile checkpoint that exhausts memory then takes down the job, not the app. Each job runs in a child process of
 * its own (job-process.ts; under Electron, `fork` runs the app's binary as Node), sends its
 * progress, and is cancelled through its AbortSignal. The quantizer checks its signal only while
 * calibrating, so a job still running after a short grace period is killed: a cancel always
 * takes effect at once. (A worker thread cannot be stopped like that: terminating one while
 * onnxruntime runs aborts the whole process.) Callers clean up what a job leaves behind.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Progress, QuantReport } from '../ptq4sam/index.ts';
import { SETUP_STEPS, type SetupStep } from '../../preload/contract/enums.ts';
import { isNotice, RpcClient, RpcError } from '../../preload/contract/rpc.ts';
import { SetupError, type SetupProgress, type SetupResult } from '../setup/pipeline.ts';
import type { JobMethods } from './job-process.ts';
import type { ModelInfo } from '../sam/model-dir.ts';
import type { ModelImportSource } from './job-process.ts';

const CANCEL_GRACE_MS = 2000;

/** The job processes alive now (endAllJobs). */
const running = new Set<ChildProcess>();

/** The bundled `.js` next to this file in the app, else the TypeScript source under tsx. */
function spawnJob(): ChildProcess {
  const js = fileURLToPath(new URL('./job-process.js', import.meta.url));
  const options = { serialization: 'advanced' as const, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] as ('ignore' | 'inherit' | 'ipc')[] };
  const child = existsSync(js) ? fork(js, [], options) : fork(fileURLToPath(new URL('./job-process.ts', import.meta.url)), [], { ...options, execArgv: ['--import', 'tsx'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  return child;
}

/**
 * Ends every running job at once (the app is quitting): nothing it would still write is wanted,
 * and a job left to notice its parent is gone would keep computing until its next message.
 */
export function endAllJobs(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** A failure's code is the setup step it stopped in, when it did. */
function jobError(err: unknown): Error {
  if (err instanceof RpcError && SETUP_STEPS.includes(err.code as SetupStep)) return new SetupError(err.code as SetupStep, err.message);
  return err instanceof Error ? err : new Error(String(err));
}

/** Runs one job in a child process of its own; progress comes as rpc.ts notices. */
function runJob<R>(start: (rpc: RpcClient<JobMethods>) => Promise<R>, onProgress: (p: unknown) => void, signal?: AbortSignal): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const child = spawnJob();
    const rpc = new RpcClient<JobMethods>((request) => { child.send(request); });
    let settled = false;
    let killTimer: NodeJS.Timeout | null = null;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      fn();
    };
    const onAbort = () => {
      // the child may be gone before it answers: the kill below settles the job either way
      if (child.connected) rpc.call('cancel').catch(() => undefined);
      killTimer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(() => reject(new Error('cancelled')));
      }, CANCEL_GRACE_MS);
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (m: unknown) => {
      if (isNotice(m)) { if (!signal?.aborted) onProgress(m.event); }
      else rpc.receive(m);
    });
    child.on('error', (err) => finish(() => reject(err)));
    child.on('exit', (code, sig) => {
      const err = new Error(`the job's process stopped (${sig ?? `exit code ${code}`})`);
      rpc.close(err);
      finish(() => reject(err));
    });
    start(rpc).then(
      (result) => finish(() => (signal?.aborted ? reject(new Error('cancelled')) : resolve(result))),
      (err: unknown) => finish(() => reject(jobError(err))),
    );
  });
}

export function quantizeInProcess(options: Parameters<JobMethods['quantize']>[0], onProgress: (p: Progress) => void, signal?: AbortSignal): Promise<QuantReport> {
  return runJob((rpc) => rpc.call('quantize', options), (p) => onProgress(p as Progress), signal);
}

/**
 * Imports a model in the job process: a checkpoint from someone else may be crafted to exhaust
 * memory, and an out-of-memory there ends the job, not the app.
 */
export function importInProcess(source: ModelImportSource, outDir: string, options: Parameters<JobMethods['import']>[2], signal?: AbortSignal): Promise<ModelInfo> {
  return runJob((rpc) => rpc.call('import', source, outDir, options), () => {}, signal);
}

export function setupInProcess(options: Parameters<JobMethods['setup']>[0], onProgress: (p: SetupProgress) => void, signal?: AbortSignal): Promise<SetupResult> {
  return runJob((rpc) => rpc.call('setup', options), (p) => onProgress(p as SetupProgress), signal);
}
