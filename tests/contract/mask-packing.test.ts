/**
 * Mask views packed for the trip between processes: every shape of mask comes back whole, the
 * smaller packing is chosen, and a malformed body is refused with a message.
 */
import { describe, expect, it } from 'vitest';
import { packMaskViews, unpackMaskViews } from '../../preload/contract/index.ts';
import { packMaskData, unpackMaskData } from '../../preload/contract/mask-packing.ts';

function seeded(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** A w x h disc (smooth: few runs). */
function disc(w: number, h: number): Uint8Array {
  return Uint8Array.from({ length: w * h }, (_, i) => ((i % w) - w / 2) ** 2 + (Math.floor(i / w) - h / 2) ** 2 < (Math.min(w, h) / 2.5) ** 2 ? 1 : 0);
}

describe('mask packing', () => {
  const rnd = seeded(3);
  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['one inside sample', Uint8Array.of(1)],
    ['all outside', new Uint8Array(5000)],
    ['all inside', new Uint8Array(5000).fill(1)],
    ['a disc', disc(320, 240)],
    ['noise', Uint8Array.from({ length: 77_777 }, () => (rnd() < 0.5 ? 1 : 0))],
    ['a long run (multi-byte lengths)', Uint8Array.from({ length: 3_000_000 }, (_, i) => (i > 2_500_000 ? 1 : 0))],
    ['noise of a length that ends mid-word and mid-byte', Uint8Array.from({ length: 1_003 }, () => (rnd() < 0.5 ? 1 : 0))],
    ['a disc read from the middle of a larger buffer (not word-aligned)', disc(101, 77).subarray(3, 3 + 7000)],
    ['runs of 8 (as many run bytes as bit bytes)', Uint8Array.from({ length: 4096 }, (_, i) => (i >> 3) & 1)],
    ['runs of 7 (one run byte more than the bits)', Uint8Array.from({ length: 4095 }, (_, i) => Math.floor(i / 7) & 1)],
  ];
  for (const [name, data] of cases) {
    it(`round-trips ${name}`, () => {
      const packed = packMaskData(data);
      expect(Array.from(unpackMaskData(packed, data.length))).toEqual(Array.from(data));
      expect(packed.length).toBeLessThanOrEqual(1 + Math.ceil(data.length / 8));
    });
  }
  it('reads any nonzero sample as inside, in runs and in bits', () => {
    const smooth = disc(320, 240).map((v) => v * 255);
    const noisy = Uint8Array.from({ length: 9_999 }, () => (rnd() < 0.5 ? 1 + Math.floor(rnd() * 255) : 0));
    for (const data of [smooth, noisy]) {
      expect(Array.from(unpackMaskData(packMaskData(data), data.length))).toEqual(Array.from(data, (v) => (v ? 1 : 0)));
    }
    expect(packMaskData(smooth)).toEqual(packMaskData(disc(320, 240)));
  });
  it('chooses runs while they take no more bytes than the bits', () => {
    expect(packMaskData(cases[9]![1])[0]).toBe(1);
    expect(packMaskData(cases[9]![1]).length).toBe(1 + 4096 / 8);
    expect(packMaskData(cases[10]![1])[0]).toBe(2);
  });
  it('packs a smooth mask as runs, under a kilobyte for 76,800 samples', () => {
    const packed = packMaskData(disc(320, 240));
    expect(packed[0]).toBe(1);
    expect(packed.length).toBeLessThan(1000);
  });
  it('packs noise as bits, an eighth of its size', () => {
    const packed = packMaskData(cases[5]![1]);
    expect(packed[0]).toBe(2);
    expect(packed.length).toBe(1 + Math.ceil(77_777 / 8));
  });
  it('packs every mask view of an answer and gives it back whole', () => {
    const view = { x: 3, y: 4, width: 320, height: 240, step: 1, data: disc(320, 240) };
    const thinned = { x: 0, y: 0, width: 8000, height: 6000, step: 4, data: disc(2000, 1500) };
    const answer = { resultId: 7, masks: [view, thinned], iouPredictions: [0.5, 0.9], nested: { mask: view }, raw: new Float32Array(2) };
    const packed = packMaskViews(answer) as unknown as { masks: Record<string, unknown>[]; nested: { mask: Record<string, unknown> }; raw: Float32Array };
    expect(packed.masks[0]!.data).toBeUndefined();
    expect((packed.masks[0]!.packed as Uint8Array).length).toBeLessThan(1000);
    expect(packed.raw).toBe(answer.raw);
    const back = unpackMaskViews(packed) as unknown as typeof answer;
    expect(back.resultId).toBe(7);
    expect(Array.from(back.masks[0]!.data)).toEqual(Array.from(view.data));
    expect(Array.from(back.masks[1]!.data)).toEqual(Array.from(thinned.data));
    expect(Array.from(back.nested.mask.data)).toEqual(Array.from(view.data));
    expect(back.masks[1]).toMatchObject({ x: 0, y: 0, width: 8000, height: 6000, step: 4 });
  });
  it('refuses a malformed body with a message', () => {
    expect(() => unpackMaskData(Uint8Array.of(9, 1), 1)).toThrow(/unknown kind 9/);
    expect(() => unpackMaskData(Uint8Array.of(1, 0x85), 5)).toThrow(/cut short/);
    expect(() => unpackMaskData(Uint8Array.of(1, 3, 4), 5)).toThrow(/more than 5/);
    expect(() => unpackMaskData(Uint8Array.of(1, 3), 5)).toThrow(/cover 3 of 5/);
    expect(() => unpackMaskData(Uint8Array.of(2, 0), 9)).toThrow(/bits for 9/);
  });
});
