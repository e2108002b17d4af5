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
import type { Progress, QuantizeOptions, QuantReport } from '../ptq4sam/index.ts';
import type { ImportOptions, ModelInfo } from '../sam/model-dir.ts';
import { SetupError, type SetupOptions, type SetupProgress, type SetupResult, type SetupStep } from '../setup/pipeline.ts';

/** What crosses into the job: the options without their callbacks. */
export type JobRequest =
  | { kind: 'quantize'; options: Omit<QuantizeOptions, 'onProgress' | 'signal'> }
  | { kind: 'setup'; options: Omit<SetupOptions, 'onProgress' | 'signal' | 'activate' | 'env'> }
  | { kind: 'import'; source: ModelImportSource; outDir: string; options: Omit<ImportOptions, 'onProgress' | 'signal'> };

/** A checkpoint file (with an optional config.json), or an ONNX encoder/decoder pair. */
export type ModelImportSource =
  | { type: 'checkpoint'; file: string }
  | { type: 'onnx'; encoder: string; decoder: string };

export type JobMessage =
  | { type: 'progress'; progress: unknown }
  | { type: 'done'; result: unknown }
  | { type: 'error'; message: string; step: SetupStep | null };

const CANCEL_GRACE_MS = 2000;

/** The bundled `.js` next to this file in the app, else the TypeScript source under tsx. */
function spawnJob(): ChildProcess {
  const js = fileURLToPath(new URL('./job-process.js', import.meta.url));
  const options = { serialization: 'advanced' as const, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] as ('ignore' | 'inherit' | 'ipc')[] };
  if (existsSync(js)) return fork(js, [], options);
  return fork(fileURLToPath(new URL('./job-process.ts', import.meta.url)), [], { ...options, execArgv: ['--import', 'tsx'] });
}

function runJob<R>(request: JobRequest, onProgress: (p: unknown) => void, signal?: AbortSignal): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const child = spawnJob();
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
      if (child.connected) child.send({ type: 'cancel' });
      killTimer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(() => reject(new Error('cancelled')));
      }, CANCEL_GRACE_MS);
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (m: JobMessage) => {
      if (m.type === 'progress') { if (!signal?.aborted) onProgress(m.progress); }
      else if (m.type === 'done') finish(() => (signal?.aborted ? reject(new Error('cancelled')) : resolve(m.result as R)));
      else finish(() => reject(m.step ? new SetupError(m.step, m.message) : new Error(m.message)));
    });
    child.on('error', (err) => finish(() => reject(err)));
    child.on('exit', (code, sig) => finish(() => reject(new Error(`the job's process stopped (${sig ?? `exit code ${code}`})`))));
    child.send({ type: 'run', request });
  });
}

export function quantizeInProcess(options: Omit<QuantizeOptions, 'onProgress' | 'signal'>, onProgress: (p: Progress) => void, signal?: AbortSignal): Promise<QuantReport> {
  return runJob({ kind: 'quantize', options }, (p) => onProgress(p as Progress), signal);
}

/**
 * Imports a model in the job process: a checkpoint from someone else may be crafted to exhaust
 * memory, and an out-of-memory there ends the job, not the app.
 */
export function importInProcess(source: ModelImportSource, outDir: string, options: Omit<ImportOptions, 'onProgress' | 'signal'>, signal?: AbortSignal): Promise<ModelInfo> {
  return runJob({ kind: 'import', source, outDir, options }, () => {}, signal);
}

export function setupInProcess(options: Omit<SetupOptions, 'onProgress' | 'signal' | 'activate' | 'env'>, onProgress: (p: SetupProgress) => void, signal?: AbortSignal): Promise<SetupResult> {
  return runJob({ kind: 'setup', options }, (p) => onProgress(p as SetupProgress), signal);
}
