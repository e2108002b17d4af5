/** What the registry's handlers declare: which tensors get which quantizer, per graph. */
import type { INodeProto } from '../../onnx/index.ts';

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

export interface LinearTarget {
  kind: 'linear';
  graph: GraphKind;
  node: string;
  module: string;
  /** initializer name of the [in, out] weight */
  weight: string;
  input: ActivationSite;
}

/** A conv: weight only (its input stays float, see emitConv in emit/quantized-graph.ts). */
export interface ConvTarget {
  kind: 'conv';
  graph: GraphKind;
  node: string;
  module: string;
  weight: string;
}

/** Q.K^T with both operands quantized per tensor: an integer MatMul. */
export interface QkTarget {
  kind: 'qk';
  graph: GraphKind;
  node: string;
  module: string;
  q: ActivationSite;
  k: ActivationSite;
}

/** A.V: the softmax output (AGQ or uniform) times quantized V. */
export interface AvTarget {
  kind: 'av';
  graph: GraphKind;
  node: string;
  module: string;
  probs: ActivationSite;
  v: ActivationSite;
}

export type Target = LinearTarget | ConvTarget | QkTarget | AvTarget;

export interface MatchContext {
  graph: GraphKind;
  /** constant tensors: initializer name -> dims */
  constants: Map<string, number[]>;
}

/** A handler recognises one kind of node and declares what to quantize in it. */
export interface OpHandler {
  match(node: INodeProto, ctx: MatchContext): Target | null;
}
