import { formatDuration } from '../../preload/contract/duration.ts';

/** One step of long work, as every command reports it. */
export interface ProgressUpdate {
  stage: string;
  /** 0..1 */
  fraction: number;
  /** the whole line; default `<stage>: <percent>%` */
  text?: string;
  etaSeconds?: number;
  /** more that makes a line worth printing within the same tenth (a download phase, a calibration image) */
  key?: string;
  /** print even when nothing above changed (a skipped step) */
  force?: boolean;
}

/**
 * The command line's one progress printer, on stderr so stdout stays machine-readable. A line
 * per stage and per 10% step keeps logs short; the first line that knows the time left is
 * printed too (after the first timed step). On a terminal the lines of one stage overwrite
 * each other.
 */
export function stderrProgress(): (u: ProgressUpdate) => void {
  let last = '';
  let lastStage = '';
  let etaSaid = false;
  let open = false; // a terminal line waiting for its newline
  return (u) => {
    const pct = Math.floor(100 * Math.min(1, Math.max(0, u.fraction)));
    const key = `${u.stage}\n${Math.floor(pct / 10)}\n${u.key ?? ''}`;
    const firstEta = u.etaSeconds !== undefined && !etaSaid;
    if (key === last && !firstEta && !u.force) return;
    last = key;
    if (u.etaSeconds !== undefined) etaSaid = true;
    const line = `${u.text ?? `${u.stage}: ${pct}%`}${u.etaSeconds !== undefined ? ` (${formatDuration(u.etaSeconds)} left)` : ''}`;
    if (process.stderr.isTTY) {
      const sameStage = open && u.stage === lastStage;
      process.stderr.write(`${sameStage ? '\r\x1b[K' : open ? '\n' : ''}${line}${pct >= 100 ? '\n' : ''}`);
      open = pct < 100;
    } else {
      process.stderr.write(`${line}\n`);
    }
    lastStage = u.stage;
  };
}

/** Adapts the printer to the `(stage, done, total, etaSeconds)` callbacks of the builders and the quantizer. */
export function stageProgress(print = stderrProgress()): (stage: string, done: number, total: number, etaSeconds?: number) => void {
  return (stage, done, total, etaSeconds) => print({ stage, fraction: total > 0 ? done / total : 0, ...(etaSeconds !== undefined ? { etaSeconds } : {}) });
}
