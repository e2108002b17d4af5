/**
 * The setup and the quantizer's report never judge on a calibration image: the setup's split of
 * the available images, and the report's choice of what to measure on.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { measurementImages, spread } from '../../main/ptq4sam/pipeline.ts';
import { splitImages } from '../../main/setup/pipeline.ts';

const names = (n: number) => Array.from({ length: n }, (_, i) => `/imgs/${String(i).padStart(3, '0')}.png`);

describe('the setup\'s split', () => {
  it.each([
    [1, 0], [2, 1], [7, 1], [10, 2], [19, 3], [20, 4], [32, 4], [200, 4],
  ])('holds out a fifth of %i images, at least one, at most 4 (%i)', (n, held) => {
    const files = names(n);
    const { calibration, heldOut } = splitImages(files);
    expect(heldOut).toHaveLength(held);
    expect(calibration).toHaveLength(n - held);
    expect([...calibration, ...heldOut].sort()).toEqual(files);
    expect(heldOut.filter((f) => calibration.includes(f))).toEqual([]);
  });

  it('spreads the held-out images over the list instead of taking its end', () => {
    expect(spread(names(20), 4)).toEqual(['/imgs/002.png', '/imgs/007.png', '/imgs/012.png', '/imgs/017.png']);
    expect(splitImages(names(7)).heldOut).toEqual(['/imgs/003.png']);
  });
});

describe('what the quantizer\'s report measures on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'measure-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const copy = (from: string, name: string) => {
    copyFileSync(join('resources/samples', from), join(dir, name));
    return join(dir, name);
  };
  const a = copy('coins.png', 'a.png');
  const b = copy('chelsea.png', 'b.png');
  const c = copy('rocket.jpg', 'c.jpg');
  const aAgain = copy('coins.png', 'a-copy.png');

  it('takes images that are not calibration images, by content, not by name', () => {
    expect(measurementImages([b, aAgain, c], [a], 4)).toEqual({ images: [b, c], heldOut: true });
    expect(measurementImages([b, c], [a], 1)).toEqual({ images: [c], heldOut: true });
  });

  it('falls back to the calibration images and says they are not held out', () => {
    expect(measurementImages([aAgain], [a, b], 4)).toEqual({ images: [a, b], heldOut: false });
    expect(measurementImages([], [a, b, c], 2)).toEqual({ images: [a, b], heldOut: false });
  });
});
