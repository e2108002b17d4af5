/** quantize reads every image it will use before it calibrates: a bad held-out image ends the run at once, naming it. */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantizeModelDir } from '../../main/ptq4sam/pipeline.ts';
import { importCheckpoint } from '../../main/sam/model-dir.ts';
import { SAM_TINY } from '../helpers/sam-tiny.ts';

let work: string;
let fp32: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'early-images-'));
  fp32 = join(work, 'fp32');
  mkdirSync(fp32);
  await importCheckpoint(join(SAM_TINY, 'sam_tiny.pth'), fp32, { configPath: join(SAM_TINY, 'config.json') });
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('quantize with a held-out image that does not decode', () => {
  it('refuses before calibrating, naming the image', async () => {
    const good = join(work, 'landscape.png');
    copyFileSync(join(SAM_TINY, 'landscape.png'), good);
    const junk = join(work, 'z.png');
    writeFileSync(junk, 'not an image');
    const phases: string[] = [];
    mkdirSync(join(work, 'q'));
    await expect(quantizeModelDir({
      modelDir: fp32, calibDir: work, calibFiles: [good], measureFiles: [junk], outDir: join(work, 'q'), bits: { w: 8, a: 8 }, method: 'ptq4sam',
      onProgress: (p) => { phases.push(p.phase); },
    })).rejects.toThrow(`${junk}: cannot decode image`);
    expect(phases.filter((p) => p === 'encoder' || p === 'decoder')).toEqual([]);
  }, 120_000);
});
