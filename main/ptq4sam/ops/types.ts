/**
 * What an op handler declares (ops/index.ts): which graph nodes it targets, which tensors get
 * which quantizer there, and how the node is rewritten. The rest of the quantizer reads only the
 * generic fields of a Target (activations, weight, attention), never its kind.
 */
import type { INodeProto } from '../../onnx/index.ts';
import type { EmitContext } from '../emit/context.ts';

export type GraphKind = 'encoder' | 'decoder';

/**
 * One per-tensor activation quantizer. `observer` says how its range is found: `act` by the
 * method's activation observer, `key` by PTQ4SAM's key search when BIG is on (section 3.2),
 * `softmax` by AGQ or, without it, the activation observer.
 */
export interface ActivationSite {
  id: string;
  graph: GraphKind;
  tensor: string;
  module: string;
  observer: 'act' | 'key' | 'softmax';
}

/** A constant weight quantized per output channel by the method's weight quantizer. */
export interface WeightSite {
  /** initializer name */
  name: string;
  /** axis of the output channel: 1 for a MatMul's [in, out] weight, 0 for a Conv's [out, ...] */
  channelAxis: 0 | 1;
  /** the activation multiplied by it as [..., in] x [in, out]: the calibration inputs a weight step (GPTQ) works on */
  input?: ActivationSite;
}

export interface Target {
  /** the kind of the handler that matched it (OpHandler.kind) */
  kind: string;
  graph: GraphKind;
  /** the matched node's name */
  node: string;
  module: string;
  /** per-tensor activation quantizers this target reads, deduplicated across targets by id */
  activations: ActivationSite[];
  weight?: WeightSite;
  /**
   * An attention's A.V: its softmax output is quantized by AGQ or by a uniform grid whose top
   * end is searched on the attention output (calibrate.ts), which needs the values with it.
   */
  attention?: { probs: ActivationSite; v: ActivationSite };
}

export interface MatchContext {
  graph: GraphKind;
  /** constant tensors: initializer name -> dims */
  constants: Map<string, number[]>;
}

/**
 * One kind of quantized op: recognises its nodes and declares what to quantize in them
 * (`match`), then rewrites each matched node into its quantized form (`emit`; the node is
 * already removed from the float graph). `emit` returns whether it wrote an integer product,
 * which the pipeline then expects to find as an integer kernel in onnxruntime's optimized graph.
 */
export interface OpHandler<T extends Target = Target> {
  kind: string;
  match(node: INodeProto, ctx: MatchContext): T | null;
  emit(ctx: EmitContext, t: T, node: INodeProto): boolean;
}
