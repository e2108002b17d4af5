/**
 * Which ops get quantized and how: a table of handlers tried in order on every node (the first
 * match wins). A new op is one handler file in ops/ plus one line here.
 */
import { toNumber, type ModelProto } from '../onnx/index.ts';
import { avHandler, qkHandler } from './ops/attention.ts';
import { convHandler } from './ops/conv.ts';
import { linearHandler } from './ops/linear.ts';
import type { ActivationSite, GraphKind, OpHandler, Target } from './ops/types.ts';

export const handlers: OpHandler[] = [qkHandler, avHandler, linearHandler, convHandler];

export interface QuantPlan {
  targets: Target[];
  /** every activation quantizer, deduplicated by id */
  activations: ActivationSite[];
}

export function activationSitesOf(t: Target): ActivationSite[] {
  switch (t.kind) {
    case 'linear': case 'conv': return [t.input];
    case 'qk': return [t.q, t.k];
    case 'av': return [t.probs, t.v];
  }
}

export function planGraph(model: ModelProto, graph: GraphKind): Target[] {
  const g = model.graph!;
  const constants = new Map((g.initializer ?? []).map((t) => [t.name ?? '', (t.dims ?? []).map(toNumber)]));
  const ctx = { graph, constants };
  const targets: Target[] = [];
  for (const node of g.node ?? []) {
    for (const h of handlers) {
      const t = h.match(node, ctx);
      if (t) { targets.push(t); break; }
    }
  }
  return targets;
}

export function planQuantization(encoder: ModelProto, decoder: ModelProto): QuantPlan {
  const targets = [...planGraph(encoder, 'encoder'), ...planGraph(decoder, 'decoder')];
  const byId = new Map<string, ActivationSite>();
  for (const t of targets) for (const a of activationSitesOf(t)) if (!byId.has(a.id)) byId.set(a.id, a);
  return { targets, activations: [...byId.values()] };
}
