/** Inspection and rewriting helpers over a decoded graph. */
import type { IGraphProto, INodeProto, IValueInfoProto } from './proto.ts';
import { DataType, toNumber } from './proto.ts';

export interface TensorSignature {
  name: string;
  elemType: string;
  shape: (number | string)[];
}

const typeNames: Record<number, string> = {
  [DataType.FLOAT]: 'float32', [DataType.FLOAT16]: 'float16', [DataType.INT64]: 'int64', [DataType.INT32]: 'int32',
  [DataType.UINT8]: 'uint8', [DataType.INT8]: 'int8', [DataType.BOOL]: 'bool', [DataType.DOUBLE]: 'float64',
};

export function signatureOf(v: IValueInfoProto): TensorSignature {
  const tt = v.type?.tensorType;
  return {
    name: v.name ?? '',
    elemType: typeNames[tt?.elemType ?? 0] ?? `type${tt?.elemType}`,
    shape: (tt?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : '?')),
  };
}

/** Graph inputs that are not initializers (old exporters list initializers as inputs too). */
export function graphInputs(g: IGraphProto): TensorSignature[] {
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  return (g.input ?? []).filter((i) => !inits.has(i.name)).map(signatureOf);
}

export function graphOutputs(g: IGraphProto): TensorSignature[] {
  return (g.output ?? []).map(signatureOf);
}

/** For each tensor name, the nodes that consume it. */
export function consumers(g: IGraphProto): Map<string, INodeProto[]> {
  const map = new Map<string, INodeProto[]>();
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) {
      if (!i) continue;
      const list = map.get(i) ?? [];
      list.push(n);
      map.set(i, list);
    }
  }
  return map;
}

/** For each tensor name, the node that produces it. */
export function producers(g: IGraphProto): Map<string, INodeProto> {
  const map = new Map<string, INodeProto>();
  for (const n of g.node ?? []) for (const o of n.output ?? []) map.set(o, n);
  return map;
}

export function countOps(g: IGraphProto): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of g.node ?? []) counts[n.opType ?? '?'] = (counts[n.opType ?? '?'] ?? 0) + 1;
  return counts;
}
