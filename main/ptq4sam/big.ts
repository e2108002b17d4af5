/**
 * Bimodal Integration (PTQ4SAM.md section 1). The paper's test: Gaussian KDE of all the
 * post-key-linear activations K of a decoder token-to-image attention pooled together, 128 grid
 * points, exactly two peaks of height >= 1% of the density sum at least 32 samples apart, decided
 * from the first prompt of calibration image #0; we report it (`paper_bimodal`).
 *
 * The decision we fold on applies the same KDE test to the per-channel centres of K (the mean of
 * each channel over the image's tokens), by majority over the first prompt of several images.
 * The phenomenon BIG targets is per channel: each channel sits on one of two sign-opposite
 * offsets, and the fold acts only on those centres (gamma_c is the sign of channel c's mean).
 * Pooling adds every channel's spread around its own centre, which can bury the two modes: on
 * SAM 2.1's first token-to-image attention (keys = the un-normalised image embedding + PE) a
 * within-channel std of 2 merges +-3 offsets into one KDE peak, while the 128 centres keep two
 * modes. The centres' test also asks for the two peaks on opposite sides of zero (a fold can
 * merge nothing else) and takes half the paper's peak height (kde.ts: CENTRE_BIMODAL_TEST).
 *
 * The fold multiplies output channel c of q_proj and k_proj (columns of the [in, out]
 * initializers, and the biases) by gamma_c = sign(mean K[..., c]) over image #0 (+1 for a zero
 * mean, where the authors' torch.sign would zero the channel). Logits are sums of q_c k_c and
 * gamma_c^2 = 1, so the model's outputs do not change; K becomes one-sided per channel, i.e.
 * unimodal per tensor.
 */
import { makeTensor, tensorToFloat32, toNumber, type ITensorProto, type ModelProto } from '../onnx/index.ts';
import { bimodalTest, CENTRE_BIMODAL_TEST } from './quantizers/kde.ts';

/** The fold's decision in words, for report.json (`big.test`). */
export const BIG_DECISION = 'KDE of the per-channel means of K (128 grid points): exactly two peaks on opposite sides of 0, each >= 0.5% of the density sum, >= 32 points apart; majority over the first prompt of each BIG image';

/** Modules BIG examines: the decoder's token-to-image attentions (module name contains `token_to_image`). */
export function bigModules(decoderModuleNames: string[]): string[] {
  return [...new Set(decoderModuleNames.filter((m) => m.includes('token_to_image')))];
}

/** The key-linear output tensor of an attention module in our decoder graphs. */
export function keyTensorOf(model: ModelProto, module: string): string {
  const names = [`${module}.k_proj/Add`, `${module}.k_proj/MatMul`];
  for (const name of names) {
    const node = (model.graph?.node ?? []).find((n) => n.name === name);
    if (node?.output?.[0]) return node.output[0];
  }
  throw new Error(`decoder has no key projection for ${module} (expected node ${names[0]})`);
}

/** The paper's test: one KDE over all values of K. */
export function pooledBimodal(k: Float32Array): boolean {
  return bimodalTest(k).bimodal;
}

/** Mean of each channel over all rows; K is [rows, channels] row-major. */
export function channelMeans(keys: Float32Array[], channels: number): Float64Array {
  const sums = new Float64Array(channels);
  let rows = 0;
  for (const k of keys) {
    if (k.length % channels !== 0) throw new Error(`key tensor of ${k.length} values is not [rows, ${channels}]`);
    for (let i = 0; i < k.length; i++) sums[i % channels] += k[i]!;
    rows += k.length / channels;
  }
  return sums.map((s) => s / rows);
}

/** The decision we fold on: the KDE test on K's per-channel centres (see the top of this file). */
export function centresBimodal(k: Float32Array, channels: number): boolean {
  return bimodalTest(channelMeans([k], channels), CENTRE_BIMODAL_TEST).bimodal;
}

/** gamma_c = +1 if mean over all rows of channel c >= 0, else -1; K is [rows, channels] row-major. */
export function channelSigns(keys: Float32Array[], channels: number): Float32Array {
  return Float32Array.from(channelMeans(keys, channels), (m) => (m >= 0 ? 1 : -1));
}

export function applySigns(k: Float32Array, gamma: Float32Array): Float32Array {
  const c = gamma.length;
  return Float32Array.from(k, (x, i) => x * gamma[i % c]!);
}

export function majority(votes: boolean[]): boolean {
  return votes.filter(Boolean).length * 2 > votes.length;
}

/**
 * Replacement initializers for one module's fold: q_proj and k_proj weights ([in, out]) and
 * biases with output channel c multiplied by gamma_c.
 */
export function foldedInitializers(model: ModelProto, module: string, gamma: Float32Array): Map<string, ITensorProto> {
  const inits = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const out = new Map<string, ITensorProto>();
  for (const proj of ['q_proj', 'k_proj']) {
    const wName = `${module}.${proj}.weight`;
    const bName = `${module}.${proj}.bias`;
    const w = inits.get(wName);
    const bias = inits.get(bName);
    if (!w || !bias) throw new Error(`decoder lacks ${wName} or ${bName}: cannot fold BIG signs`);
    const dims = (w.dims ?? []).map(toNumber);
    const cols = dims[1]!;
    if (cols !== gamma.length) throw new Error(`${wName} has ${cols} output channels, keys have ${gamma.length}`);
    const wData = tensorToFloat32(w).slice();
    for (let i = 0; i < wData.length; i++) wData[i] = wData[i]! * gamma[i % cols]!;
    const bData = tensorToFloat32(bias).slice();
    for (let c = 0; c < cols; c++) bData[c] = bData[c]! * gamma[c]!;
    out.set(wName, makeTensor(wName, dims, wData));
    out.set(bName, makeTensor(bName, [cols], bData));
  }
  return out;
}
