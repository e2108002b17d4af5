/** COCO-style mask AP on hand-made cases whose AP is worked out in the comments. */
import { describe, expect, it } from 'vitest';
import { averagePrecisionAt, IOU_THRESHOLDS, maskAp } from '../../main/ptq4sam/mask-ap.ts';

describe('maskAp', () => {
  it('uses the ten COCO thresholds 0.50:0.05:0.95', () => {
    expect(IOU_THRESHOLDS).toHaveLength(10);
    expect(IOU_THRESHOLDS[0]).toBe(0.5);
    expect(IOU_THRESHOLDS[9]).toBe(0.95);
  });

  it('is 1 for perfect masks and 0 for masks that miss', () => {
    expect(maskAp([{ scores: [0.2, 0.9], ious: [[1, 0], [0, 1]], gtCount: 2 }])).toBe(1);
    expect(maskAp([{ scores: [0.2], ious: [[0.3]], gtCount: 1 }])).toBe(0);
  });

  it('counts a detection of IoU 0.72 at the 5 thresholds up to 0.70: AP 0.5', () => {
    expect(maskAp([{ scores: [0.4], ious: [[0.72]], gtCount: 1 }])).toBeCloseTo(0.5, 12);
  });

  it('ranks by score: a confident miss before a perfect mask halves the precision', () => {
    // miss (FP) then hit (TP): precision 0 then 1/2, made non-increasing: 1/2 at every recall point
    expect(maskAp([{ scores: [0.9, 0.5], ious: [[0], [1]], gtCount: 1 }])).toBeCloseTo(0.5, 12);
    expect(maskAp([{ scores: [0.5, 0.9], ious: [[0], [1]], gtCount: 1 }])).toBeCloseTo(1, 12);
  });

  it('reads precision 0 beyond the largest recall reached (an object with no detection)', () => {
    // recall stops at 1/2 with precision 1: 51 of the 101 recall points (0, 0.01, ..., 0.50)
    expect(maskAp([{ scores: [0.3], ious: [[0.96]], gtCount: 1 }, { scores: [], ious: [], gtCount: 1 }])).toBeCloseTo(51 / 101, 12);
  });

  it('matches greedily in score order to the unmatched ground truth of highest IoU', () => {
    // A (0.9): IoU 0.82 with g0, 0.70 with g1; B (0.8): 0.86 with g0, 0.60 with g1.
    // t <= 0.60 (3 thresholds): A->g0, B->g1, AP 1.
    // t = 0.65..0.80 (4): A->g0, B misses g1: precision 1 then 1/2, recall 1/2: 51/101.
    // t = 0.85 (1): A misses, B->g0: precision 0 then 1/2 -> 1/2 up to recall 1/2: 25.5/101.
    // t >= 0.90 (2): nothing matches.
    const image = { scores: [0.9, 0.8], ious: [[0.82, 0.7], [0.86, 0.6]], gtCount: 2 };
    expect(averagePrecisionAt([image], 0.5)).toBe(1);
    expect(averagePrecisionAt([image], 0.85)).toBeCloseTo(25.5 / 101, 12);
    expect(maskAp([image])).toBeCloseTo((3 + (4 * 51) / 101 + 25.5 / 101) / 10, 12);
  });

  it('sorts detections of all images together by score', () => {
    // image 1: a hit scored 0.5; image 2: a miss scored 0.7 and a hit scored 0.6.
    // Order: miss, hit, hit -> precision 0, 1/2, 2/3 -> non-increasing 2/3 at every recall point.
    const ap = maskAp([
      { scores: [0.5], ious: [[0.99]], gtCount: 1 },
      { scores: [0.7, 0.6], ious: [[0.1], [0.99]], gtCount: 1 },
    ]);
    expect(ap).toBeCloseTo(2 / 3, 12);
  });

  it('is null without ground truth', () => {
    expect(maskAp([{ scores: [0.5], ious: [[]], gtCount: 0 }])).toBeNull();
  });
});
