/**
 * Below 8-bit activations: a b-bit grid's codes come out of onnxruntime exactly as our own
 * quantizer computes them, and a w4a4 model keeps the encoder's A.V an integer product (its
 * uniform softmax grid at 8 bits, named in report.json) unless the spec's AGQ grid is asked for.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModel, GraphBuilder, loadModel } from '../../main/onnx/index.ts';
import { quantize, type EmitContext } from '../../main/ptq4sam/emit/context.ts';
import { DEFAULT_SOFTMAX, quantizeModelDir } from '../../main/ptq4sam/pipeline.ts';
import { paramsFromRange, quantizeCode } from '../../main/ptq4sam/quantizers/uniform.ts';
import type { QuantReport } from '../../main/ptq4sam/report.ts';
import { importCheckpoint } from '../../main/sam/model-dir.ts';
import { SAM_TINY } from '../helpers/sam-tiny.ts';

describe('a b-bit activation grid inside the 8-bit QuantizeLinear', () => {
  it.each([4, 6, 8])('gives the codes of our %i-bit quantizer for values inside, between and far outside the range', async (bits) => {
    const p = paramsFromRange(-0.7, 1.9, bits);
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n']);
    const ctx = { b, p: { activations: new Map([['site', p]]), agq: new Map(), weights: new Map() }, quantCache: new Map() } as unknown as EmitContext;
    const { q } = quantize(ctx, { id: 'site', tensor: x } as Parameters<typeof quantize>[1]);
    b.identity(q, 'q');
    b.output('q', 'uint8', ['n']);
    const session = await ort.InferenceSession.create(encodeModel(b.build('quantize')));
    const values = Float32Array.from({ length: 4001 }, (_, i) => -5 + i * 0.0025);
    const out = (await session.run({ x: new ort.Tensor('float32', values, [values.length]) })).q!.data as Uint8Array;
    await session.release();
    // onnxruntime divides in float32: our quantizer on the float32 quotient
    const scale = Math.fround(p.scale);
    const expected = Array.from(values, (v) => quantizeCode(Math.fround(v / scale), { ...p, scale: 1 }));
    expect(Array.from(out)).toEqual(expected);
    expect(Math.max(...out)).toBe(2 ** bits - 1);
    expect(Math.min(...out)).toBe(0);
  });
});

describe('w4a4 ptq4sam on sam-tiny', () => {
  let work: string;
  let fast: QuantReport;
  let spec: QuantReport;
  const dirs = { fp32: '', fast: '', spec: '' };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'low-bits-'));
    const calib = join(work, 'calib');
    mkdirSync(calib);
    copyFileSync(join(SAM_TINY, 'large.png'), join(calib, 'large.png'));
    for (const k of ['fp32', 'fast', 'spec'] as const) mkdirSync((dirs[k] = join(work, k)));
    await importCheckpoint(join(SAM_TINY, 'sam_tiny.pth'), dirs.fp32, { configPath: join(SAM_TINY, 'config.json') });
    const common = { modelDir: dirs.fp32, calibDir: calib, bits: { w: 4, a: 4 }, method: 'ptq4sam', measureImages: 1 };
    fast = await quantizeModelDir({ ...common, outDir: dirs.fast });
    spec = await quantizeModelDir({ ...common, outDir: dirs.spec, softmax: { ...DEFAULT_SOFTMAX, encoder: 'agq' } });
  }, 240_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('by default quantizes the encoder softmax on an 8-bit uniform grid and says so', () => {
    expect(fast.bits).toEqual({ w: 4, a: 4 });
    expect(fast.softmax_by_graph).toEqual({ encoder: 'uniform', decoder: 'agq' });
    expect(fast.softmax_bits).toEqual({ encoder: 8, decoder: 4 });
    // its only image calibrated, so the report's measurement is on it and says so
    expect(fast.fidelity).toMatchObject({ images: ['large.png'], held_out: false });
    expect(readFileSync(join(dirs.fast, 'report.html'), 'utf8')).toContain('on calibration images (large.png; no other image was given, so this is not a held-out measurement)');
    const info = JSON.parse(readFileSync(join(dirs.fast, 'model.json'), 'utf8')) as { name: string };
    expect(info.name).toMatch(/w4a4, encoder A\.V 8-bit\)$/);
    expect(readFileSync(join(dirs.fast, 'report.html'), 'utf8')).toContain('at 8 bits, wider than the other activations');
  });

  it('keeps every encoder A.V an integer product, where the spec\'s AGQ grid runs it in float', () => {
    const agqGathers = (dir: string) => loadModel(join(dir, 'encoder.onnx')).graph!.node!.filter((n) => n.opType === 'Gather' && /\/agq\//.test(n.name ?? '')).length;
    expect(agqGathers(dirs.fast)).toBe(0);
    expect(agqGathers(dirs.spec)).toBeGreaterThan(0);
    expect(spec.softmax_bits).toEqual({ encoder: 4, decoder: 4 });
    // one more integer product per encoder attention (sam-tiny: one per block)
    const blocks = new Set(loadModel(join(dirs.fp32, 'encoder.onnx')).graph!.initializer!.flatMap((t) => /^image_encoder\.blocks\.(\d+)\.attn\.qkv\.weight$/.exec(t.name ?? '')?.[1] ?? [])).size;
    expect(blocks).toBeGreaterThan(0);
    expect(fast.integer_products_expected - spec.integer_products_expected).toBe(blocks);
  });

  it('both variants segment: masks against fp32 reported, the 8-bit softmax no worse', () => {
    process.stdout.write(`w4a4 sam-tiny (calibrated on large.png, measured on it): encoder softmax 8-bit uniform mean IoU ${fast.fidelity.mean_iou.toFixed(3)}, embedding error ${fast.fidelity.embedding_rel_error.toFixed(4)}; spec AGQ ${spec.fidelity.mean_iou.toFixed(3)}, ${spec.fidelity.embedding_rel_error.toFixed(4)}\n`);
    expect(fast.fidelity.embedding_rel_error).toBeLessThanOrEqual(spec.fidelity.embedding_rel_error * 1.05);
  });
});
