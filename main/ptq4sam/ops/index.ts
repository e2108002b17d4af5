/**
 * The op registry: every kind of quantized op, tried in order on every node of both graphs (the
 * first match wins, so the attention products come before the generic linear). A new op is one
 * handler file here plus one line in OPS; registerOp adds one at run time.
 */
import { avHandler, qkHandler } from './attention.ts';
import { convHandler } from './conv.ts';
import { linearHandler } from './linear.ts';
import type { OpHandler, Target } from './types.ts';

const OPS: OpHandler[] = [
  qkHandler,
  avHandler,
  linearHandler,
  convHandler,
];

export function opHandlers(): readonly OpHandler[] {
  return OPS;
}

/** The handler of a target's kind. */
export function opHandler(t: Target): OpHandler {
  const h = OPS.find((o) => o.kind === t.kind);
  if (!h) throw new Error(`${t.module}: no op handler of kind ${t.kind}`);
  return h;
}

/** Adds an op after the registered ones (a kind already registered is refused). */
export function registerOp<T extends Target>(handler: OpHandler<T>): void {
  if (OPS.some((o) => o.kind === handler.kind)) throw new Error(`op kind ${handler.kind} is already registered`);
  OPS.push(handler as unknown as OpHandler);
}

export type { ActivationSite, GraphKind, MatchContext, OpHandler, Target, WeightSite } from './types.ts';
