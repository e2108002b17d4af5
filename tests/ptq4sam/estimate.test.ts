import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../preload/contract/duration.ts';
import { MEASURE_SECONDS_PER_MEGAPIXEL, overallFraction, REFERENCE_VIT_B_PASS_SECONDS, remainingSeconds, WEIGHT_SEARCH_SECONDS_PER_MILLION } from '../../main/ptq4sam/estimate.ts';

describe('quantize time estimate', () => {
  const vitB = { images: 32, imagesDone: 1, secondsPerImage: REFERENCE_VIT_B_PASS_SECONDS, millionWeights: 85, weightBits: 8, measureImages: 4 };

  it('is the remaining passes plus the weight search plus the measurement, at reference speed', () => {
    const expected = 31 * 14 + 85 * WEIGHT_SEARCH_SECONDS_PER_MILLION[8]! + 4 * 1.6 * 14 + 14;
    expect(remainingSeconds(vitB)).toBeCloseTo(expected, 6);
  });

  it('shrinks as images are done and grows with the weight search cost of fewer bits', () => {
    expect(remainingSeconds({ ...vitB, imagesDone: 16 })).toBeLessThan(remainingSeconds(vitB));
    expect(remainingSeconds({ ...vitB, weightBits: 6 })).toBeGreaterThan(remainingSeconds(vitB));
  });

  it('scales the weight search by how fast this machine ran its passes', () => {
    const slow = remainingSeconds({ ...vitB, secondsPerImage: 28 }) - 31 * 28 - (4 * 1.6 + 1) * 28;
    expect(slow).toBeCloseTo(2 * 85 * WEIGHT_SEARCH_SECONDS_PER_MILLION[8]!, 6);
  });

  it('counts the measured images\' size: four 4000x3000 photos take longer than four 1024x768 ones', () => {
    const small = remainingSeconds({ ...vitB, measureMegapixels: 4 * 1024 * 768 / 1e6 });
    const large = remainingSeconds({ ...vitB, measureMegapixels: 4 * 12 });
    expect(large - small).toBeCloseTo((48 - 4 * 1024 * 768 / 1e6) * MEASURE_SECONDS_PER_MEGAPIXEL, 6);
    // on a machine twice as slow, twice that
    const slow = (mp: number) => remainingSeconds({ ...vitB, secondsPerImage: 28, measureMegapixels: mp });
    expect(slow(48) - slow(0)).toBeCloseTo(2 * 48 * MEASURE_SECONDS_PER_MEGAPIXEL, 6);
  });

  it('fills one bar over the phases in their order: never back to 0 when a phase starts', () => {
    const steps = [['encoder', 0, 4], ['encoder', 2, 4], ['encoder', 4, 4], ['big', 0, 1], ['big', 1, 1], ['decoder', 3, 8], ['weights', 0, 100],
      ['weights', 100, 100], ['emit', 0, 2], ['verify', 0, 2], ['measure', 0, 1], ['measure', 1, 1]] as const;
    const fractions = steps.map(([phase, done, total]) => overallFraction(phase, done, total));
    expect(fractions[0]).toBe(0);
    expect(fractions.at(-1)).toBeCloseTo(1, 12);
    for (let i = 1; i < fractions.length; i++) expect(fractions[i]!).toBeGreaterThanOrEqual(fractions[i - 1]!);
    // the encoder's calibration passes are most of ViT-B's time
    expect(overallFraction('encoder', 4, 4)).toBeCloseTo(0.55, 12);
    expect(overallFraction('measure', 1, 0)).toBeCloseTo(0.85, 12);
    expect(overallFraction('something else', 1, 1)).toBe(0);
  });

  it('reads as seconds, minutes or hours', () => {
    expect(formatDuration(2)).toBe('about 5 s');
    expect(formatDuration(42)).toBe('about 40 s');
    expect(formatDuration(754)).toBe('about 13 min');
    expect(formatDuration(3 * 3600)).toBe('about 3.0 h');
  });
});
