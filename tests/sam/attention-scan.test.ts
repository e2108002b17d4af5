/**
 * The encoder's global attentions run a chunk of query rows at a time (attention-scan.ts): the
 * same embedding bit for bit, float and quantized (uniform softmax grid: integer A.V; AGQ: log2
 * codes and a Gather), through the engine's own loading.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countOps, loadModel, type ModelProto } from '../../main/onnx/index.ts';
import { quantizeModelDir } from '../../main/ptq4sam/pipeline.ts';
import { scanGlobalAttention } from '../../main/sam/attention-scan.ts';
import { decodeImage, type RgbImage } from '../../main/sam/image/index.ts';
import { loadSam, releaseSam, runEncoder } from '../../main/sam/inference.ts';
import { importCheckpoint } from '../../main/sam/model-dir.ts';
import { SAM_TINY } from '../helpers/sam-tiny.ts';

/** sam-tiny's global blocks (encoder_global_attn_indexes) */
const GLOBAL = ['image_encoder.blocks.1.attn', 'image_encoder.blocks.3.attn'];

const softmaxNames = (m: ModelProto) => (m.graph!.node ?? []).filter((n) => n.opType === 'Softmax').map((n) => n.name);

async function embeddings(dir: string, img: RgbImage): Promise<{ scanned: Float32Array; plain: Float32Array; warnings: string[] }> {
  const scanned = await loadSam(dir);
  const plain = await loadSam(dir, { scanAttention: false });
  try {
    return { scanned: await runEncoder(scanned, img), plain: await runEncoder(plain, img), warnings: [...scanned.warnings, ...plain.warnings] };
  } finally {
    await releaseSam(scanned);
    await releaseSam(plain);
  }
}

function differing(a: Float32Array, b: Float32Array): number {
  let n = a.length === b.length ? 0 : Math.max(a.length, b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

describe('global attentions scanned a chunk of rows at a time', () => {
  let root: string;
  let img: RgbImage;
  const dirs: Record<string, string> = {};
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'attention-scan-'));
    const calib = join(root, 'calib');
    mkdirSync(calib);
    copyFileSync(join(SAM_TINY, 'large.png'), join(calib, 'large.png'));
    for (const d of ['fp32', 'w8a8', 'agq']) mkdirSync(join(root, d));
    dirs.fp32 = join(root, 'fp32');
    await importCheckpoint(join(SAM_TINY, 'sam_tiny.pth'), dirs.fp32, { configPath: join(SAM_TINY, 'config.json') });
    dirs.w8a8 = join(root, 'w8a8');
    await quantizeModelDir({ modelDir: dirs.fp32, calibDir: calib, outDir: dirs.w8a8, bits: { w: 8, a: 8 }, method: 'ptq4sam', measureImages: 1 });
    dirs['w8a8 with AGQ in the encoder'] = join(root, 'agq');
    await quantizeModelDir({ modelDir: dirs.fp32, calibDir: calib, outDir: dirs['w8a8 with AGQ in the encoder']!, bits: { w: 8, a: 8 }, method: 'ptq4sam', measureImages: 1, softmax: { encoder: 'agq', decoder: 'agq' } });
    img = await decodeImage(join(SAM_TINY, 'landscape.png'));
  }, 600_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  for (const variant of ['fp32', 'w8a8', 'w8a8 with AGQ in the encoder']) {
    it(`${variant}: the global attentions become Scans, the windowed ones stay, and the embedding is the same bit for bit`, async () => {
      const model = loadModel(join(dirs[variant]!, 'encoder.onnx'));
      const before = softmaxNames(model);
      expect(scanGlobalAttention(model)).toBe(2);
      const after = softmaxNames(model);
      // the windowed blocks' softmaxes are untouched; the global ones moved into the Scans' bodies
      expect(after).toEqual(before.filter((n) => !GLOBAL.some((m) => n === `${m}/Softmax`)));
      expect(countOps(model.graph!).Scan).toBe(2);
      const inner = model.graph!.node!.filter((n) => n.opType === 'Scan').map((n) => n.attribute!.find((a) => a.name === 'body')!.g!.node![0]!.attribute!.find((a) => a.name === 'body')!.g!);
      expect(inner.map((g) => g.node!.find((n) => n.opType === 'Softmax')!.name)).toEqual(GLOBAL.map((m) => `${m}/Softmax/chunk`));

      const { scanned, plain, warnings } = await embeddings(dirs[variant]!, img);
      expect(warnings).toEqual([]);
      expect(plain.length).toBe(256 * 64 * 64);
      expect(differing(scanned, plain)).toBe(0);
    }, 120_000);
  }

  it('an attention whose map is also read elsewhere, or whose maps are small, is left as it is', () => {
    const model = loadModel(join(dirs.fp32!, 'encoder.onnx'));
    const softmax = model.graph!.node!.find((n) => n.name === `${GLOBAL[0]}/Softmax`)!;
    model.graph!.output!.push({ name: softmax.output![0]!, type: { tensorType: { elemType: 1 } } });
    expect(scanGlobalAttention(model)).toBe(1);
    expect(softmaxNames(model)).toContain(`${GLOBAL[0]}/Softmax`);
    expect(softmaxNames(model)).not.toContain(`${GLOBAL[1]}/Softmax`);
    // a chunk budget above a head's whole map (4096 x 4096 floats): nothing to gain
    expect(scanGlobalAttention(loadModel(join(dirs.fp32!, 'encoder.onnx')), 4096 * 4096 * 4)).toBe(0);
  });
});
