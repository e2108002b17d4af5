/**
 * The child process of main/services/jobs.ts: runs one long job (a quantization, a whole setup,
 * or a model import) and reports to its parent over IPC, answering rpc.ts requests
 * (preload/contract). Progress is sent as notices as it comes; a 'cancel' request aborts the
 * job's signal (the parent kills the process if the job does not stop soon after). The process
 * ends with its parent.
 */
import { Worker } from 'node:worker_threads';
import type { QuantizeOptions } from '../ptq4sam/index.ts';
import type { ImportOptions } from '../sam/model-dir.ts';
import type { SetupOptions } from '../setup/pipeline.ts';
import { answer, notice } from '../../preload/contract/rpc.ts';

/**
 * The 'disconnect' event below needs this thread's event loop, which a long synchronous step of a job
 * can hold for many seconds: a killed app would leave the job running as an orphan. A small
 * thread of its own watches the parent and ends the whole process as soon as it is gone.
 */
const watchParent = `
  const { parentPid } = require('node:worker_threads').workerData;
  setInterval(() => { if (process.ppid !== parentPid) process.kill(process.pid, 'SIGKILL'); }, 250);
`;
new Worker(watchParent, { eval: true, workerData: { parentPid: process.ppid } }).unref();
// The job's modules are loaded once the watcher runs: loading them takes seconds under tsx.
const { quantizeModelDir } = await import('../ptq4sam/index.ts');
const { importCheckpoint, importOnnxPair } = await import('../sam/model-dir.ts');
const { runSetup, SetupError } = await import('../setup/pipeline.ts');

const abort = new AbortController();

function send(m: unknown): Promise<void> {
  return new Promise((resolve) => process.send!(m, undefined, {}, () => resolve()));
}

const progress = (p: unknown) => void send(notice(p));

/** A checkpoint file (with an optional config.json), or an ONNX encoder/decoder pair. */
export type ModelImportSource =
  | { type: 'checkpoint'; file: string }
  | { type: 'onnx'; encoder: string; decoder: string };

/** What crosses into the job: the options without their callbacks. */
const methods = {
  quantize: (options: Omit<QuantizeOptions, 'onProgress' | 'signal'>) => quantizeModelDir({ ...options, signal: abort.signal, onProgress: progress }),
  setup: (options: Omit<SetupOptions, 'onProgress' | 'signal' | 'activate' | 'env'>) => runSetup({ ...options, signal: abort.signal, onProgress: progress }),
  import: (source: ModelImportSource, outDir: string, options: Omit<ImportOptions, 'onProgress' | 'signal'>) => (source.type === 'checkpoint'
    ? importCheckpoint(source.file, outDir, { ...options, signal: abort.signal })
    : importOnnxPair(source.encoder, source.decoder, outDir, { ...options, signal: abort.signal })),
  async cancel() { abort.abort(); },
};

export type JobMethods = typeof methods;

process.on('message', async (request: { method?: unknown }) => {
  await send(await answer(methods, request, (err) => (err instanceof SetupError ? err.step : null)));
  // one job per process: once it is reported, the process is done
  if (request.method !== 'cancel') process.disconnect();
});
// the job is reported, or the parent went away (the app quit): nothing waits for this process
process.on('disconnect', () => process.exit(0));
