/**
 * Appending nodes made with a scratch GraphBuilder to an existing model. The builder names its
 * constants `const_f_N` / `const_i64_N`, as the SAM builders did when they made the model, so
 * every initializer of the scratch builder is renamed under a prefix before merging.
 */
import type { GraphBuilder, INodeProto, ITensorProto, IValueInfoProto, ModelProto } from '../../onnx/index.ts';

export interface GraphEdit {
  /** nodes to drop from the original graph, by name */
  remove?: Set<string>;
  /** initializers to replace or drop (undefined value = drop) */
  initializers?: Map<string, ITensorProto | undefined>;
  outputs?: IValueInfoProto[];
}

/** A shallow copy of `model` with the builder's nodes and initializers appended. Shares unchanged tensors. */
export function mergeBuilder(model: ModelProto, b: GraphBuilder, prefix: string, edit: GraphEdit = {}): ModelProto {
  const rename = new Map<string, string>();
  const inits: ITensorProto[] = b.initializers.map((t) => {
    const name = `${prefix}/${t.name}`;
    rename.set(t.name, name);
    return { ...t, name } as ITensorProto;
  });
  const g = model.graph!;
  const original = (g.node ?? []).filter((n) => !edit.remove?.has(n.name ?? ''));
  const taken = new Set(original.map((n) => n.name ?? ''));
  // Node names must be unique in the graph: a scratch node named like a kept node gets the prefix.
  const nodes: INodeProto[] = b.nodes.map((n) => ({
    ...n,
    name: taken.has(n.name ?? '') ? `${prefix}/${n.name}` : n.name,
    input: (n.input ?? []).map((i) => rename.get(i) ?? i),
  }));
  const keptInits: ITensorProto[] = [];
  for (const t of g.initializer ?? []) {
    const name = t.name ?? '';
    if (edit.initializers?.has(name)) {
      const replacement = edit.initializers.get(name);
      if (replacement) keptInits.push(replacement);
    } else {
      keptInits.push(t);
    }
  }
  const opsetImport = [...(model.opsetImport ?? [])];
  if (nodes.some((n) => n.domain === 'com.microsoft') && !opsetImport.some((o) => o.domain === 'com.microsoft')) opsetImport.push({ domain: 'com.microsoft', version: 1 });
  return {
    ...model,
    opsetImport,
    graph: {
      ...g,
      node: topoSort([...original, ...nodes], g, [...keptInits, ...inits]),
      initializer: [...keptInits, ...inits],
      output: [...(g.output ?? []), ...(edit.outputs ?? [])],
    },
  } as ModelProto;
}

/** An output declaration without a shape: onnxruntime reports the real one. */
export function looseOutput(name: string, elemType: number): IValueInfoProto {
  return { name, type: { tensorType: { elemType } } };
}

/** Orders nodes so each comes after the producers of its inputs (ONNX requires it). */
function topoSort(nodes: INodeProto[], g: NonNullable<ModelProto['graph']>, initializers: ITensorProto[]): INodeProto[] {
  // The merged initializers, not the original ones: a replaced initializer may now be a node's output.
  const available = new Set<string>([...(g.input ?? []).map((i) => i.name ?? ''), ...initializers.map((t) => t.name ?? ''), '']);
  const producerOf = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => producerOf.set(o, i)));
  const done = new Array<boolean>(nodes.length).fill(false);
  const order: INodeProto[] = [];
  const visit = (i: number) => {
    // Iterative DFS: transformer graphs are deep enough to overflow recursion.
    const stack: [number, number][] = [[i, 0]];
    while (stack.length) {
      if (stack.length > nodes.length + 1) throw new Error(`graph has a cycle through ${nodes[stack[stack.length - 1]![0]]!.name} <- ${nodes[stack[stack.length - 2]![0]]!.name}`);
      const top = stack[stack.length - 1]!;
      const [ni, k] = top;
      if (done[ni]) { stack.pop(); continue; }
      const inputs = nodes[ni]!.input ?? [];
      if (k < inputs.length) {
        top[1] = k + 1;
        const p = producerOf.get(inputs[k]!);
        if (p !== undefined && !done[p] && !available.has(inputs[k]!)) stack.push([p, 0]);
        continue;
      }
      done[ni] = true;
      order.push(nodes[ni]!);
      stack.pop();
    }
  };
  for (let i = 0; i < nodes.length; i++) if (!done[i]) visit(i);
  return order;
}
