/**
 * The child process of main/api/jobs.ts: runs one long job (a quantization, or a whole setup)
 * and reports to its parent over IPC. Progress is sent as it comes; a 'cancel' message aborts
 * the job's signal (the parent kills the process if the job does not stop soon after). The process
 * ends with its parent.
 */
import { Worker } from 'node:worker_threads';
import type { JobMessage, JobRequest } from './jobs.ts';

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

function send(m: JobMessage): Promise<void> {
  return new Promise((resolve) => process.send!(m, undefined, {}, () => resolve()));
}

const RUNNERS: { [K in JobRequest['kind']]: (r: Extract<JobRequest, { kind: K }>) => Promise<unknown> } = {
  quantize: (r) => quantizeModelDir({ ...r.options, signal: abort.signal, onProgress: (progress) => void send({ type: 'progress', progress }) }),
  setup: (r) => runSetup({ ...r.options, signal: abort.signal, onProgress: (progress) => void send({ type: 'progress', progress }) }),
  import: (r) => (r.source.type === 'checkpoint'
    ? importCheckpoint(r.source.file, r.outDir, { ...r.options, signal: abort.signal })
    : importOnnxPair(r.source.encoder, r.source.decoder, r.outDir, { ...r.options, signal: abort.signal })),
};

async function run(request: JobRequest): Promise<void> {
  try {
    const result = await (RUNNERS[request.kind] as (r: JobRequest) => Promise<unknown>)(request);
    await send({ type: 'done', result });
  } catch (err) {
    await send({ type: 'error', message: err instanceof Error ? err.message : String(err), step: err instanceof SetupError ? err.step : null });
  }
  process.disconnect();
}

process.on('message', (m: { type: string; request?: JobRequest }) => {
  if (m.type === 'cancel') abort.abort();
  else if (m.type === 'run' && m.request) void run(m.request);
});
// the job is reported, or the parent went away (the app quit): nothing waits for this process
process.on('disconnect', () => process.exit(0));
