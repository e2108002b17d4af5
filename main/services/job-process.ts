/**
 * The child process of main/api/jobs.ts: runs one long job (a quantization, or a whole setup)
 * and reports to its parent over IPC. Progress is sent as it comes; a 'cancel' message aborts
 * the job's signal (the parent kills the process if the job does not stop soon after).
 */
import { quantizeModelDir } from '../ptq4sam/index.ts';
import { runSetup, SetupError } from '../setup/pipeline.ts';
import type { JobMessage, JobRequest } from './jobs.ts';

const abort = new AbortController();

function send(m: JobMessage): Promise<void> {
  return new Promise((resolve) => process.send!(m, undefined, {}, () => resolve()));
}

const RUNNERS: { [K in JobRequest['kind']]: (r: Extract<JobRequest, { kind: K }>) => Promise<unknown> } = {
  quantize: (r) => quantizeModelDir({ ...r.options, signal: abort.signal, onProgress: (progress) => void send({ type: 'progress', progress }) }),
  setup: (r) => runSetup({ ...r.options, signal: abort.signal, onProgress: (progress) => void send({ type: 'progress', progress }) }),
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
