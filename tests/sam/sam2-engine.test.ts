/**
 * A SAM 2.1 model through the app's path: the engine worker, the project's fp16 embedding cache
 * (all three feature maps), clicks answered from the cache, refinement with the previous mask.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProject, type Project } from '../../main/project/index.ts';
import { warmEmbedding } from '../../main/sam/embedding-cache.ts';
import { createEngine, type Engine, type LoadedModel } from '../../main/sam/engine.ts';
import { fullMaskFromCrop } from '../../main/sam/postprocess.ts';
import { SAM2_FEATURES_LENGTH } from '../../main/sam/sam2-inference.ts';
import { sha256File } from '../../main/sam/checkpoint/index.ts';
import { masksAgree, readMaskPng } from '../helpers/sam-tiny.ts';
import { sam2Fixture, sam2Manifest, sam2PromptOf, sam2TinyModelDir } from '../helpers/sam2-tiny.ts';

const landscape = sam2Fixture('landscape.png');
const cases = sam2Manifest().images.find((i) => i.image === 'landscape.png')!.cases;
const root = mkdtempSync(join(tmpdir(), 'sam2-engine-'));
let model: { dir: string; cleanup: () => void };
let project: Project;
let engine: Engine;
let loaded: LoadedModel;

beforeAll(async () => {
  model = await sam2TinyModelDir();
  project = createProject(join(root, 'p.db'));
  engine = await createEngine({ threads: 2 });
  loaded = await engine.loadModel(model.dir);
});
afterAll(async () => {
  await engine.dispose();
  project.close();
  model.cleanup();
  rmSync(root, { recursive: true, force: true });
});

describe('a SAM 2.1 model in the engine and the project cache', () => {
  it('stores all three feature maps as fp16 and answers a fresh engine from the cache', async () => {
    const hash = await sha256File(landscape);
    const image = { file: landscape, hash, width: 320, height: 240 };
    expect((await warmEmbedding(engine, loaded, project, image)).source).toBe('encoder');
    const stored = project.getEmbedding(hash, loaded.info.id)!;
    expect(stored.shape).toEqual([SAM2_FEATURES_LENGTH]);
    expect(stored.data.length).toBe(SAM2_FEATURES_LENGTH);

    const fresh = await createEngine({ threads: 2 });
    try {
      const again = await fresh.loadModel(model.dir);
      expect((await warmEmbedding(fresh, again, project, image)).source).toBe('cache');
      // the image file is never read again: fp16 features alone give the predictor's masks
      const c = cases[0]!;
      const r = await fresh.predict(again, '/nonexistent/only-the-cache-is-read.png', sam2PromptOf(c.prompt), { imageHash: hash });
      expect(r.best).toBe(c.single_output_token);
      const single = await readMaskPng(sam2Fixture(c.predictor_single.mask_png));
      expect(masksAgree(fullMaskFromCrop(r.masks[r.best]!, 320, 240), single.data).agree).toBe(true);
    } finally {
      await fresh.dispose();
    }
  });

  it('refines with the previous low-res mask as the official case4 does', async () => {
    const first = await engine.predict(loaded, landscape, sam2PromptOf(cases[0]!.prompt));
    const k = 1 + first.iouPredictions.slice(1).indexOf(Math.max(...first.iouPredictions.slice(1)));
    const c = cases[4]!;
    const refined = await engine.predict(loaded, landscape, { ...sam2PromptOf(c.prompt), maskInput: first.lowResMasks.slice(k * 65536, (k + 1) * 65536) });
    expect(refined.best).toBe(c.single_output_token);
    for (let m = 1; m <= 3; m++) {
      const ref = await readMaskPng(sam2Fixture(c.predictor_multimask.masks_png[m - 1]!));
      expect(masksAgree(fullMaskFromCrop(refined.masks[m]!, 320, 240), ref.data).agree).toBe(true);
    }
  });

  it('refuses a cached array of the wrong size, naming what it expected', async () => {
    await expect(engine.putEmbedding(loaded, 'short', new Float32Array(256 * 64 * 64), 320, 240)).rejects.toThrow(/expected image_embed \+ high_res_feats_0 \+ high_res_feats_1/);
  });
});
