/** The `model import`, `model synth`, `embed` and `segment` command-line contract. */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy, readNpyFloat32, writeNpy } from '../../main/sam/npy.ts';
import { runCli } from '../helpers/cli.ts';
import { maxAbsDiff, readMaskPng, SAM_TINY, SAM_TINY_CONFIG, SAM_TINY_PTH } from '../helpers/sam-tiny.ts';
import { writeStateDictPth } from '../helpers/torch-save.ts';

const dir = mkdtempSync(join(tmpdir(), 'sam-cli-'));
const model = join(dir, 'model');
const landscape = join(SAM_TINY, 'landscape.png');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  const r = runCli(['model', 'import', SAM_TINY_PTH, '--config', SAM_TINY_CONFIG, '--out', model]);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
});

/** Expects a one-line error naming `what`, a non-zero exit and no output directory. */
function expectFailure(args: string[], what: RegExp, out: string): void {
  const r = runCli(args);
  expect(r.code).not.toBe(0);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(what);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
}

describe('model import', () => {
  it('writes encoder.onnx, decoder.onnx and model.json with a stable id', () => {
    const info = JSON.parse(readFileSync(join(model, 'model.json'), 'utf8'));
    expect(info.family).toBe('sam');
    expect(info.architecture).toBe('custom');
    expect(info.config.encoder_depth).toBe(4);
    expect(info.source.file).toBe('sam_tiny.pth');
    expect(info.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(info.synthetic).toBe(false);
    const again = join(dir, 'model-again');
    expect(runCli(['model', 'import', SAM_TINY_PTH, '--config', SAM_TINY_CONFIG, '--out', again]).code).toBe(0);
    expect(JSON.parse(readFileSync(join(again, 'model.json'), 'utf8')).id).toBe(info.id);
  });

  it('imports an existing ONNX pair from a folder', () => {
    const out = join(dir, 'pair');
    const r = runCli(['model', 'import', model, '--out', out]);
    expect(r.code).toBe(0);
    const info = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect(info.source.kind).toBe('onnx');
    expect(info.masks).toBe(4);
    expect(info.preprocessing.kind).toBe('sam-nchw');
  });

  it('refuses a truncated checkpoint, naming the file', () => {
    const truncated = join(dir, 'truncated.pth');
    writeFileSync(truncated, readFileSync(SAM_TINY_PTH).subarray(0, 5_000_000));
    expectFailure(['model', 'import', truncated, '--config', SAM_TINY_CONFIG, '--out', join(dir, 'x1')], /truncated\.pth: .*truncated/, join(dir, 'x1'));
  });

  it('refuses a checkpoint of another model', () => {
    const other = join(dir, 'resnet.pth');
    writeStateDictPth(other, new Map([['fc.weight', { shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) }], ['fc.bias', { shape: [2], data: Float32Array.of(0, 1) }]]));
    expectFailure(['model', 'import', other, '--out', join(dir, 'x2')], /resnet\.pth: not a SAM checkpoint/, join(dir, 'x2'));
  });

  it('refuses ONNX files with the wrong signature and says what is wrong', () => {
    const wrong = join(dir, 'wrong-pair');
    mkdirSync(wrong);
    copyFileSync(join(model, 'decoder.onnx'), join(wrong, 'encoder.onnx'));
    copyFileSync(join(model, 'encoder.onnx'), join(wrong, 'decoder.onnx'));
    expectFailure(['model', 'import', wrong, '--out', join(dir, 'x3')], /encoder\.onnx: not a SAM encoder: expected 1 input, found 6/, join(dir, 'x3'));
  });

  it('refuses an --out that exists and is not empty', () => {
    const r = runCli(['model', 'import', SAM_TINY_PTH, '--config', SAM_TINY_CONFIG, '--out', model]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/exists and is not empty/);
    expect(existsSync(join(model, 'model.json'))).toBe(true);
  });
});

describe('model synth', () => {
  it('makes a synthetic ViT-B of reduced depth that embeds an image', () => {
    const out = join(dir, 'synth-b');
    expect(runCli(['model', 'synth', '--arch', 'vit_b', '--depth', '1', '--seed', '3', '--out', out]).code).toBe(0);
    const info = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect(info).toMatchObject({ synthetic: true, architecture: 'vit_b' });
    expect(info.config).toMatchObject({ encoder_embed_dim: 768, encoder_depth: 1, encoder_num_heads: 12, encoder_global_attn_indexes: [] });
    const npy = join(dir, 'synth.npy');
    expect(runCli(['embed', '--model', out, '--image', landscape, '--out', npy]).code).toBe(0);
    const e = readNpyFloat32(npy);
    expect(e.shape).toEqual([1, 256, 64, 64]);
    expect(e.data.every(Number.isFinite)).toBe(true);
  });
});

describe('embed', () => {
  it('writes the 1x256x64x64 embedding of the PNG, equal to the official one', () => {
    const npy = join(dir, 'landscape.npy');
    expect(runCli(['embed', '--model', model, '--image', landscape, '--out', npy]).code).toBe(0);
    const ours = readNpyFloat32(npy);
    const reference = readNpyFloat32(join(SAM_TINY, 'landscape.embedding.npy'));
    expect(ours.shape).toEqual([1, 256, 64, 64]);
    expect(maxAbsDiff(ours.data, reference.data)).toBeLessThan(1e-4);
  });
});

describe('segment', () => {
  it('writes masks.npy, low_res_masks.npy, mask PNGs and result.json with the single-mask best rule', async () => {
    const out = join(dir, 'seg1');
    const r = runCli(['segment', '--model', model, '--image', landscape, '--point', '100,80,1', '--out', out]);
    expect(r.code).toBe(0);
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    expect(result).toMatchObject({ width: 320, height: 240, masks: ['mask-0.png', 'mask-1.png', 'mask-2.png', 'mask-3.png'] });
    expect(result.iou_predictions).toHaveLength(4);
    // one click + padding point: N = 2, so mask 0 is penalised and best is the top of 1..3
    const iou: number[] = result.iou_predictions;
    expect(result.best).toBe(1 + iou.slice(1).indexOf(Math.max(...iou.slice(1))));
    const masks = readNpy(join(out, 'masks.npy'));
    expect(masks.dtype).toBe('uint8');
    expect(masks.shape).toEqual([4, 240, 320]);
    const png = await readMaskPng(join(out, `mask-${result.best}.png`));
    const plane = 240 * 320;
    expect(Array.from(png.data)).toEqual(Array.from((masks.data as Uint8Array).subarray(result.best * plane, (result.best + 1) * plane)));
    const ref = readNpyFloat32(join(SAM_TINY, 'landscape.case0.out.low_res_masks.npy'));
    expect(maxAbsDiff(readNpyFloat32(join(out, 'low_res_masks.npy')).data, ref.data)).toBeLessThan(1e-3);
  });

  it('refines with --mask-input as the official case4 does', () => {
    const out = join(dir, 'seg-refine');
    const maskInput = join(dir, 'mask-input.npy');
    writeNpy(maskInput, 'float32', [1, 1, 256, 256], readNpyFloat32(join(SAM_TINY, 'landscape.case4.in.mask_input.npy')).data);
    const r = runCli(['segment', '--model', model, '--image', landscape, '--point', '100,80,1', '--point', '150,60,1', '--mask-input', maskInput, '--out', out]);
    expect(r.code).toBe(0);
    const ref = readNpyFloat32(join(SAM_TINY, 'landscape.case4.out.low_res_masks.npy'));
    expect(maxAbsDiff(readNpyFloat32(join(out, 'low_res_masks.npy')).data, ref.data)).toBeLessThan(1e-3);
    // three decoder points (two clicks + padding): mask 0 wins the single-mask rule
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')).best).toBe(0);
  });

  it('takes a box with fractional coordinates', () => {
    const out = join(dir, 'seg-box');
    expect(runCli(['segment', '--model', model, '--image', landscape, '--box', '20.5,30,200,180.25', '--out', out]).code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')).best).toBeGreaterThanOrEqual(0);
  });

  it('refuses a point outside the image', () => {
    expectFailure(['segment', '--model', model, '--image', landscape, '--point', '400,10,1', '--out', join(dir, 'x4')], /point \(400, 10\) is outside the image \[0, 320\] x \[0, 240\]/, join(dir, 'x4'));
  });

  it('refuses an empty prompt', () => {
    expectFailure(['segment', '--model', model, '--image', landscape, '--out', join(dir, 'x5')], /empty prompt/, join(dir, 'x5'));
  });

  it('refuses a corrupt image, naming it', () => {
    const bad = join(dir, 'broken.png');
    writeFileSync(bad, readFileSync(landscape).subarray(0, 300));
    expectFailure(['segment', '--model', model, '--image', bad, '--point', '10,10,1', '--out', join(dir, 'x6')], /broken\.png: cannot decode image/, join(dir, 'x6'));
  });

  it('refuses a folder that is not a model', () => {
    expectFailure(['segment', '--model', dir, '--image', landscape, '--point', '10,10,1', '--out', join(dir, 'x7')], /not a model directory/, join(dir, 'x7'));
  });
});
