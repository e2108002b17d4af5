/** The command line with a SAM 2.1 model: `model import`, `embed` (three arrays) and `segment` (object score, the predictor's best). */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy, readNpyFloat32, writeNpy } from '../../main/sam/npy.ts';
import { runCli } from '../helpers/cli.ts';
import { masksAgree, maxAbsDiff, readMaskPng } from '../helpers/sam-tiny.ts';
import { SAM2_TINY_CONFIG, SAM2_TINY_PT, sam2Fixture, sam2Manifest, subGrid } from '../helpers/sam2-tiny.ts';

const dir = mkdtempSync(join(tmpdir(), 'sam2-cli-'));
const model = join(dir, 'model');
const landscape = sam2Fixture('landscape.png');
const cases = sam2Manifest().images.find((i) => i.image === 'landscape.png')!.cases;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  const r = runCli(['model', 'import', SAM2_TINY_PT, '--config', SAM2_TINY_CONFIG, '--out', model]);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ architecture: 'custom', dir: model });
});

describe('model import of a SAM 2.1 checkpoint', () => {
  it('writes a sam2.1 model directory', () => {
    const info = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8'));
    expect(info).toMatchObject({ family: 'sam2.1', masks: 4, source: { file: 'sam2.1_tiny_random.pt' } });
  });

  it('refuses the reduced checkpoint without --config with one error line naming the file', () => {
    const out = join(dir, 'no-config');
    const r = runCli(['model', 'import', SAM2_TINY_PT, '--out', out]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/error: .*sam2\.1_tiny_random\.pt: not an official SAM 2\.1 .*--config/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('embed with a SAM 2.1 model', () => {
  it('writes image_embed to --out and the high-res features beside it, equal to the official ones', () => {
    const out = join(dir, 'landscape.npy');
    const r = runCli(['embed', '--model', model, '--image', landscape, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const embed = readNpyFloat32(out);
    expect(embed.shape).toEqual([1, 256, 64, 64]);
    expect(maxAbsDiff(embed.data, readNpyFloat32(sam2Fixture('landscape.image_embed.npy')).data)).toBeLessThan(1e-4);
    const s0 = readNpyFloat32(join(dir, 'landscape.high_res_feats_0.npy'));
    const s1 = readNpyFloat32(join(dir, 'landscape.high_res_feats_1.npy'));
    expect(s0.shape).toEqual([1, 32, 256, 256]);
    expect(s1.shape).toEqual([1, 64, 128, 128]);
    expect(maxAbsDiff(subGrid(s0.data, 32, 256, 4), readNpyFloat32(sam2Fixture('landscape.high_res_feats_0.sub4.npy')).data)).toBeLessThan(1e-4);
    expect(maxAbsDiff(subGrid(s1.data, 64, 128, 4), readNpyFloat32(sam2Fixture('landscape.high_res_feats_1.sub4.npy')).data)).toBeLessThan(1e-4);
  });
});

describe('segment with a SAM 2.1 model', () => {
  it('writes all 4 tokens, the object score and best = the predictor\'s single-mask choice (stability fallback)', async () => {
    const c = cases[0]!; // one click whose token 0 is unstable: the predictor returns token 2
    const [x, y] = c.prompt.points![0]!;
    const out = join(dir, 'seg-click');
    const r = runCli(['segment', '--model', model, '--image', landscape, '--point', `${x},${y},1`, '--out', out]);
    expect(r.code).toBe(0);
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    expect(result).toMatchObject({ width: 320, height: 240, masks: ['mask-0.png', 'mask-1.png', 'mask-2.png', 'mask-3.png'], best: c.single_output_token });
    expect(result.best).toBe(2);
    expect(maxAbsDiff(result.iou_predictions, readNpyFloat32(sam2Fixture(c.decoder_outputs.iou_predictions)).data)).toBeLessThan(1e-5);
    expect(Math.abs(result.object_score - readNpyFloat32(sam2Fixture(c.decoder_outputs.object_score_logits)).data[0]!)).toBeLessThan(1e-4);
    const masks = readNpy(join(out, 'masks.npy'));
    expect(masks.shape).toEqual([4, 240, 320]);
    const single = await readMaskPng(sam2Fixture(c.predictor_single.mask_png));
    const plane = 240 * 320;
    expect(masksAgree((masks.data as Uint8Array).subarray(2 * plane, 3 * plane), single.data).agree).toBe(true);
    const low = readNpyFloat32(join(out, 'low_res_masks.npy'));
    expect(low.shape).toEqual([1, 4, 256, 256]);
    expect(maxAbsDiff(low.data, readNpyFloat32(sam2Fixture(c.decoder_outputs.low_res_masks!)).data)).toBeLessThan(1e-4);
  });

  it('refines with --mask-input as the official case4 does', () => {
    const c = cases[4]!;
    const maskInput = join(dir, 'mask-input.npy');
    const plane = 256 * 256;
    writeNpy(maskInput, 'float32', [1, 1, 256, 256], readNpyFloat32(sam2Fixture('landscape.case0.low_res_masks.npy')).data.slice(2 * plane, 3 * plane));
    const out = join(dir, 'seg-refine');
    const points = c.prompt.points!.flatMap(([x, y]) => ['--point', `${x},${y},1`]);
    const r = runCli(['segment', '--model', model, '--image', landscape, ...points, '--mask-input', maskInput, '--out', out]);
    expect(r.code).toBe(0);
    expect(maxAbsDiff(readNpyFloat32(join(out, 'low_res_masks.npy')).data, readNpyFloat32(sam2Fixture(c.decoder_outputs.low_res_masks!)).data)).toBeLessThan(1e-4);
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')).best).toBe(c.single_output_token);
  });
});
