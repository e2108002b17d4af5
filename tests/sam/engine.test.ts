/** The engine: onnxruntime sessions in a worker thread, an LRU of embeddings, refinement, provider fallback. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type LoadedModel } from '../../main/sam/engine.ts';
import { readNpyFloat32 } from '../../main/sam/npy.ts';
import { fullMaskFromCrop } from '../../main/sam/postprocess.ts';
import { thinnedView } from '../../main/sam/view-masks.ts';
import { MASK_VIEW_MAX_PIXELS } from '../../preload/contract/index.ts';
import { maxAbsDiff, SAM_TINY, samTinyModelDir } from '../helpers/sam-tiny.ts';

const landscape = join(SAM_TINY, 'landscape.png');
const portrait = join(SAM_TINY, 'portrait.png');
let model: { dir: string; cleanup: () => void };
let engine: Engine;
let loaded: LoadedModel;

beforeAll(async () => {
  model = await samTinyModelDir();
  engine = await createEngine({ threads: 2, lruSize: 1 });
  loaded = await engine.loadModel(model.dir);
});
afterAll(async () => {
  await engine.dispose();
  model.cleanup();
});

describe('the engine worker', () => {
  it('encodes once and then answers from memory, keyed by image content and model id', async () => {
    const first = await engine.encode(loaded, landscape);
    expect(first).toMatchObject({ source: 'encoder', width: 320, height: 240, modelId: loaded.info.id });
    expect(first.imageHash).toMatch(/^[0-9a-f]{64}$/);
    const second = await engine.encode(loaded, landscape, { imageHash: first.imageHash });
    expect(second.source).toBe('memory');
    expect(second.encoderMs).toBe(0);
  });

  it('returns the embedding itself, equal to the official one', async () => {
    const { embedding } = await engine.encodeWithEmbedding(loaded, landscape);
    expect(maxAbsDiff(embedding, readNpyFloat32(join(SAM_TINY, 'landscape.embedding.npy')).data)).toBeLessThan(1e-4);
  });

  it('evicts the least recently used embedding beyond its capacity', async () => {
    const a = await engine.encode(loaded, landscape);
    await engine.encode(loaded, portrait);
    expect(await engine.hasEmbedding(loaded, a.imageHash)).toBe(false);
  });

  it('uses an embedding put from a persistent cache instead of running the encoder', async () => {
    const reference = readNpyFloat32(join(SAM_TINY, 'landscape.embedding.npy')).data;
    await engine.putEmbedding(loaded, 'cached-hash', reference, 320, 240);
    const r = await engine.predict(loaded, '/nonexistent/only-the-cache-is-read.png', { points: [{ x: 100, y: 80, label: 1 }] }, { imageHash: 'cached-hash' });
    const officialIou = readNpyFloat32(join(SAM_TINY, 'landscape.case0.out.iou_predictions.npy')).data;
    expect(maxAbsDiff(r.iouPredictions, officialIou)).toBeLessThan(1e-4);
    expect(r.masks).toHaveLength(4);
  });

  it('refines with the previous low-res mask as the official refinement case does', async () => {
    const reference = readNpyFloat32(join(SAM_TINY, 'landscape.embedding.npy')).data;
    await engine.putEmbedding(loaded, 'refine-hash', reference, 320, 240);
    const first = await engine.predict(loaded, landscape, { points: [{ x: 100, y: 80, label: 1 }] }, { imageHash: 'refine-hash' });
    // the app feeds back the highest-IoU multimask output (1..3), as the fixture's case4 does
    const k = 1 + first.iouPredictions.slice(1).indexOf(Math.max(...first.iouPredictions.slice(1)));
    const maskInput = first.lowResMasks.slice(k * 65536, (k + 1) * 65536);
    const refined = await engine.predict(loaded, landscape, { points: [{ x: 100, y: 80, label: 1 }, { x: 150, y: 60, label: 1 }], maskInput }, { imageHash: 'refine-hash' });
    const official = readNpyFloat32(join(SAM_TINY, 'landscape.case4.out.low_res_masks.npy')).data;
    expect(maxAbsDiff(refined.lowResMasks, official)).toBeLessThan(1e-3);
  });

  it('gives the same masks from predict (cropped) and segment (full size)', async () => {
    const prompt = { points: [{ x: 60, y: 200, label: 1 as const }, { x: 250, y: 40, label: 0 as const }] };
    const s = await engine.segment(loaded, landscape, prompt);
    const p = await engine.predict(loaded, landscape, prompt);
    for (let k = 0; k < 4; k++) {
      const full = fullMaskFromCrop(p.masks[k]!, 320, 240);
      let diff = 0;
      for (let i = 0; i < full.length; i++) if (full[i] !== s.masks[k]![i]) diff++;
      expect(diff).toBeLessThanOrEqual(2);
    }
    expect(p.best).toBe(s.best);
  });

  it('upsamples only the best candidate for a hover preview', async () => {
    const prompt = { points: [{ x: 60, y: 200, label: 1 as const }] };
    const all = await engine.predict(loaded, landscape, prompt);
    const preview = await engine.predict(loaded, landscape, prompt, { onlyBest: true });
    expect(preview.best).toBe(all.best);
    expect(preview.masks[all.best]).toEqual(all.masks[all.best]);
    for (let k = 0; k < 4; k++) if (k !== all.best) expect(preview.masks[k]!.width).toBe(0);
  });

  it('rejects a bad prompt with a message and keeps working', async () => {
    await expect(engine.predict(loaded, landscape, { points: [{ x: -1, y: 5, label: 1 }] })).rejects.toThrow(/outside the image/);
    await expect(engine.predict(loaded, landscape, { points: [], box: [50, 50, 10, 60] })).rejects.toThrow(/x0 < x1/);
    const ok = await engine.predict(loaded, landscape, { points: [{ x: 5, y: 5, label: 1 }] });
    expect(ok.masks).toHaveLength(4);
  });
});

describe('execution providers', () => {
  it('fall back to the CPU with a warning when the chosen provider fails its self-test', async () => {
    const e = await createEngine({ executionProvider: 'cuda', threads: 1 });
    try {
      const m = await e.loadModel(model.dir);
      expect(m.provider).toBe('cpu');
      expect(m.warnings.join(' ')).toMatch(/cuda/);
    } finally {
      await e.dispose();
    }
  });
});

describe('decoder priority in the worker', () => {
  it('drops a waiting hover when a click arrives, so the click runs next', async () => {
    const reference = readNpyFloat32(join(SAM_TINY, 'landscape.embedding.npy')).data;
    await engine.putEmbedding(loaded, 'priority-hash', reference, 320, 240);
    const at = (x: number, y: number) => ({ points: [{ x, y, label: 1 as const }] });
    const done: string[] = [];
    const track = <T>(name: string, p: Promise<T>) => p.then((r) => { done.push(name); return r; });
    // the first click is running when the hovers arrive; each arrival drops the hover waiting
    const click0 = track('click0', engine.predict(loaded, landscape, at(100, 80), { imageHash: 'priority-hash' }));
    const hover1 = track('hover1', engine.hover(loaded, landscape, at(110, 90), { imageHash: 'priority-hash' }));
    const hover2 = track('hover2', engine.hover(loaded, landscape, at(120, 95), { imageHash: 'priority-hash' }));
    const click3 = track('click3', engine.predict(loaded, landscape, at(200, 100), { imageHash: 'priority-hash' }));
    const [r0, h1, h2, r3] = await Promise.all([click0, hover1, hover2, click3]);
    expect(h1).toBeNull();
    expect(h2).toBeNull();
    expect(r0.masks).toHaveLength(4);
    expect(r3.masks).toHaveLength(4);
    expect(done.indexOf('click3')).toBeGreaterThan(done.indexOf('click0'));
    // a hover with nothing after it is answered: only the best candidate upsampled
    const alone = await engine.hover(loaded, landscape, at(100, 80), { imageHash: 'priority-hash' });
    expect(alone!.best).toBe(r0.best);
    expect(alone!.views[alone!.best]).toEqual({ ...r0.masks[r0.best], step: 1 });
    expect(alone!.views.filter((m) => m.width > 0)).toHaveLength(1);
  });

  it('answers a click where the pointer rested with the hover candidates: the decoder answer, taken once', async () => {
    const reference = readNpyFloat32(join(SAM_TINY, 'landscape.embedding.npy')).data;
    await engine.putEmbedding(loaded, 'resting-hash', reference.slice(), 320, 240);
    const opts = { imageHash: 'resting-hash' };
    const at = { points: [{ x: 150.25, y: 90.5, label: 1 as const }] };
    const hover = await engine.hover(loaded, landscape, at, opts);
    expect(hover!.fromHover).toBe(false);
    expect(hover!.lowResMasks).toHaveLength(0); // kept in the engine, not sent
    const click = await engine.predictViews(loaded, landscape, at, opts);
    expect(click.fromHover).toBe(true);
    // taken once: the same click again runs the decoder, and gives the same answer
    const again = await engine.predictViews(loaded, landscape, at, opts);
    expect(again.fromHover).toBe(false);
    expect(click.lowResMasks).toEqual(again.lowResMasks);
    expect(click.iouPredictions).toEqual(again.iouPredictions);
    expect(click.best).toBe(again.best);
    expect(click.views).toEqual(again.views);
    expect(click.views[click.best]).toEqual(hover!.views[hover!.best]);
    // another point, a second point or a negative point: the decoder runs
    for (const prompt of [
      { points: [{ x: 150, y: 90.5, label: 1 as const }] },
      { points: [...at.points, { x: 60, y: 200, label: 1 as const }] },
      { points: [{ ...at.points[0]!, label: 0 as const }] },
    ]) {
      await engine.hover(loaded, landscape, at, opts);
      expect((await engine.predictViews(loaded, landscape, prompt, opts)).fromHover, JSON.stringify(prompt.points)).toBe(false);
    }
    // and so it does when the image's embedding was replaced after the hover
    await engine.hover(loaded, landscape, at, opts);
    await engine.putEmbedding(loaded, 'resting-hash', reference.slice(), 320, 240);
    expect((await engine.predictViews(loaded, landscape, at, opts)).fromHover).toBe(false);
  });

  it('prepares the first click only for an embedding it holds', async () => {
    expect(await engine.prepareClicks(loaded, 'never-encoded')).toBe(false);
    const reference = readNpyFloat32(join(SAM_TINY, 'landscape.embedding.npy')).data;
    await engine.putEmbedding(loaded, 'prepared-hash', reference.slice(), 320, 240);
    expect(await engine.prepareClicks(loaded, 'prepared-hash')).toBe(true);
    const r = await engine.predictViews(loaded, landscape, { points: [{ x: 100, y: 80, label: 1 }] }, { imageHash: 'prepared-hash' });
    expect(r.iouPredictions).toHaveLength(4);
  });

  it('answers the window with views equal to the full crops, thinned on a large photo', async () => {
    const reference = readNpyFloat32(join(SAM_TINY, 'landscape.embedding.npy')).data;
    const prompt = { points: [{ x: 60, y: 200, label: 1 as const }] };
    await engine.putEmbedding(loaded, 'views-hash', reference.slice(), 320, 240);
    const crops = await engine.predict(loaded, landscape, prompt, { imageHash: 'views-hash' });
    const views = await engine.predictViews(loaded, landscape, prompt, { imageHash: 'views-hash' });
    expect(views.best).toBe(crops.best);
    expect(views.iouPredictions).toEqual(crops.iouPredictions);
    for (let k = 0; k < 4; k++) expect(views.views[k]).toEqual({ ...crops.masks[k], step: 1 });
    // the same embedding standing for an 8000x6000 photo: views within the budget, the same
    // pixels as the full-size crop thinned
    await engine.putEmbedding(loaded, 'views-big', reference.slice(), 8000, 6000);
    const bigPrompt = { points: [{ x: 1500, y: 5000, label: 1 as const }] };
    const big = await engine.predictViews(loaded, landscape, bigPrompt, { imageHash: 'views-big' });
    const bigCrops = await engine.predict(loaded, landscape, bigPrompt, { imageHash: 'views-big' });
    let thinned = 0;
    for (let k = 0; k < 4; k++) {
      const v = big.views[k]!;
      expect(v.data.length).toBeLessThanOrEqual(MASK_VIEW_MAX_PIXELS);
      const expected = thinnedView(bigCrops.masks[k]!, MASK_VIEW_MAX_PIXELS);
      expect({ ...v, data: Buffer.from(v.data).toString('base64') }).toEqual({ ...expected, data: Buffer.from(expected.data).toString('base64') });
      if (v.step > 1) thinned++;
    }
    expect(thinned).toBeGreaterThan(0);
  });

  it('hands a fed-back mask to the worker instead of copying it', async () => {
    const reference = readNpyFloat32(join(SAM_TINY, 'landscape.embedding.npy')).data;
    await engine.putEmbedding(loaded, 'transfer-hash', reference, 320, 240);
    expect(reference.byteLength).toBe(0); // transferred: detached on this side
    const maskInput = new Float32Array(65536).fill(-1);
    const r = await engine.predict(loaded, landscape, { points: [{ x: 100, y: 80, label: 1 }], maskInput }, { imageHash: 'transfer-hash' });
    expect(maskInput.byteLength).toBe(0);
    expect(r.lowResMasks.length).toBe(4 * 65536);
  });
});
