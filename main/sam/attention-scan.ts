/**
 * The image encoder's global attentions computed a few query rows at a time, rewritten at load
 * time. A global block of ViT-B holds 12 x 4096 x 4096 attention logits (805 MB as floats): the
 * two rel-pos Adds, the Softmax and the probabilities' quantization each stream the whole map
 * through memory. Cut into chunks of 4 MB (one head, 4 rows of the 64 x 64 grid), every chunk's
 * logits stay in the core's cache from the QK^T product to the A.V product. The chunks run as two
 * nested Scan loops (heads, then row chunks): unrolled, the 768 chunks of ViT-B took onnxruntime
 * 2-3 s longer to load for the same speed.
 *
 * Every value is computed by the same kernel on the same operands as before (a row's logits,
 * softmax and codes do not depend on other rows), so the embedding is bit for bit the same
 * (tested); encoder.onnx on disk keeps the graph the quantizer reads. An attention whose pattern
 * is not the builder's (`<attn>/qk/MatMul`, rel-pos Adds, `<attn>/Softmax`, `<attn>/av/MatMul`
 * with per-tensor quantization in between) is left as it is.
 */
import { AttributeType, DataType, type INodeProto, type ITensorProto, type IValueInfoProto, type ModelProto } from '../onnx/proto.ts';
import { consumers, producers } from '../onnx/graph.ts';
import { makeTensor, tensorElementCount, tensorToBigInt64 } from '../onnx/tensor.ts';

/** Logit bytes of one chunk: two of them (one per core) fit a 2 MB L2 cache each, with the probabilities beside. */
export const CHUNK_BYTES = 4 * 1024 * 1024;

/** Ops between the two products that act on each element (or row, Softmax) by itself. */
const ROWWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Softmax', 'QuantizeLinear', 'DequantizeLinear', 'Cast', 'Clip', 'Log', 'Exp', 'Round', 'Floor', 'Ceil', 'Max', 'Min', 'Gather', 'Reshape']);
const PRODUCTS = new Set(['MatMul', 'MatMulIntegerToFloat']);

interface Attention {
  module: string;
  /** the nodes from QK^T through A.V, in graph order */
  region: INodeProto[];
  q: string; k: string; v: string;
  /** rel-pos terms: [the region's input, the tensor its Reshape reads, the two trailing dims] */
  rel: { input: string; source: string; tail: [number, number] }[];
  heads: number; size: number;
}

const dims = (t: ITensorProto | undefined): number[] | null => (t && t.dataType === DataType.INT64 ? Array.from(tensorToBigInt64(t), Number) : null);

/**
 * Rewrites `model`'s attentions whose map per head exceeds `chunkBytes` (the global ones) as
 * nested Scans, in place; returns how many were rewritten.
 */
export function scanGlobalAttention(model: ModelProto, chunkBytes = CHUNK_BYTES): number {
  const g = model.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  let nodes = g.node ?? [];
  const added: ITensorProto[] = [];
  const shapeConst = (name: string, values: number[]): string => {
    added.push(makeTensor(name, [values.length], BigInt64Array.from(values.map(BigInt))));
    return name;
  };
  const graphOutputs = new Set((g.output ?? []).map((o) => o.name ?? ''));
  let count = 0;
  const modules = nodes.filter((n) => n.opType === 'Softmax' && n.name?.endsWith('/Softmax')).map((n) => n.name!.slice(0, -'/Softmax'.length));
  for (const module of modules) {
    const found = findAttention(nodes, inits, graphOutputs, module);
    if (!found) continue;
    const tokens = found.size * found.size;
    // a windowed attention's map per head is already small (ViT-B: 150 KB); scanned over its 300
    // heads it ran no faster
    if (tokens * tokens * 4 <= chunkBytes) continue;
    // grid rows per chunk: the most that fit, a divisor of the grid size
    let rows = found.size;
    while (rows > 1 && (rows * found.size * tokens * 4 > chunkBytes || found.size % rows !== 0)) rows--;
    nodes = rewrite(nodes, found, rows, inits, shapeConst);
    count++;
  }
  g.node = nodes;
  g.initializer = [...(g.initializer ?? []), ...added];
  return count;
}

function findAttention(nodes: INodeProto[], inits: Map<string, ITensorProto>, graphOutputs: Set<string>, module: string): Attention | null {
  const qk = nodes.find((n) => n.output?.[0] === `${module}/qk/MatMul:out`);
  const av = nodes.find((n) => n.output?.[0] === `${module}/av/MatMul:out`);
  if (!qk || !av || !PRODUCTS.has(qk.opType ?? '') || !PRODUCTS.has(av.opType ?? '')) return null;
  const from = nodes.indexOf(qk), to = nodes.indexOf(av);
  const inside = new Set(qk.output);
  const region = [qk];
  for (let i = from + 1; i <= to; i++) {
    const n = nodes[i]!;
    if (!(n.input ?? []).some((x) => inside.has(x))) continue;
    region.push(n);
    for (const o of n.output ?? []) inside.add(o);
  }
  if (region[region.length - 1] !== av || !inside.has(av.input?.[0] ?? '')) return null;
  // nothing between the products is read outside them
  const readers = consumers({ node: nodes });
  for (const n of region) for (const o of n.output ?? []) if (n !== av && (graphOutputs.has(o) || (readers.get(o) ?? []).some((r) => !region.includes(r)))) return null;
  // the map's shape, from the builder's Reshape to [heads, S, S, S, S]
  const five = region.map((n) => (n.opType === 'Reshape' ? dims(inits.get(n.input?.[1] ?? '')) : null)).find((d) => d?.length === 5);
  if (!five || five.slice(1).some((d) => d !== five[1])) return null;
  const [heads, size] = [five[0]!, five[1]!];
  const tokens = size * size;
  const byOutput = producers({ node: nodes });
  const q = qk.input![0]!, k = qk.input![1]!, v = av.input![1]!;
  const rel: Attention['rel'] = [];
  for (const n of region) {
    const middle = n !== qk && n !== av;
    if (middle && !ROWWISE.has(n.opType ?? '')) return null;
    if (n.opType === 'Softmax' && (n.attribute ?? []).some((a) => a.name === 'axis' && Number(a.i) !== -1)) return null;
    if (n.opType === 'Reshape') {
      const d = dims(inits.get(n.input?.[1] ?? ''));
      if (!d || !(sameDims(d, [heads, size, size, size, size]) || sameDims(d, [heads, tokens, tokens]))) return null;
    }
    for (const [slot, x] of (n.input ?? []).entries()) {
      if (!x || inside.has(x)) continue;
      if ((n === qk && slot < 2) || (n === av && slot === 1)) continue;
      const init = inits.get(x);
      if (init) {
        // scalars (scales, zero points, constants), a Reshape's shape, a Gather's table
        if (tensorElementCount(init) === 1 || (n.opType === 'Reshape' && slot === 1) || (n.opType === 'Gather' && slot === 0)) continue;
        return null;
      }
      // a rel-pos term: [heads, S, S, S, 1] or [heads, S, S, 1, S]
      const p = byOutput.get(x);
      const d = p?.opType === 'Reshape' ? dims(inits.get(p.input?.[1] ?? '')) : null;
      if (n.opType !== 'Add' || !d || !(sameDims(d, [heads, size, size, size, 1]) || sameDims(d, [heads, size, size, 1, size]))) return null;
      rel.push({ input: x, source: p!.input![0]!, tail: [d[3]!, d[4]!] });
    }
  }
  return { module, region, q, k, v, rel, heads, size };
}

function sameDims(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The element type a product operand arrives in: a QuantizeLinear's zero point's, else float. */
function elemTypeOf(nodes: INodeProto[], inits: Map<string, ITensorProto>, tensor: string): number {
  const p = nodes.find((n) => n.output?.includes(tensor));
  if (p?.opType !== 'QuantizeLinear') return DataType.FLOAT;
  return inits.get(p.input?.[2] ?? '')?.dataType ?? DataType.UINT8;
}

function typed(name: string, elemType: number): IValueInfoProto {
  return { name, type: { tensorType: { elemType } } };
}

/**
 * The attention's region replaced by: the query operand and the rel-pos terms reshaped to
 * [heads, chunks, ...], an outer Scan over heads (slicing q, K, V and the terms), an inner Scan
 * over row chunks running the region's own nodes on one chunk, and a Reshape back to
 * [heads, tokens, head dim] under the A.V product's output name.
 */
function rewrite(nodes: INodeProto[], a: Attention, rows: number, inits: Map<string, ITensorProto>, shapeConst: (name: string, values: number[]) => string): INodeProto[] {
  const { module, region, heads, size } = a;
  const tokens = size * size, chunks = size / rows, chunkTokens = rows * size;
  const av = region[region.length - 1]!;
  const outer = `${module}/scan_heads`, inner = `${module}/scan_rows`;
  const pre: INodeProto[] = [];
  const reshaped = (x: string, shape: number[], tag: string): string => {
    const out = `${module}/scan/${tag}`;
    pre.push({ opType: 'Reshape', name: out, input: [x, shapeConst(`${out}/shape`, shape)], output: [out] });
    return out;
  };
  const q = reshaped(a.q, [heads, chunks, chunkTokens, -1], 'q');
  const rel = a.rel.map((r, i) => reshaped(r.source, [heads, chunks, rows, size, ...r.tail], `rel${i}`));

  // the inner body: the region's nodes on one chunk of one head
  const rename = new Map<string, string>([[a.q, `${inner}/q`], [a.k, `${outer}/k`], [a.v, `${outer}/v`]]);
  a.rel.forEach((r, i) => rename.set(r.input, `${inner}/rel${i}`));
  const body: INodeProto[] = region.map((n) => {
    const input = (n.input ?? []).map((x) => rename.get(x) ?? x);
    if (n.opType === 'Reshape') {
      const five = dims(inits.get(n.input![1]!))!.length === 5;
      input[1] = shapeConst(`${n.name}/chunk_shape`, five ? [rows, size, size, size] : [chunkTokens, tokens]);
    }
    const output = (n.output ?? []).map((o) => `${o}/chunk`);
    (n.output ?? []).forEach((o, i) => rename.set(o, output[i]!));
    return { ...n, name: `${n.name}/chunk`, input, output };
  });
  const chunkOut = rename.get(av.output![0]!)!;
  const innerGraph = {
    name: inner, node: body,
    input: [typed(`${inner}/q`, elemTypeOf(nodes, inits, a.q)), ...a.rel.map((_, i) => typed(`${inner}/rel${i}`, DataType.FLOAT))],
    output: [typed(chunkOut, DataType.FLOAT)],
  };
  const headOut = `${outer}/chunks`;
  const outerGraph = {
    name: outer,
    node: [scan(`${outer}/Scan`, [`${outer}/q`, ...a.rel.map((_, i) => `${outer}/rel${i}`)], headOut, innerGraph)],
    input: [typed(`${outer}/q`, elemTypeOf(nodes, inits, a.q)), typed(`${outer}/k`, elemTypeOf(nodes, inits, a.k)), typed(`${outer}/v`, elemTypeOf(nodes, inits, a.v)), ...a.rel.map((_, i) => typed(`${outer}/rel${i}`, DataType.FLOAT))],
    output: [typed(headOut, DataType.FLOAT)],
  };
  const all = `${module}/scan:out`;
  const replacement: INodeProto[] = [
    ...pre,
    scan(`${module}/Scan`, [q, a.k, a.v, ...rel], all, outerGraph),
    { opType: 'Reshape', name: `${module}/scan/Reshape`, input: [all, shapeConst(`${module}/scan/out_shape`, [heads, tokens, -1])], output: [av.output![0]!] },
  ];
  // every input of the region is made before A.V: the replacement goes where A.V was
  const next = nodes[nodes.indexOf(av) + 1];
  const kept = nodes.filter((n) => !region.includes(n));
  kept.splice(next ? kept.indexOf(next) : kept.length, 0, ...replacement);
  return kept;
}

function scan(name: string, inputs: string[], output: string, body: object): INodeProto {
  return {
    opType: 'Scan', name, input: inputs, output: [output],
    attribute: [{ name: 'num_scan_inputs', type: AttributeType.INT, i: inputs.length }, { name: 'body', type: AttributeType.GRAPH, g: body }],
  };
}
