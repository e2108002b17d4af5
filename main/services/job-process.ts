/**
 * The child process of main/services/jobs.ts: runs one long job (a quantization, or a whole
 * setup) and reports to its parent over IPC, answering rpc.ts requests (preload/contract).
 * Progress is sent as notices as it comes; a 'cancel' request aborts the job's signal (the parent
 * kills the process if the job does not stop soon after).
 */
import { quantizeModelDir, type QuantizeOptions } from '../ptq4sam/index.ts';
import { answer, notice } from '../../preload/contract/rpc.ts';
import { runSetup, SetupError, type SetupOptions } from '../setup/pipeline.ts';

const abort = new AbortController();

function send(m: unknown): Promise<void> {
  return new Promise((resolve) => process.send!(m, undefined, {}, () => resolve()));
}

const progress = (p: unknown) => void send(notice(p));

/** What crosses into the job: the options without their callbacks. */
const methods = {
  quantize: (options: Omit<QuantizeOptions, 'onProgress' | 'signal'>) => quantizeModelDir({ ...options, signal: abort.signal, onProgress: progress }),
  setup: (options: Omit<SetupOptions, 'onProgress' | 'signal' | 'activate' | 'env'>) => runSetup({ ...options, signal: abort.signal, onProgress: progress }),
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
