/**
 * Model directories: `encoder.onnx`, `decoder.onnx` (plus `.data` external-data files for large
 * models) and `model.json`. The `id` is a hash of the ONNX files and keys every cache.
 * Models come from a PyTorch/safetensors checkpoint (built into ONNX here), from an existing
 * SAM ONNX pair (signature checked), or from `synth` (random weights, marked synthetic).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { allTensors, loadModel, saveModel } from '../onnx/model-io.ts';
import { graphInputs, graphOutputs, type TensorSignature } from '../onnx/graph.ts';
import { DataLocation, DataType, type ModelProto } from '../onnx/proto.ts';
import { readCheckpoint, sha256File } from './checkpoint/index.ts';
import { architectureOf, detectConfig, parseConfig, type Architecture, type SamConfig } from './builders/config.ts';
import { buildDecoder } from './builders/decoder.ts';
import { buildEncoder } from './builders/encoder.ts';
import { buildSam2Decoder } from './builders/sam2-decoder.ts';
import { detectSam2Config, isSam2StateDict, parseSam2Config, type Sam2Architecture, type Sam2Config } from './builders/sam2-config.ts';
import { buildSam2Encoder } from './builders/hiera.ts';
import { Weights } from './builders/weights.ts';
import { synthConfig, synthStateDict } from './synth.ts';
import { synthSam2StateDict } from './sam2-synth.ts';
import { SAM2_PIXEL_MEAN, SAM2_PIXEL_STD } from './image/sam2-input.ts';

export const ENCODER_FILE = 'encoder.onnx';
export const DECODER_FILE = 'decoder.onnx';
export const MODEL_JSON = 'model.json';
const CREATED_BY = 'PTQ4SAM Studio 0.1.0';

/**
 * How an image becomes the encoder's input:
 * - `sam-nchw`: our models and Meta-style exports: 1x3x1024x1024, normalised, zero-padded.
 * - `sam-hwc-resized`: samexporter's `--use-preprocess` encoders: the resized HxWx3 image on
 *   the 0-255 scale; normalisation and padding happen inside the graph.
 * - `sam2-stretch`: SAM 2.1: 1x3x1024x1024, the image stretched to 1024x1024 (antialiased
 *   float bilinear) on the 0-1 scale, ImageNet mean/std (image/sam2-input.ts).
 */
export type Preprocessing = 'sam-nchw' | 'sam-hwc-resized' | 'sam2-stretch';

/**
 * `sam`: SAM 1, encoder -> image_embeddings, decoder in the SAM ONNX contract.
 * `sam2.1`: SAM 2 / 2.1 image predictor, encoder -> image_embed + high_res_feats_0/1, decoder
 * takes all three (README "SAM 2.1 model directories").
 */
export type ModelFamily = 'sam' | 'sam2.1';
const FAMILIES: ModelFamily[] = ['sam', 'sam2.1'];

export interface ModelInfo {
  format: 1;
  id: string;
  name: string;
  family: ModelFamily;
  architecture: Architecture | Sam2Architecture | 'unknown';
  config: SamConfig | Sam2Config | null;
  preprocessing: { kind: Preprocessing; longSide: 1024; mean: number[]; std: number[]; encoderInput: string };
  /** decoder outputs per call: 4 for our models, 1 for single-mask exports */
  masks: number;
  source: { kind: 'checkpoint' | 'onnx' | 'synthetic' | 'quantized'; file: string | null; sha256: string | null };
  licence: string;
  synthetic: boolean;
  createdBy: string;
  createdAt: string;
  /** the quantizer's record, absent for float models */
  quantization?: Record<string, unknown>;
}

const MEAN = [123.675, 116.28, 103.53];
const STD = [58.395, 57.12, 57.375];

export interface ImportOptions {
  /** path of a config.json with the keys of SamConfig, for sizes other than ViT-B/L/H */
  configPath?: string;
  licence?: string;
  name?: string;
  onProgress?: (stage: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

/** sha256 over the two ONNX files and their external data, in a fixed order. */
export async function computeModelId(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of [ENCODER_FILE, `${ENCODER_FILE}.data`, DECODER_FILE, `${DECODER_FILE}.data`]) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    hash.update(`${file}\n`);
    await new Promise<void>((res, rej) => {
      createReadStream(path).on('data', (c) => hash.update(c)).on('end', () => res()).on('error', rej);
    });
  }
  return hash.digest('hex').slice(0, 16);
}

export function readModelInfo(dir: string): ModelInfo {
  const path = join(dir, MODEL_JSON);
  if (!existsSync(path)) throw new Error(`${dir}: not a model directory (no ${MODEL_JSON})`);
  let info: ModelInfo;
  try {
    info = JSON.parse(readFileSync(path, 'utf8')) as ModelInfo;
  } catch (err) {
    throw new Error(`${path}: malformed model.json (${(err as Error).message})`);
  }
  for (const f of [ENCODER_FILE, DECODER_FILE]) if (!existsSync(join(dir, f))) throw new Error(`${dir}: model directory lacks ${f}`);
  if (!FAMILIES.includes(info.family) || typeof info.id !== 'string') throw new Error(`${path}: not a SAM model.json`);
  return info;
}

/** Whether `dir` is a complete model directory (model.json and both ONNX files). */
export function isModelDir(dir: string): boolean {
  try {
    readModelInfo(dir);
    return true;
  } catch {
    return false;
  }
}

export function writeModelInfo(dir: string, info: ModelInfo): void {
  writeFileSync(join(dir, MODEL_JSON), `${JSON.stringify(info, null, 2)}\n`);
}

function baseInfo(partial: Pick<ModelInfo, 'name' | 'architecture' | 'config' | 'source' | 'licence' | 'synthetic'> & { preprocessing?: Preprocessing; masks?: number; encoderInput?: string; family?: ModelFamily }): ModelInfo {
  const kind = partial.preprocessing ?? 'sam-nchw';
  const sam2 = kind === 'sam2-stretch';
  return {
    format: 1,
    id: '',
    name: partial.name,
    family: partial.family ?? 'sam',
    architecture: partial.architecture,
    config: partial.config,
    preprocessing: { kind, longSide: 1024, mean: sam2 ? [...SAM2_PIXEL_MEAN] : MEAN, std: sam2 ? [...SAM2_PIXEL_STD] : STD, encoderInput: partial.encoderInput ?? (sam2 ? 'image' : 'input_image') },
    masks: partial.masks ?? 4,
    source: partial.source,
    licence: partial.licence,
    synthetic: partial.synthetic,
    createdBy: CREATED_BY,
    createdAt: new Date().toISOString(),
  };
}

async function finish(dir: string, info: ModelInfo): Promise<ModelInfo> {
  info.id = await computeModelId(dir);
  writeModelInfo(dir, info);
  return info;
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new Error('cancelled');
}

/** Builds the two graphs (SAM's, or SAM 2.1's builders) and writes them into `outDir`. */
function writeGraphs(outDir: string, onProgress: ImportOptions['onProgress'], encoder: () => ModelProto, decoder: () => ModelProto): void {
  onProgress?.('build encoder', 0, 2);
  saveModel(encoder(), join(outDir, ENCODER_FILE));
  onProgress?.('build decoder', 1, 2);
  saveModel(decoder(), join(outDir, DECODER_FILE));
  onProgress?.('build decoder', 2, 2);
}

/** The written decoder runs once (inference.ts, loaded here only when a checkpoint is imported). */
async function checkDecoder(outDir: string, family: ModelFamily, source: string): Promise<void> {
  const { checkBuiltDecoder } = await import('./inference.ts');
  await checkBuiltDecoder(join(outDir, DECODER_FILE), family, source);
}

function readConfigJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: cannot read config (${(err as Error).message})`);
  }
}

export async function importCheckpoint(file: string, outDir: string, opts: ImportOptions = {}): Promise<ModelInfo> {
  const rawConfig = opts.configPath ? readConfigJson(opts.configPath) : undefined;
  const sha256 = await sha256File(file);
  checkAborted(opts.signal);
  // the names are checked before any storage is read: a file that is not SAM costs no memory
  const checkNames = (names: string[]) => {
    const has = (n: string) => names.includes(n);
    const sam = has('image_encoder.patch_embed.proj.weight') && has('mask_decoder.iou_token.weight');
    const sam2 = has('image_encoder.trunk.patch_embed.proj.weight') && has('sam_mask_decoder.iou_token.weight');
    if (!sam && !sam2) {
      throw new Error(`${basename(file)}: not a SAM checkpoint (no image_encoder / mask_decoder tensors; found e.g. ${names.slice(0, 3).join(', ') || 'nothing'})`);
    }
  };
  const dict = await readCheckpoint(file, { signal: opts.signal, checkNames, onProgress: (d, t) => opts.onProgress?.('read checkpoint', d, t) });
  const w = new Weights(dict, basename(file));
  if (isSam2StateDict(w)) return importSam2(w, file, sha256, rawConfig, outDir, opts);
  const given = opts.configPath ? parseConfig(rawConfig, opts.configPath) : undefined;
  const cfg = detectConfig(w, given);
  const architecture = architectureOf(cfg);
  if (architecture === 'custom' && !given) {
    throw new Error(`${basename(file)}: not an official ViT-B/L/H (embed ${cfg.encoder_embed_dim}, depth ${cfg.encoder_depth}); pass --config with its hyper-parameters`);
  }
  checkAborted(opts.signal);
  writeGraphs(outDir, opts.onProgress, () => buildEncoder(w, cfg), () => buildDecoder(w, cfg));
  await checkDecoder(outDir, 'sam', basename(file));
  return finish(outDir, baseInfo({
    name: opts.name ?? basename(file).replace(/\.(pth|pt|safetensors)$/i, ''),
    architecture,
    config: cfg,
    source: { kind: 'checkpoint', file: basename(file), sha256 },
    licence: opts.licence ?? (architecture === 'custom' ? 'unknown: see the checkpoint\'s source' : 'Apache-2.0 (Segment Anything, Meta AI)'),
    synthetic: false,
  }));
}

/**
 * SAM 2 / 2.1 checkpoints (`{"model": state_dict}`): the image encoder, prompt encoder and mask
 * decoder are built; the video-only tensors (memory attention/encoder, object pointers,
 * maskmem_tpos_enc, ...) are not read. SAM 2.0's `sam2_hiera_*.pt` share every image-path
 * module and flag with 2.1 (2.1 changed only video-side parts), so they import the same way.
 */
async function importSam2(w: Weights, file: string, sha256: string, rawConfig: unknown, outDir: string, opts: ImportOptions): Promise<ModelInfo> {
  const mlpDim = w.shape('sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight')[0]!;
  const given = opts.configPath ? parseSam2Config(rawConfig, opts.configPath, mlpDim) : undefined;
  const { config, architecture } = detectSam2Config(w, given, opts.configPath);
  checkAborted(opts.signal);
  writeGraphs(outDir, opts.onProgress, () => buildSam2Encoder(w, config), () => buildSam2Decoder(w, config));
  await checkDecoder(outDir, 'sam2.1', basename(file));
  return finish(outDir, baseInfo({
    name: opts.name ?? basename(file).replace(/\.(pth|pt|safetensors)$/i, ''),
    family: 'sam2.1',
    architecture,
    config,
    source: { kind: 'checkpoint', file: basename(file), sha256 },
    licence: opts.licence ?? (architecture === 'custom' ? 'unknown: see the checkpoint\'s source' : 'Apache-2.0 (SAM 2, Meta AI)'),
    synthetic: false,
    preprocessing: 'sam2-stretch',
  }));
}

const DECODER_INPUTS: Record<string, { rank: number }> = {
  image_embeddings: { rank: 4 }, point_coords: { rank: 3 }, point_labels: { rank: 2 },
  mask_input: { rank: 4 }, has_mask_input: { rank: 1 }, orig_im_size: { rank: 1 },
};
const DECODER_OUTPUTS = ['masks', 'iou_predictions', 'low_res_masks'];

function describe(sig: TensorSignature): string {
  return `${sig.name} ${sig.elemType}[${sig.shape.join(',')}]`;
}

/** Checks a decoder graph against the SAM ONNX contract; returns the number of masks K. */
export function checkDecoderSignature(inputs: TensorSignature[], outputs: TensorSignature[], file: string): number {
  const problems: string[] = [];
  for (const [name, { rank }] of Object.entries(DECODER_INPUTS)) {
    const sig = inputs.find((i) => i.name === name);
    if (!sig) problems.push(`missing input "${name}"`);
    else if (sig.elemType !== 'float32') problems.push(`input "${name}" is ${sig.elemType}, expected float32`);
    else if (sig.shape.length !== rank) problems.push(`input "${name}" has rank ${sig.shape.length}, expected ${rank}`);
  }
  for (const name of DECODER_OUTPUTS) if (!outputs.some((o) => o.name === name)) problems.push(`missing output "${name}"`);
  const emb = inputs.find((i) => i.name === 'image_embeddings');
  if (emb && emb.shape.length === 4 && typeof emb.shape[1] === 'number' && emb.shape[1] !== 256) problems.push(`image_embeddings has ${emb.shape[1]} channels, expected 256`);
  if (problems.length) throw new Error(`${file}: not a SAM decoder: ${problems.join('; ')} (inputs: ${inputs.map(describe).join(', ')})`);
  const iou = outputs.find((o) => o.name === 'iou_predictions')!;
  const k = iou.shape[1];
  return typeof k === 'number' ? k : 4;
}

/** Checks an encoder graph; returns its preprocessing kind. */
export function checkEncoderSignature(inputs: TensorSignature[], outputs: TensorSignature[], file: string): Preprocessing {
  if (inputs.length !== 1) throw new Error(`${file}: not a SAM encoder: expected 1 input, found ${inputs.length} (${inputs.map(describe).join(', ')})`);
  if (outputs.length < 1) throw new Error(`${file}: not a SAM encoder: no outputs`);
  const input = inputs[0]!;
  const out = outputs[0]!;
  if (input.elemType !== 'float32') throw new Error(`${file}: not a SAM encoder: input ${describe(input)} is not float32`);
  const outOk = out.shape.length === 4 && [256, '?'].includes(out.shape[1] as number) && out.elemType === 'float32';
  if (!outOk || (typeof out.shape[2] === 'number' && out.shape[2] !== 64)) throw new Error(`${file}: not a SAM encoder: output ${describe(out)} is not 1x256x64x64 float32`);
  if (input.shape.length === 4) {
    const [, c, h, w] = input.shape;
    if ((typeof c === 'number' && c !== 3) || (typeof h === 'number' && h !== 1024) || (typeof w === 'number' && w !== 1024)) {
      throw new Error(`${file}: not a SAM encoder: input ${describe(input)} is not 1x3x1024x1024`);
    }
    return 'sam-nchw';
  }
  if (input.shape.length === 3 && (input.shape[2] === 3 || typeof input.shape[2] === 'string')) return 'sam-hwc-resized';
  throw new Error(`${file}: not a SAM encoder: input ${describe(input)} is neither 1x3x1024x1024 nor HxWx3`);
}

const SAM2_ENCODER_OUTPUTS = ['image_embed', 'high_res_feats_0', 'high_res_feats_1'];
const SAM2_DECODER_INPUTS = [...SAM2_ENCODER_OUTPUTS, 'point_coords', 'point_labels', 'mask_input', 'has_mask_input', 'orig_im_size'];
const SAM2_DECODER_OUTPUTS = ['masks', 'iou_predictions', 'low_res_masks', 'object_score_logits'];

/**
 * Whether a pair follows our SAM 2.1 contract (README "SAM 2.1 model directories"). Other SAM 2
 * exporters use the same feature names but differ in what the inference path relies on (three
 * masks, 1024x1024 masks, no original size, padding point left to the caller), so a pair that
 * names the SAM 2 features without the whole contract is refused rather than run wrongly.
 */
function sam2PairKind(enc: ModelProto, dec: ModelProto, decoderPath: string): boolean {
  const encOut = graphOutputs(enc.graph!).map((o) => o.name);
  const decIn = graphInputs(dec.graph!).map((i) => i.name);
  const decOut = graphOutputs(dec.graph!);
  if (!SAM2_ENCODER_OUTPUTS.some((n) => encOut.includes(n) || decIn.includes(n))) return false;
  const missing = [
    ...SAM2_ENCODER_OUTPUTS.filter((n) => !encOut.includes(n)).map((n) => `encoder output "${n}"`),
    ...SAM2_DECODER_INPUTS.filter((n) => !decIn.includes(n)).map((n) => `decoder input "${n}"`),
    ...SAM2_DECODER_OUTPUTS.filter((n) => !decOut.some((o) => o.name === n)).map((n) => `decoder output "${n}"`),
  ];
  const iou = decOut.find((o) => o.name === 'iou_predictions');
  if (iou && iou.shape[1] !== 4) missing.push(`all 4 mask tokens (iou_predictions is [${iou.shape.join(',')}])`);
  if (missing.length) throw new Error(`${decoderPath}: a SAM 2 ONNX pair in another exporter's contract (lacks ${missing.join(', ')}); import the sam2.1_hiera_*.pt checkpoint instead`);
  return true;
}

/**
 * What an imported pair computes in, read from its graphs: integer kernels where it holds them
 * (quantized elsewhere, e.g. onnxruntime's quantize_dynamic as samexporter and X-AnyLabeling ship
 * their int8 SAMs), float16 weights, or null for float32. Only a label: no `bits`, which would
 * make this app treat the graphs as its own quantizer's.
 */
export function importedPrecision(models: ModelProto[]): string | null {
  const ops = new Set(models.flatMap((m) => (m.graph?.node ?? []).map((n) => n.opType)));
  if (['QuantizeLinear', 'QLinearMatMul', 'QLinearConv', 'MatMulIntegerToFloat'].some((op) => ops.has(op))) return 'int8 (imported)';
  if (['DynamicQuantizeLinear', 'MatMulInteger', 'ConvInteger'].some((op) => ops.has(op))) return 'int8 dynamic (imported)';
  const float16 = models.some((m) => (m.graph?.initializer ?? []).some((t) => t.dataType === DataType.FLOAT16));
  return float16 ? 'fp16 (imported)' : null;
}

/** Imports an existing SAM ONNX pair (a directory holding encoder.onnx and decoder.onnx). */
export async function importOnnxPair(encoderPath: string, decoderPath: string, outDir: string, opts: ImportOptions = {}): Promise<ModelInfo> {
  const enc = loadModel(encoderPath, { loadExternalData: false });
  const dec = loadModel(decoderPath, { loadExternalData: false });
  const sam2 = sam2PairKind(enc, dec, decoderPath);
  const preprocessing: Preprocessing = sam2 ? 'sam2-stretch' : checkEncoderSignature(graphInputs(enc.graph!), graphOutputs(enc.graph!), encoderPath);
  const masks = sam2 ? 4 : checkDecoderSignature(graphInputs(dec.graph!), graphOutputs(dec.graph!), decoderPath);
  for (const [src, name, model] of [[encoderPath, ENCODER_FILE, enc], [decoderPath, DECODER_FILE, dec]] as const) {
    const external = allTensors(model).some((t) => t.dataLocation === DataLocation.EXTERNAL);
    if (external) saveModel(loadModel(src), join(outDir, name), { externalData: true });
    else copyFileSync(src, join(outDir, name));
    checkAborted(opts.signal);
  }
  const hash = createHash('sha256');
  hash.update(await sha256File(encoderPath));
  hash.update(await sha256File(decoderPath));
  const precision = importedPrecision([enc, dec]);
  return finish(outDir, {
    ...baseInfo({
    name: opts.name ?? basename(resolve(encoderPath, '..')),
    architecture: 'unknown',
    config: null,
    source: { kind: 'onnx', file: `${basename(encoderPath)} + ${basename(decoderPath)}`, sha256: hash.digest('hex') },
    licence: opts.licence ?? 'unknown: see the ONNX files\' source',
    synthetic: false,
    preprocessing,
    masks,
    encoderInput: graphInputs(enc.graph!)[0]!.name,
    family: sam2 ? 'sam2.1' : 'sam',
    }),
    ...(precision ? { quantization: { method: 'imported', precision } } : {}),
  });
}

/** `model import`: a checkpoint file, or a directory with encoder.onnx and decoder.onnx. */
export async function importModel(source: string, outDir: string, opts: ImportOptions = {}): Promise<ModelInfo> {
  if (!existsSync(source)) throw new Error(`${source}: no such file or directory`);
  if (statSync(source).isDirectory()) {
    const enc = join(source, ENCODER_FILE);
    const dec = join(source, DECODER_FILE);
    const missing = [enc, dec].filter((f) => !existsSync(f)).map((f) => basename(f));
    if (missing.length) throw new Error(`${source}: a model folder needs encoder.onnx and decoder.onnx (missing ${missing.join(' and ')})`);
    // an ONNX pair carries its sizes in its graphs: a config would be silently ignored
    if (opts.configPath) throw new Error(`${opts.configPath}: a config applies to a checkpoint (.pth) only; ${source} is an ONNX pair, whose graphs fix its sizes`);
    return importOnnxPair(enc, dec, outDir, opts);
  }
  return importCheckpoint(source, outDir, opts);
}

export async function synthModel(arch: 'vit_b' | 'vit_l' | 'vit_h', outDir: string, opts: { depth?: number; seed?: number; onProgress?: ImportOptions['onProgress'] } = {}): Promise<ModelInfo> {
  const cfg = synthConfig(arch, opts.depth);
  const seed = opts.seed ?? 0;
  const w = new Weights(synthStateDict(cfg, seed), `synthetic ${arch}`);
  writeGraphs(outDir, opts.onProgress, () => buildEncoder(w, cfg), () => buildDecoder(w, cfg));
  return finish(outDir, baseInfo({
    name: `synthetic ${arch}${opts.depth !== undefined ? ` depth ${opts.depth}` : ''} seed ${seed}`,
    architecture: arch,
    config: cfg,
    source: { kind: 'synthetic', file: null, sha256: null },
    licence: 'synthetic random weights: for benchmarks only, no trained model',
    synthetic: true,
  }));
}

/** A random-weight SAM 2.1 of an official size (benchmarks only; model.json says synthetic). */
export async function synthSam2Model(arch: Exclude<Sam2Architecture, 'custom'>, outDir: string, opts: { seed?: number; onProgress?: ImportOptions['onProgress'] } = {}): Promise<ModelInfo> {
  const seed = opts.seed ?? 0;
  const { config, dict } = synthSam2StateDict(arch, seed);
  const w = new Weights(dict, `synthetic ${arch}`);
  writeGraphs(outDir, opts.onProgress, () => buildSam2Encoder(w, config), () => buildSam2Decoder(w, config));
  return finish(outDir, baseInfo({
    name: `synthetic SAM 2.1 ${arch} seed ${seed}`,
    family: 'sam2.1',
    architecture: arch,
    config,
    source: { kind: 'synthetic', file: null, sha256: null },
    licence: 'synthetic random weights: for benchmarks only, no trained model',
    synthetic: true,
    preprocessing: 'sam2-stretch',
  }));
}
