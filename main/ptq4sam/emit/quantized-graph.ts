/**
 * Rewrites a float graph into its quantized form in one pass through a scratch GraphBuilder
 * (see merge.ts): each target's node is removed and its op handler (ops/) emits the
 * replacement with the shared pieces of context.ts; then the float parts are stored as float16.
 */
import { consumers, DataType, float32ToFloat16Bits, GraphBuilder, tensorToFloat32, toNumber, type ModelProto } from '../../onnx/index.ts';
import { opHandler } from '../ops/index.ts';
import type { Target } from '../ops/types.ts';
import type { EmitContext, EmitParams } from './context.ts';
import { mergeBuilder } from './merge.ts';

/** Float parameters at least this large are stored as float16 (see storeFloatPartsAsHalf). */
export const HALF_STORAGE_MIN_ELEMENTS = 4096;

/**
 * The parts the spec keeps float (patch embedding, positional tables, prompt encoder, mask head,
 * and the decoder's token-only linears) are stored as float16 with a Cast: onnxruntime folds the
 * Cast when it loads the model, so they still run in float32, at no cost in speed, and the file
 * is smaller (ViT-B: pos_embed alone is 12.6 MB in float32). Only the model's own parameters
 * (checkpoint names) of at least HALF_STORAGE_MIN_ELEMENTS values: the builders' index and
 * interpolation tables stay exact. Rounding to float16 is a relative error of 2^-11, well
 * below the 8-bit grids around them.
 */
function storeFloatPartsAsHalf(ctx: EmitContext): void {
  const { b } = ctx;
  for (const [name, t] of ctx.inits) {
    if (ctx.replaced.has(name) || t.dataType !== DataType.FLOAT || !/^(image_encoder|(sam_)?prompt_encoder|(sam_)?mask_decoder)\./.test(name)) continue;
    const dims = (t.dims ?? []).map(toNumber);
    if (dims.reduce((n, d) => n * d, 1) < HALF_STORAGE_MIN_ELEMENTS) continue;
    ctx.replaced.set(name, undefined);
    const half = b.init(`${name}/float16`, dims, float32ToFloat16Bits(tensorToFloat32(t)), { float16: true });
    b.op('Cast', [half], { to: DataType.FLOAT }, { name: `${name}/Cast`, outputs: [name] });
  }
}

export interface EmitResult {
  model: ModelProto;
  /** how many integer products the handlers wrote (each should be an integer kernel once optimized) */
  integerProducts: number;
}

/** How integer operands are stored for this machine's kernels (EmitContext says each). */
export interface OperandCodes {
  unsignedWeights: boolean;
  signedOperands: boolean;
}

export function emitQuantizedGraph(model: ModelProto, targets: Target[], p: EmitParams, weightBits: number, codes: OperandCodes): EmitResult {
  const g = model.graph!;
  const ctx: EmitContext = {
    b: new GraphBuilder(), p, weightBits, ...codes, inits: new Map((g.initializer ?? []).map((t) => [t.name ?? '', t])), replaced: new Map(), quantCache: new Map(),
    consumers: consumers(g), remove: new Set(),
  };
  const nodes = new Map((g.node ?? []).map((n) => [n.name ?? '', n]));
  let integerProducts = 0;
  for (const t of targets) {
    ctx.remove.add(t.node);
    if (opHandler(t).emit(ctx, t, nodes.get(t.node)!)) integerProducts += 1;
  }
  storeFloatPartsAsHalf(ctx);
  return { model: mergeBuilder(model, ctx.b, 'ptq4sam', { remove: ctx.remove, initializers: ctx.replaced }), integerProducts };
}

/** Float view of a weight initializer, for the weight search. */
export function weightValues(model: ModelProto, name: string): { data: Float32Array; dims: number[] } {
  const t = (model.graph?.initializer ?? []).find((i) => i.name === name);
  if (!t) throw new Error(`weight ${name} not found`);
  return { data: tensorToFloat32(t), dims: (t.dims ?? []).map(toNumber) };
}
