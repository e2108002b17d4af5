import { describe, expect, it } from 'vitest';
import { describeProgress, ProgressMeter, type DownloadProgress } from '../../main/setup/download/progress.ts';

function meterWithClock() {
  let nowMs = 0;
  const events: DownloadProgress[] = [];
  const meter = new ProgressMeter('http://h/x', (p) => events.push(p), () => nowMs);
  return { meter, events, advance: (ms: number) => (nowMs += ms) };
}

describe('ProgressMeter', () => {
  it('computes speed and time left from the bytes of the last interval', () => {
    const { meter, advance } = meterWithClock();
    meter.start(0, 10_000_000);
    advance(1000);
    meter.add(1_000_000);
    const p = meter.snapshot();
    expect(p.bytesPerSecond).toBe(1_000_000);
    expect(p.etaSeconds).toBe(9);
  });

  it('smooths the speed so one slow interval moves it only part of the way', () => {
    const { meter, advance } = meterWithClock();
    meter.start(0, 100_000_000);
    advance(1000);
    meter.add(1_000_000);
    advance(1000);
    meter.add(0);
    expect(meter.snapshot().bytesPerSecond).toBe(700_000);
  });

  it('counts resumed bytes as received but not towards the speed', () => {
    const { meter, advance } = meterWithClock();
    meter.start(5_000_000, 10_000_000);
    advance(500);
    meter.add(500_000);
    const p = meter.snapshot();
    expect(p.receivedBytes).toBe(5_500_000);
    expect(p.bytesPerSecond).toBe(1_000_000);
    expect(p.etaSeconds).toBe(4.5);
  });

  it('leaves the time left unknown without a total', () => {
    const { meter, advance } = meterWithClock();
    meter.start(0, undefined);
    advance(1000);
    meter.add(10);
    expect(meter.snapshot().etaSeconds).toBeUndefined();
  });

  it('describes progress in one line', () => {
    const line = describeProgress({ phase: 'downloading', url: 'u', receivedBytes: 170_200_000, totalBytes: 375_000_000, bytesPerSecond: 12_100_000, etaSeconds: 17 });
    expect(line).toBe('downloading 45% 170.2 MB / 375.0 MB, 12.1 MB/s, 17 s left');
  });
});
