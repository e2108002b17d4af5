/**
 * Download progress: bytes so far, total, a smoothed speed and the time left. Speed is an
 * exponential moving average of per-interval rates so one slow chunk does not make the ETA jump.
 */

export type DownloadPhase = 'checking-partial' | 'connecting' | 'downloading' | 'verifying' | 'done';

export interface DownloadProgress {
  phase: DownloadPhase;
  url: string;
  receivedBytes: number;
  /** undefined while the server has not said (no Content-Length and no catalog size) */
  totalBytes: number | undefined;
  /** smoothed bytes per second over this run's transfer (resumed bytes excluded) */
  bytesPerSecond: number;
  /** seconds left at the smoothed speed; undefined when unknown */
  etaSeconds: number | undefined;
}

const sampleIntervalMs = 250;
const smoothing = 0.3; // weight of the newest interval's rate

export class ProgressMeter {
  private received = 0;
  private total: number | undefined;
  private speed = 0;
  private lastSampleAt = 0;
  private lastSampleBytes = 0;
  private phase: DownloadPhase = 'connecting';

  constructor(
    private readonly url: string,
    private readonly emit: ((p: DownloadProgress) => void) | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Starts (or restarts) counting from `received` bytes already on disk. */
  start(received: number, total: number | undefined): void {
    this.received = received;
    this.total = total;
    this.speed = 0;
    this.lastSampleAt = this.now();
    this.lastSampleBytes = received;
    this.setPhase('downloading');
  }

  setPhase(phase: DownloadPhase): void {
    this.phase = phase;
    this.report();
  }

  add(bytes: number): void {
    this.received += bytes;
    const t = this.now();
    const elapsedMs = t - this.lastSampleAt;
    if (elapsedMs < sampleIntervalMs) return;
    const rate = ((this.received - this.lastSampleBytes) * 1000) / elapsedMs;
    this.speed = this.speed === 0 ? rate : smoothing * rate + (1 - smoothing) * this.speed;
    this.lastSampleAt = t;
    this.lastSampleBytes = this.received;
    this.report();
  }

  snapshot(): DownloadProgress {
    const left = this.total === undefined ? undefined : Math.max(0, this.total - this.received);
    const etaSeconds = left === undefined ? undefined : left === 0 ? 0 : this.speed > 0 ? left / this.speed : undefined;
    return {
      phase: this.phase,
      url: this.url,
      receivedBytes: this.received,
      totalBytes: this.total,
      bytesPerSecond: this.speed,
      etaSeconds,
    };
  }

  private report(): void {
    this.emit?.(this.snapshot());
  }
}

const units = ['B', 'KB', 'MB', 'GB', 'TB'];

/** "12.3 MB" */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** "1 h 02 min", "3 min 05 s", "42 s" */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${s} s`;
}

/** One line for a terminal: "downloading 45% 170.2 MB / 375.0 MB, 12.1 MB/s, 17 s left". */
export function describeProgress(p: DownloadProgress): string {
  if (p.phase !== 'downloading') return p.phase.replace('-', ' ');
  const pct = p.totalBytes ? ` ${Math.floor((100 * p.receivedBytes) / p.totalBytes)}%` : '';
  const of = p.totalBytes ? ` / ${formatBytes(p.totalBytes)}` : '';
  const speed = p.bytesPerSecond > 0 ? `, ${formatBytes(p.bytesPerSecond)}/s` : '';
  const eta = p.etaSeconds !== undefined && p.bytesPerSecond > 0 ? `, ${formatDuration(p.etaSeconds)} left` : '';
  return `downloading${pct} ${formatBytes(p.receivedBytes)}${of}${speed}${eta}`;
}
