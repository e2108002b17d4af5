/**
 * The decoder split into an image part (once per image) and a prompt part (per click), cut from
 * sam_tiny's decoder.onnx (and SAM 2.1's, against its whole decoder): the official outputs within 1e-4 on every fixture case, decoder.onnx
 * untouched, the image part run once per embedding, refinements as the prompt part plus the mask's share.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECODER_FILE } from '../../main/sam/model-dir.ts';
import { readNpyFloat32 } from '../../main/sam/npy.ts';
import { decoderFeeds, loadSam, prepareClicks, pruneToOutputs, releaseSam, runBestDecoder, runDecoder, runEncoder, runPredict, splitDecoderSessions, type LoadedSam } from '../../main/sam/inference.ts';
import type { SegmentPrompt } from '../../main/sam/engine-api.ts';
import { decodeImage } from '../../main/sam/image/index.ts';
import { POSTPROCESS_INPUT, columnGathersAsRows, narrowFinalAttention, postprocessDecoder, postprocessSource, refinementGraph, splitDecoder } from '../../main/sam/decoder-split.ts';
import { encodeModel } from '../../main/onnx/model-io.ts';
import { tensorToBigInt64 } from '../../main/onnx/tensor.ts';
import { SAM2_TINY, sam2TinyModelDir } from '../helpers/sam2-tiny.ts';
import { loadModel } from '../../main/onnx/model-io.ts';
import { manifest, maxAbsDiff, SAM_TINY, samTinyModelDir } from '../helpers/sam-tiny.ts';

let model: { dir: string; cleanup: () => void };
let sam: LoadedSam;
const fixture = (name: string) => join(SAM_TINY, name);
const embedding = readNpyFloat32(fixture('landscape.embedding.npy')).data;
const cases = manifest().images.find((i) => i.image === 'landscape.png')!.cases;
const tensor = (file: string) => { const a = readNpyFloat32(fixture(file)); return new ort.Tensor('float32', a.data, a.shape); };

beforeAll(async () => {
  model = await samTinyModelDir();
  sam = await loadSam(model.dir, { threads: 2 });
});
afterAll(() => model.cleanup());

describe('the split decoder', () => {
  it('leaves decoder.onnx as it was', async () => {
    const path = join(model.dir, DECODER_FILE);
    const before = createHash('sha256').update(readFileSync(path)).digest('hex');
    await splitDecoderSessions(sam);
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(before);
  });

  for (const c of cases.filter((x) => x.decoder_inputs!.mask_input!.startsWith('zeros'))) {
    it(`reproduces ${c.id} within 1e-4 through the image part and the prompt part`, async () => {
      const parts = await splitDecoderSessions(sam);
      const side = await parts.image.run({ image_embeddings: new ort.Tensor('float32', embedding, [1, 256, 64, 64]) });
      const out = await parts.prompt.run({ point_coords: tensor(c.decoder_inputs!.point_coords!), point_labels: tensor(c.decoder_inputs!.point_labels!), ...side });
      for (const name of ['iou_predictions', 'low_res_masks']) {
        expect(maxAbsDiff(out[name]!.data as Float32Array, readNpyFloat32(fixture(c.decoder_outputs![name]!)).data), name).toBeLessThan(1e-4);
      }
    });
  }

  for (const c of cases.filter((x) => !x.decoder_inputs!.mask_input!.startsWith('zeros'))) {
    it(`reproduces ${c.id} (a fed-back mask) within 1e-4 through the image part and the refinement graph`, async () => {
      const parts = await splitDecoderSessions(sam);
      const side = await parts.image.run({ image_embeddings: new ort.Tensor('float32', embedding, [1, 256, 64, 64]) });
      const feeds: Record<string, ort.Tensor> = { ...side };
      for (const [name, file] of Object.entries(c.decoder_inputs!)) if (name !== 'image_embeddings' && name !== 'orig_im_size') feeds[name] = tensor(file);
      const out = await parts.refine.run(feeds);
      for (const name of ['iou_predictions', 'low_res_masks']) {
        expect(maxAbsDiff(out[name]!.data as Float32Array, readNpyFloat32(fixture(c.decoder_outputs![name]!)).data), name).toBeLessThan(1e-4);
      }
    });
  }

  it('runs the image part once per embedding, for clicks and refinements', async () => {
    const click = { points: [{ x: 100, y: 80, label: 1 as const }] };
    const first = await runPredict(sam, embedding, click, 320, 240);
    const side = sam.imageSide;
    expect(side?.embedding).toBe(embedding);
    await runPredict(sam, embedding, { points: [...click.points, { x: 150, y: 60, label: 1 }] }, 320, 240);
    expect(sam.imageSide).toBe(side);
    // a refinement reads every image-side tensor and adds the fed-back mask's share to it
    const parts = await splitDecoderSessions(sam);
    expect(parts.refineSide).toEqual(splitDecoder(loadModel(join(model.dir, DECODER_FILE)), 'x').imageSide);
    expect(maxAbsDiff(first.lowResMasks, readNpyFloat32(fixture('landscape.case0.out.low_res_masks.npy')).data)).toBeLessThan(1e-4);
    // case4 feeds case0's best multimask output back: the dense embedding is no longer constant
    const k = 1 + first.iouPredictions.slice(1).indexOf(Math.max(...first.iouPredictions.slice(1)));
    const refined = await runPredict(sam, embedding, { points: [...click.points, { x: 150, y: 60, label: 1 }], maskInput: first.lowResMasks.slice(k * 65536, (k + 1) * 65536) }, 320, 240);
    expect(maxAbsDiff(refined.lowResMasks, readNpyFloat32(fixture('landscape.case4.out.low_res_masks.npy')).data)).toBeLessThan(1e-3);
    // the same answers as the whole decoder, for the same prompts
    const whole = await runPredict(sam, embedding, click, 320, 240, { decoder: 'whole' });
    expect(maxAbsDiff(whole.lowResMasks, first.lowResMasks)).toBeLessThan(1e-4);
    expect(maxAbsDiff(whole.iouPredictions, first.iouPredictions)).toBeLessThan(1e-4);
  });

  it('prepares the first click: the image part runs ahead, once, and a click meanwhile waits for it', async () => {
    const parts = await splitDecoderSessions(sam);
    const run = parts.image.run.bind(parts.image);
    let runs = 0;
    parts.image.run = ((...args: Parameters<typeof run>) => { runs++; return run(...args); }) as typeof run;
    try {
      const other = embedding.slice(); // another image's embedding, as far as the cache can tell
      const prepared = prepareClicks(sam, other, 320, 240);
      const click = runPredict(sam, other, { points: [{ x: 100, y: 80, label: 1 }] }, 320, 240);
      const [, answer] = await Promise.all([prepared, click]);
      expect(runs).toBe(1);
      expect(sam.imageSide?.embedding).toBe(other);
      expect(maxAbsDiff(answer.lowResMasks, readNpyFloat32(fixture('landscape.case0.out.low_res_masks.npy')).data)).toBeLessThan(1e-4);
      await runPredict(sam, other, { points: [{ x: 150, y: 60, label: 1 }] }, 320, 240);
      expect(runs).toBe(1);
    } finally {
      parts.image.run = run;
    }
  });

  it('refines with the fed-back mask as its share of the image side: no 4096 x 256 product of the image tokens per refinement', () => {
    const path = join(model.dir, DECODER_FILE);
    const decoder = loadModel(path);
    const split = splitDecoder(decoder, path);
    const graph = refinementGraph(decoder, split)!.graph!;
    const inits = new Map(graph.initializer!.map((t) => [t.name ?? '', t]));
    const t = 'mask_decoder.transformer.layers.0';
    // layer 0's projections and the tokens' transpose stay in the image part; the mask's rows are not transposed to heads
    for (const name of [`${t}.cross_attn_token_to_image.k_proj/MatMul`, `${t}.cross_attn_token_to_image.v_proj/MatMul`, `${t}.cross_attn_image_to_token.q_proj/MatMul`, 'Transpose']) {
      expect(graph.node!.some((n) => n.name === name), name).toBe(false);
    }
    // the mask's share: per head for k, v and q (16 channels and the bias row, weights folded at load), one Gemm adding it to src
    const weightDims = (n: { input?: string[] | null }) => n.input!.map((i) => inits.get(i)?.dims?.map(Number)).find(Boolean);
    const heads = graph.node!.filter((n) => /^refine\/mask_head_product/.test(n.name ?? ''));
    expect(heads.map(weightDims).map(String).sort()).toEqual(['1,8,16,17', '1,8,17,16', '1,8,17,16']);
    const added = graph.node!.filter((n) => n.opType === 'Gemm' && /^refine\//.test(n.name ?? ''));
    expect(added.map(weightDims)).toEqual([[17, 256]]);
    expect(graph.input!.map((i) => i.name).sort()).toEqual([...split.imageSide, 'has_mask_input', 'mask_input', 'point_coords', 'point_labels'].sort());
    // a graph whose dense embedding is not added as SAM's prompt encoder adds it keeps the whole decoder
    const other = loadModel(path);
    const embeddingAdd = other.graph!.node!.find((n) => n.opType === 'Add' && n.input!.includes('image_embeddings'))!;
    embeddingAdd.opType = 'Sub';
    expect(refinementGraph(other, splitDecoder(other, path))).toBeNull();
    // and so does one where the mask reaches another node than the dense embedding's
    const elsewhere = loadModel(path);
    const iou = elsewhere.graph!.node!.find((n) => n.output!.includes('iou_predictions'))!;
    iou.output = ['iou_before_mask'];
    elsewhere.graph!.node!.push({ opType: 'Mul', input: ['iou_before_mask', 'has_mask_input'], output: ['iou_predictions'], name: 'iou_times_has_mask' });
    expect(refinementGraph(elsewhere, splitDecoder(elsewhere, path))).toBeNull();
  });

  it('computes the 4096-token projections of layer 0 in the image part and none per click', () => {
    const path = join(model.dir, DECODER_FILE);
    const split = splitDecoder(loadModel(path), path);
    const names = (m: typeof split.image) => new Set(m.graph!.node!.map((n) => n.name ?? ''));
    const image = names(split.image), prompt = names(split.prompt);
    const t = 'mask_decoder.transformer';
    for (const p of ['k_proj', 'v_proj']) expect(image.has(`${t}.layers.0.cross_attn_token_to_image.${p}/MatMul`)).toBe(true);
    expect(image.has(`${t}.layers.0.cross_attn_image_to_token.q_proj/MatMul`)).toBe(true);
    const perClickOverImage = [
      `${t}.layers.1.cross_attn_token_to_image.k_proj/MatMul`, `${t}.layers.1.cross_attn_token_to_image.v_proj/MatMul`,
      `${t}.final_attn_token_to_image.k_proj/MatMul`, `${t}.final_attn_token_to_image.v_proj/MatMul`,
      `${t}.layers.1.cross_attn_image_to_token.q_proj/MatMul`, `${t}.layers.0.cross_attn_image_to_token.out_proj/MatMul`,
      `${t}.layers.1.cross_attn_image_to_token.out_proj/MatMul`,
    ];
    expect(perClickOverImage.filter((n) => prompt.has(n) || image.has(n))).toEqual([]);
    expect(split.prompt.graph!.node!.filter((n) => n.opType === 'ConvTranspose')).toEqual([]);
    // the final attention's queries: the IoU token and the 4 mask tokens, not the prompt's
    const nodes = split.prompt.graph!.node!;
    const q = nodes.find((n) => n.name === `${t}.final_attn_token_to_image.q_proj/MatMul`)!;
    const slice = nodes.find((n) => n.output![0] === q.input![0])!;
    expect(slice.opType).toBe('Slice');
    const ends = split.prompt.graph!.initializer!.find((i) => i.name === slice.input![2])!;
    expect(Array.from(tensorToBigInt64(ends), Number)).toEqual([5]);
    // pruned to the scores (segment everything's screening), it reads the IoU token alone
    const scores = pruneToOutputs(split.prompt, ['iou_predictions']);
    narrowFinalAttention(scores);
    const narrowed = scores.graph!.initializer!.find((i) => i.name === slice.input![2])!;
    expect(Array.from(tensorToBigInt64(narrowed), Number)).toEqual([1]);
    expect(Array.from(tensorToBigInt64(ends), Number)).toEqual([5]);
  });

  it('splits SAM 2.1\'s decoder too: its high-resolution maps reordered once per image, the answers those of the whole decoder', async () => {
    const sam2 = await sam2TinyModelDir();
    try {
      const loaded = await loadSam(sam2.dir, { threads: 2 });
      const path = join(sam2.dir, DECODER_FILE);
      const split = splitDecoder(loadModel(path), path);
      // the high-resolution maps are put in the mask head's pixel rows once per image
      expect(split.imageInputs).toEqual(['image_embed', 'high_res_feats_1', 'high_res_feats_0']);
      expect(split.passedThrough).toEqual([]);
      expect(split.image.graph!.node!.filter((n) => n.opType === 'Transpose' && /high_res_feats_[01]\/rows\/moved/.test(n.output![0]!))).toHaveLength(2);
      expect(split.prompt.graph!.node!.filter((n) => n.opType === 'ConvTranspose')).toEqual([]);
      const promptNodes = split.prompt.graph!.node!.map((n) => n.name ?? '');
      expect(promptNodes.filter((n) => n.includes('/reassociated/')).length).toBeGreaterThan(10);
      expect(promptNodes.filter((n) => /final_attn_token_to_image\.[kv]_proj\/MatMul$/.test(n))).toEqual([]);
      const features = await runEncoder(loaded, await decodeImage(join(SAM2_TINY, 'landscape.png')));
      for (const prompt of [{ points: [{ x: 100, y: 80, label: 1 as const }] }, { points: [{ x: 200, y: 150, label: 1 as const }, { x: 60, y: 40, label: 0 as const }] }, { points: [], box: [40, 30, 220, 200] as [number, number, number, number] }]) {
        const splitAnswer = await runPredict(loaded, features, prompt, 320, 240);
        const whole = await runPredict(loaded, features, prompt, 320, 240, { decoder: 'whole' });
        expect(maxAbsDiff(splitAnswer.lowResMasks, whole.lowResMasks)).toBeLessThan(1e-4);
        expect(maxAbsDiff(splitAnswer.iouPredictions, whole.iouPredictions)).toBeLessThan(1e-4);
        expect(splitAnswer.best).toBe(whole.best);
      }
      expect(loaded.imageSide?.embedding).toBe(features);
      // a refinement (a fed-back mask) reads every image-side tensor from the image part (the reordered maps too), and agrees
      const parts = await splitDecoderSessions(loaded);
      expect([...parts.refineSide].sort()).toEqual(['Transpose:out', 'high_res_feats_0/rows', 'high_res_feats_1/rows', ...['image_to_token/q', 'token_to_image/k', 'token_to_image/v'].map((t) => `sam_mask_decoder.transformer.layers.0.cross_attn_${t}/Transpose:out`)]);
      const first = await runPredict(loaded, features, { points: [{ x: 100, y: 80, label: 1 }] }, 320, 240);
      const refinement = { points: [{ x: 100, y: 80, label: 1 as const }, { x: 150, y: 60, label: 1 as const }], maskInput: first.lowResMasks.slice(65536, 2 * 65536) };
      const refined = await runPredict(loaded, features, refinement, 320, 240);
      const refinedWhole = await runPredict(loaded, features, refinement, 320, 240, { decoder: 'whole' });
      expect(maxAbsDiff(refined.lowResMasks, refinedWhole.lowResMasks)).toBeLessThan(1e-4);
      expect(maxAbsDiff(refined.iouPredictions, refinedWhole.iouPredictions)).toBeLessThan(1e-4);
      await releaseSam(loaded);
    } finally {
      sam2.cleanup();
    }
  });

  it('refuses a graph without the SAM decoder inputs, naming the file', () => {
    const m = loadModel(join(model.dir, DECODER_FILE));
    m.graph!.input = m.graph!.input!.filter((i) => i.name !== 'has_mask_input');
    expect(() => splitDecoder(m, '/models/x/decoder.onnx')).toThrow('/models/x/decoder.onnx: decoder has no input has_mask_input; cannot split it');
  });
});

describe('the decoder postprocessing cut for one candidate (box decoding)', () => {
  it('gives each candidate\'s plane of the whole decoder\'s masks bit for bit, at any image size', async () => {
    const path = join(model.dir, DECODER_FILE);
    // the graph's own nodes, and its resize's column gathers done as row gathers (segment's
    // session has those: the whole decoder below): both every value of the original graph
    const cut = postprocessDecoder(loadModel(path), path);
    const rows = postprocessDecoder(loadModel(path), path);
    expect(columnGathersAsRows(rows)).toBe(true);
    expect(rows.graph!.node!.filter((n) => n.opType === 'Gather' && Number(n.attribute?.find((a) => a.name === 'axis')?.i ?? 0) === 3)).toEqual([]);
    expect(cut.graph!.node!.filter((n) => n.opType === 'Gather' && Number(n.attribute?.find((a) => a.name === 'axis')?.i ?? 0) === 3)).toHaveLength(4);
    const sessions = [await ort.InferenceSession.create(encodeModel(cut)), await ort.InferenceSession.create(encodeModel(rows))];
    for (const post of sessions) for (const [width, height] of [[320, 240], [180, 300], [1024, 768], [1400, 1000]] as const) {
      const { feeds } = decoderFeeds(embedding, { points: [], box: [10, 20, width / 2, height / 2] }, width, height);
      const whole = await sam.decoder.run(feeds);
      const lowRes = whole.low_res_masks!.data as Float32Array;
      const masks = whole.masks!.data as Float32Array;
      for (let k = 0; k < 4; k++) {
        const one = await post.run({ [POSTPROCESS_INPUT]: new ort.Tensor('float32', lowRes.slice(k * 65536, (k + 1) * 65536), [1, 1, 256, 256]), orig_im_size: feeds.orig_im_size! });
        expect(one.masks!.dims).toEqual([1, 1, height, width]);
        const plane = masks.subarray(k * width * height, (k + 1) * width * height);
        const ours = one.masks!.data as Float32Array;
        let differing = 0;
        for (let p = 0; p < plane.length; p++) if (!Object.is(ours[p], plane[p])) differing++;
        expect(differing, `${width}x${height} candidate ${k}`).toBe(0);
      }
    }
    await Promise.all(sessions.map((s) => s.release()));
  });

  it('the best candidate alone (boxes, clicks) is segment\'s mask and score bit for bit, the image part run once per embedding', async () => {
    const prompts: SegmentPrompt[] = [
      ...([[40, 30, 220, 200], [0, 0, 320, 240], [150.5, 20.25, 300, 120], [10, 100, 60, 230]] as [number, number, number, number][]).map((box) => ({ points: [], box })),
      { points: [{ x: 160, y: 120, label: 1 }] },
      { points: [{ x: 40.5, y: 200, label: 1 }, { x: 300, y: 20, label: 0 }] },
      { points: [{ x: 100, y: 100, label: 1 }], box: [50, 50, 200, 180] },
    ];
    for (const prompt of prompts) {
      const whole = await runDecoder(sam, embedding, prompt, 320, 240);
      const ours = await runBestDecoder(sam, embedding, prompt, 320, 240);
      expect(ours.best).toBe(whole.best);
      expect(ours.score).toBe(whole.iouPredictions[whole.best]);
      expect(Uint8Array.from(ours.logits, (v) => (v > 0 ? 1 : 0))).toEqual(whole.masks[whole.best]);
      expect(sam.boxSide?.embedding).toBe(embedding);
    }
    const side = sam.boxSide;
    await runBestDecoder(sam, embedding, { points: [], box: [1, 2, 3, 4] }, 320, 240);
    expect(sam.boxSide).toBe(side);
    // a fed-back mask changes the image side: the whole decoder answers
    const maskInput = new Float32Array(256 * 256).map((_, i) => Math.sin(i * 0.01) * 5);
    const refined = { points: [{ x: 160, y: 120, label: 1 as const }], maskInput };
    const whole = await runDecoder(sam, embedding, refined, 320, 240);
    const ours = await runBestDecoder(sam, embedding, refined, 320, 240);
    expect(Uint8Array.from(ours.logits, (v) => (v > 0 ? 1 : 0))).toEqual(whole.masks[whole.best]);
  });

  it('cuts SAM 2.1\'s postprocessing at its logits before the clamp: box decoding gives segment\'s mask and score bit for bit', async () => {
    const sam2 = await sam2TinyModelDir();
    try {
      const path = join(sam2.dir, DECODER_FILE);
      const decoder = loadModel(path);
      // SAM 2.1 resizes its logits to the image size before the clamp to [-32, 32] that gives low_res_masks
      const source = postprocessSource(decoder);
      expect(source).not.toBe('low_res_masks');
      expect(decoder.graph!.node!.some((n) => n.opType === 'Clip' && n.input![0] === source)).toBe(true);
      const loaded = await loadSam(sam2.dir, { threads: 2 });
      const { SAM2_FEATURES_LENGTH } = await import('../../main/sam/sam2-inference.ts');
      // scale 30 drives logits past the clamp, where low_res_masks alone would give other masks
      for (const scale of [3, 30]) {
        const features = new Float32Array(SAM2_FEATURES_LENGTH).map((_, i) => scale * Math.sin(i * 0.37));
        let clamped = false;
        for (const [width, height] of [[320, 240], [180, 300]] as const) {
          for (const box of [[40, 30, 120, 200], [0, 0, width, height], [15.5, 20.25, 170, 120]] as [number, number, number, number][]) {
            const whole = await runDecoder(loaded, features, { points: [], box }, width, height);
            const ours = await runBestDecoder(loaded, features, { points: [], box }, width, height);
            expect(ours.score).toBe(whole.iouPredictions[whole.best]);
            expect(Uint8Array.from(ours.logits, (v) => (v > 0 ? 1 : 0))).toEqual(whole.masks[whole.best]);
            clamped ||= whole.lowResMasks.some((v) => Math.abs(v) === 32);
          }
        }
        expect(clamped).toBe(scale === 30);
      }
      expect(await loaded.boxDecoder).not.toBeNull();
      // a graph whose masks read more than those logits is refused, naming the file
      const broken = loadModel(path);
      const resize = broken.graph!.node!.find((n) => n.opType === 'Gather' && n.input![0] === source)!;
      resize.input![0] = 'image_embed';
      expect(() => postprocessDecoder(broken, '/models/y/decoder.onnx')).toThrow(/^\/models\/y\/decoder\.onnx: decoder output masks reads .* besides low_res_masks; cannot cut its postprocessing$/);
      await releaseSam(loaded);
    } finally {
      sam2.cleanup();
    }
  });
});
