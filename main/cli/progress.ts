import { formatDuration } from '../ptq4sam/estimate.ts';

/**
 * Progress lines on stderr: one per stage and per 10% step, so logs stay readable; with an
 * estimate of the time left, also the first line that has one (after the first timed step).
 */
export function stderrProgress(): (stage: string, done: number, total: number, etaSeconds?: number) => void {
  let lastStage = '';
  let lastStep = -1;
  let etaSaid = false;
  return (stage, done, total, etaSeconds) => {
    const pct = total > 0 ? Math.floor((100 * done) / total) : 0;
    const step = Math.floor(pct / 10);
    const firstEta = etaSeconds !== undefined && !etaSaid;
    if (stage === lastStage && step === lastStep && !firstEta) return;
    lastStage = stage;
    lastStep = step;
    if (etaSeconds !== undefined) etaSaid = true;
    process.stderr.write(`${stage}: ${pct}%${etaSeconds !== undefined ? ` (${formatDuration(etaSeconds)} left)` : ''}\n`);
  };
}
