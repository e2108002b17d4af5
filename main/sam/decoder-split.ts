/**
 * The decoder split at load time into what a prompt cannot change and what it can, for clicks
 * without a fed-back mask. With no mask input the dense prompt embedding is a constant, so every
 * node that reads only the image embedding and constants (image embedding + no_mask_embed, the
 * layer-0 token-to-image key/value projections, the image-to-token query projection, their head
 * reshapes) runs once per image in the image part; the prompt part takes their results as inputs.
 * The nodes are the decoder graph's own, in the same order; the split is cut from decoder.onnx
 * itself (float or quantized), which stays the standard SAM ONNX decoder on disk.
 *
 * In the prompt part, the cross attentions between the few prompt tokens (T, about 7) and the
 * 4096 image tokens are then reassociated where their weights are plain float initializers, so
 * that no per-click product is 4096 x 256 x 128 (see `reassociateAttention`). Both computations
 * agree within float rounding (tested within 1e-4 of the official outputs). SAM 2.1's decoder
 * (image input `image_embed`, plus two high-resolution maps its mask head adds) splits the same way.
 * A click with a fed-back mask runs the same two parts, the mask's share added to the image-side
 * tensors (`refinementGraph`).
 */
import { DataType, type IGraphProto, type INodeProto, type ITensorProto, type ModelProto } from '../onnx/proto.ts';
import { valueInfo } from '../onnx/builder.ts';
import { makeTensor, tensorToBigInt64, tensorToFloat32 } from '../onnx/tensor.ts';

/** The decoder inputs a click sets; `mask_input` / `has_mask_input` are fixed to "no mask". */
const PROMPT_INPUTS = ['point_coords', 'point_labels'];
/** The image's inputs: SAM's embedding, or SAM 2.1's embedding and its two high-resolution maps. */
const IMAGE_INPUTS = { sam: ['image_embeddings'], sam2: ['image_embed', 'high_res_feats_0', 'high_res_feats_1'] } as const;
const OUTPUTS = ['iou_predictions', 'low_res_masks'];

export interface SplitDecoder {
  /** the image's embedding (`image_embeddings`, SAM 2.1: `image_embed`) -> the image-side tensors the prompt part reads */
  image: ModelProto;
  /** its inputs: the image's embedding, and SAM 2.1's high-resolution maps when it reorders them */
  imageInputs: string[];
  /**
   * point_coords, point_labels (+ any passed-through image inputs) + the image-side tensors ->
   * iou_predictions, low_res_masks
   */
  prompt: ModelProto;
  /** names of the tensors passed from the image part to the prompt part */
  imageSide: string[];
  /**
   * image inputs the prompt part reads as they come from the encoder: SAM 2.1's high-resolution
   * maps, read only beside prompt-dependent tensors, unless the image part reorders them for the
   * reassociated mask head (`hoistImageNodes`; then none)
   */
  passedThrough: string[];
}

const elemNames: Record<number, string> = { [DataType.FLOAT]: 'float32', [DataType.INT64]: 'int64', [DataType.INT32]: 'int32', [DataType.UINT8]: 'uint8', [DataType.INT8]: 'int8', [DataType.BOOL]: 'bool', [DataType.FLOAT16]: 'float16' };

/** The element type of each node output, from the inputs' types and each op's rule. */
function elementTypes(nodes: INodeProto[], known: Map<string, number>): Map<string, number> {
  const types = new Map(known);
  const attr = (n: INodeProto, name: string) => n.attribute?.find((a) => a.name === name);
  for (const n of nodes) {
    const inType = (i: number) => types.get(n.input?.[i] ?? '') ?? 0;
    const outs = n.output ?? [];
    let t: number[];
    switch (n.opType) {
      case 'Shape': case 'Size': case 'ArgMax': case 'ArgMin': case 'NonZero': t = [DataType.INT64]; break;
      case 'Cast': t = [Number(attr(n, 'to')?.i ?? 0)]; break;
      case 'Equal': case 'Less': case 'Greater': case 'LessOrEqual': case 'GreaterOrEqual': case 'Not': case 'And': case 'Or': t = [DataType.BOOL]; break;
      case 'QuantizeLinear': t = [n.input?.[2] ? inType(2) : DataType.UINT8]; break;
      case 'DynamicQuantizeLinear': t = [DataType.UINT8, DataType.FLOAT, DataType.UINT8]; break;
      case 'DequantizeLinear': t = [DataType.FLOAT]; break;
      case 'MatMulInteger': case 'ConvInteger': t = [DataType.INT32]; break;
      // integer inputs, float output (a quantized linear whose consumer is a float op)
      case 'MatMulIntegerToFloat': case 'DynamicQuantizeMatMul': t = [DataType.FLOAT]; break;
      case 'Constant': t = [attr(n, 'value')?.t?.dataType ?? DataType.FLOAT]; break;
      case 'ConstantOfShape': t = [attr(n, 'value')?.t?.dataType ?? DataType.FLOAT]; break;
      case 'Where': t = [inType(1)]; break;
      default: t = outs.map(() => inType(0));
    }
    outs.forEach((o, i) => types.set(o, t[i] ?? t[0]!));
  }
  return types;
}

/** Nodes needed for `outputs`, in graph order, and the tensor names they read. */
function needed(nodes: INodeProto[], outputs: string[]): { nodes: INodeProto[]; reads: Set<string> } {
  const want = new Set(outputs);
  const keep: INodeProto[] = [];
  for (const n of [...nodes].reverse()) {
    if ((n.output ?? []).some((o) => want.has(o))) {
      keep.unshift(n);
      for (const i of n.input ?? []) if (i) want.add(i);
    }
  }
  return { nodes: keep, reads: want };
}

/**
 * Cuts the decoder into its image part and prompt part (see the file comment). Throws, naming
 * the model, when the graph does not have the SAM decoder's inputs and outputs. `extraOutputs`:
 * tensors the prompt part gives besides iou_predictions and low_res_masks.
 */
export function splitDecoder(model: ModelProto, nameForErrors: string, opts: { extraOutputs?: string[] } = {}): SplitDecoder {
  const g = model.graph!;
  const inputNames = new Set((g.input ?? []).map((i) => i.name ?? ''));
  const imageInputs: readonly string[] = inputNames.has(IMAGE_INPUTS.sam2[0]) ? IMAGE_INPUTS.sam2 : IMAGE_INPUTS.sam;
  for (const name of [...imageInputs, ...PROMPT_INPUTS, 'mask_input', 'has_mask_input']) {
    if (!inputNames.has(name)) throw new Error(`${nameForErrors}: decoder has no input ${name}; cannot split it`);
  }
  const lowRes = g.input!.find((i) => i.name === 'mask_input')!.type?.tensorType?.shape?.dim?.map((d) => Number(d.dimValue ?? 0)) ?? [];
  if (lowRes.length !== 4 || lowRes.some((d) => !(d > 0))) throw new Error(`${nameForErrors}: decoder input mask_input has no fixed shape; cannot split it`);
  const noMask: ITensorProto[] = [
    makeTensor('mask_input', lowRes, new Float32Array(lowRes.reduce((a, b) => a * b, 1))),
    makeTensor('has_mask_input', [1], Float32Array.of(0)),
  ];
  const initializers = [...(g.initializer ?? []), ...noMask];
  const nodes = needed(g.node ?? [], [...OUTPUTS, ...(opts.extraOutputs ?? [])]).nodes;

  // prompt-dependent, image-dependent (and not prompt-dependent), or constant
  const prompt = new Set(PROMPT_INPUTS);
  const image = new Set<string>(imageInputs);
  for (const n of nodes) {
    const ins = (n.input ?? []).filter(Boolean);
    const target = ins.some((i) => prompt.has(i)) ? prompt : ins.some((i) => image.has(i)) ? image : null;
    if (target) for (const o of n.output ?? []) target.add(o);
  }
  const promptNodes = nodes.filter((n) => !(n.output ?? []).some((o) => image.has(o)));
  const read = [...new Set(promptNodes.flatMap((n) => (n.input ?? []).filter((i) => image.has(i))))];
  const passedThrough = read.filter((i) => imageInputs.includes(i));
  const imageSide = read.filter((i) => !imageInputs.includes(i));
  if (imageSide.length === 0) throw new Error(`${nameForErrors}: no decoder node depends on the image embedding alone; nothing to split`);
  const imageInput = imageInputs[0]!;

  const known = new Map<string, number>([...imageInputs.map((i) => [i, DataType.FLOAT] as [string, number]), ...PROMPT_INPUTS.map((p) => [p, DataType.FLOAT] as [string, number]), ...initializers.map((t) => [t.name ?? '', t.dataType ?? 0] as [string, number])]);
  const types = elementTypes(nodes, known);
  const signature = (name: string) => {
    const type = elemNames[types.get(name) ?? 0];
    if (!type) throw new Error(`${nameForErrors}: cannot tell the element type of decoder tensor ${name}; cannot split it`);
    const v = valueInfo(name, type as 'float32', []);
    delete v.type!.tensorType!.shape; // rank left open: onnxruntime infers it
    return v;
  };
  const graphOf = (name: string, graphNodes: INodeProto[], inputs: string[], outputs: string[]): ModelProto => {
    const use = needed(graphNodes, outputs);
    const graph = {
      ...g,
      name,
      node: use.nodes,
      initializer: initializers.filter((t) => use.reads.has(t.name ?? '') && !inputs.includes(t.name ?? '')),
      input: inputs.map((i) => (g.input ?? []).find((x) => x.name === i) ?? signature(i)),
      output: outputs.map((o) => (g.output ?? []).find((x) => x.name === o) ?? signature(o)),
      valueInfo: [],
    };
    return { ...model, graph } as unknown as ModelProto;
  };
  // constant nodes feed either part; each part keeps the ones it reads
  const imageGraph = graphOf('sam_decoder_image_part', nodes.filter((n) => !(n.output ?? []).some((o) => prompt.has(o))), [imageInput], imageSide);
  const imageGraphInputs = new Set((imageGraph.graph!.node ?? []).flatMap((n) => n.input ?? []));
  const stray = imageInputs.filter((i) => i !== imageInput && imageGraphInputs.has(i));
  if (stray.length > 0) throw new Error(`${nameForErrors}: decoder input ${stray.join(', ')} is read with the embedding alone; cannot split it`);
  const promptOutputs = [...OUTPUTS, ...(opts.extraOutputs ?? []).filter((o) => !OUTPUTS.includes(o))];
  const promptGraph = graphOf('sam_decoder_prompt_part', promptNodes, [...PROMPT_INPUTS, ...passedThrough, ...imageSide], promptOutputs);
  reassociateAttention(promptGraph, lowRes[3]!);
  return hoistImageNodes({ image: imageGraph, imageInputs: [imageInput], prompt: promptGraph, imageSide, passedThrough });
}

/**
 * Moves the prompt part's nodes that read only passed-through image inputs (and constants) into
 * the image part, so they run once per image: SAM 2.1's high-resolution maps put in the mask
 * head's pixel rows (`reassociateAttention`). The image part then reads those inputs too.
 */
function hoistImageNodes(split: SplitDecoder): SplitDecoder {
  const prompt = split.prompt.graph!, image = split.image.graph!;
  const constants = new Set((prompt.initializer ?? []).map((t) => t.name ?? ''));
  const fromImage = new Set(split.passedThrough);
  const hoisted: INodeProto[] = [];
  for (const n of prompt.node ?? []) {
    const ins = (n.input ?? []).filter(Boolean);
    if (ins.some((i) => fromImage.has(i)) && ins.every((i) => fromImage.has(i) || constants.has(i))) {
      hoisted.push(n);
      for (const o of n.output ?? []) fromImage.add(o);
    }
  }
  if (hoisted.length === 0) return split;
  const rest = (prompt.node ?? []).filter((n) => !hoisted.includes(n));
  const restReads = new Set(rest.flatMap((n) => n.input ?? []));
  const handed = hoisted.flatMap((n) => n.output ?? []).filter((o) => restReads.has(o));
  const hoistedReads = new Set(hoisted.flatMap((n) => n.input ?? []));
  const imageReads = split.passedThrough.filter((i) => hoistedReads.has(i));
  const passedThrough = split.passedThrough.filter((i) => restReads.has(i));
  const float = (name: string) => { const v = valueInfo(name, 'float32', []); delete v.type!.tensorType!.shape; return v; };
  image.node = [...(image.node ?? []), ...hoisted];
  image.input = [...(image.input ?? []), ...(prompt.input ?? []).filter((i) => imageReads.includes(i.name ?? ''))];
  image.output = [...(image.output ?? []), ...handed.map(float)];
  image.initializer = [...(image.initializer ?? []), ...(prompt.initializer ?? []).filter((t) => hoistedReads.has(t.name ?? ''))];
  prompt.node = rest;
  prompt.input = [...(prompt.input ?? []).filter((i) => !split.passedThrough.includes(i.name ?? '') || passedThrough.includes(i.name ?? '')), ...handed.map(float)];
  prompt.initializer = (prompt.initializer ?? []).filter((t) => restReads.has(t.name ?? ''));
  return { ...split, imageInputs: [...split.imageInputs, ...imageReads], imageSide: [...split.imageSide, ...handed], passedThrough };
}

/**
 * The refinement graph (a click with a fed-back low-res mask) as the click split's prompt part
 * plus the mask's share of each image-side tensor. The mask reaches the decoder only through its
 * dense embedding, added to the image embedding: src = emb + has_mask (W m + b) + (1 - has_mask)
 * no_mask, with m the mask features (16 channels) before the prompt encoder's last 1x1 conv. The
 * image part's tensors are affine in src (positional adds, layer 0's projections, head reshapes),
 * so each is its no-mask value (the image part's output, made once per image) plus a term
 * linear in has_mask * m: for a projection, m (W^T Wk) instead of (src + pe) Wk, a 4096 x 16 x 128
 * product in place of 4096 x 256 x 128, and src is never transposed per click. Returns null where
 * the decoder is not of that form (a quantized decoder's integer projections): refinements then
 * run the whole decoder (`takeImageSide`).
 */
export function refinementGraph(model: ModelProto, split: SplitDecoder): ModelProto | null {
  const g = model.graph!;
  const nodes = g.node ?? [];
  const producer = new Map(nodes.flatMap((n) => (n.output ?? []).map((o) => [o, n] as const)));
  const imageInput = split.imageInputs[0]!;
  const image = split.image.graph!;
  const allInits = [...(g.initializer ?? []), ...(image.initializer ?? [])];
  const inits = new Map(allInits.map((t) => [t.name ?? '', t]));
  const floats = (name: string) => { const t = inits.get(name); return t?.dataType === DataType.FLOAT ? { data: tensorToFloat32(t), dims: (t.dims ?? []).map(Number) } : null; };
  const ints = int64Values(allInits);
  const attrInts = (n: INodeProto, name: string) => n.attribute?.find((a) => a.name === name)?.ints?.map(Number) ?? null;

  // src = emb + dense, dense = has_mask * conv(m) + (1 - has_mask) * no_mask
  const join = nodes.find((n) => n.opType === 'Add' && n.input?.length === 2 && n.input.includes(imageInput));
  const dense = producer.get(join?.input?.find((i) => i !== imageInput) ?? '');
  if (!join || dense?.opType !== 'Add') return null;
  const terms = (dense.input ?? []).map((i) => producer.get(i));
  const withMask = terms.find((p) => p?.opType === 'Mul' && p.input?.includes('has_mask_input'));
  const without = terms.find((p) => p !== withMask && p?.opType === 'Mul');
  const conv = producer.get(withMask?.input?.find((i) => i !== 'has_mask_input') ?? '');
  const oneMinus = without?.input?.map((i) => producer.get(i)).find((p) => p?.opType === 'Sub');
  const noMask = floats(without?.input?.find((i) => i !== oneMinus?.output?.[0]) ?? '');
  const one = floats(oneMinus?.input?.[0] ?? '');
  if (!conv || conv.opType !== 'Conv' || !noMask || !one || one.data.length !== 1 || one.data[0] !== 1 || oneMinus?.input?.[1] !== 'has_mask_input') return null;
  const w = floats(conv.input?.[1] ?? ''), b = floats(conv.input?.[2] ?? '');
  const unit = (name: string, value: number) => (attrInts(conv, name) ?? [value]).every((v) => v === value);
  if (!w || !b || w.dims.length !== 4 || w.dims[2] !== 1 || w.dims[3] !== 1 || !unit('strides', 1) || !unit('dilations', 1) || !unit('pads', 0)) return null;
  if (Number(conv.attribute?.find((a) => a.name === 'group')?.i ?? 1) !== 1) return null;
  const [channels, maskChannels] = w.dims as [number, number];
  if (noMask.data.length !== channels || b.data.length !== channels) return null;
  // the mask reaches nothing else: every reader of a mask-dependent tensor (before the join) is
  // on the dense embedding's path, so the join is where the whole fed-back mask enters
  const densePath = new Set(needed(nodes, [dense.output![0]!]).nodes);
  const fromMask = new Set(['mask_input', 'has_mask_input']);
  for (const n of nodes) {
    if (n === join || !(n.input ?? []).some((i) => fromMask.has(i))) continue;
    if (!densePath.has(n)) return null;
    for (const o of n.output ?? []) fromMask.add(o);
  }

  // src in token rows: Reshape to [1, C, HW], Transpose [0, 2, 1], in the image part
  const readers = (name: string) => (image.node ?? []).filter((n) => n.input?.includes(name));
  const [flat] = readers(join.output![0]!);
  const flatShape = ints(flat?.input?.[1] ?? '');
  if (readers(join.output![0]!).length !== 1 || flat?.opType !== 'Reshape' || flatShape?.length !== 3 || flatShape[0] !== 1 || flatShape[1] !== channels) return null;
  const [rows] = readers(flat.output![0]!);
  const perm = rows ? attrInts(rows, 'perm') : null;
  if (readers(flat.output![0]!).length !== 1 || rows?.opType !== 'Transpose' || perm?.join() !== '0,2,1') return null;
  const pixels = flatShape[2]!;

  let counter = 0;
  const fresh = (what: string) => `refine/${what}_${counter++}`;
  const added: INodeProto[] = [];
  const newInits: ITensorProto[] = [];
  const init = (dims: number[], data: Float32Array | BigInt64Array) => { const name = fresh('const'); newInits.push(makeTensor(name, dims, data)); return name; };
  const node = (opType: string, input: string[], what: string, attribute: INodeProto['attribute'] = []): string => {
    const out = fresh(what);
    added.push({ opType, input, output: [out], name: out, attribute });
    return out;
  };
  // has_mask * [m; 1] as channel rows [1, Cm + 1, HW] (the row of ones carries each term's
  // bias) and, made when a term needs them, as token rows [1, HW, Cm + 1]
  const m = conv.input![0]!;
  const aug = maskChannels + 1;
  const flatMask = node('Reshape', [m, init([3], BigInt64Array.of(1n, BigInt(maskChannels), BigInt(pixels)))], 'mask_flat');
  const withOnes = node('Concat', [flatMask, init([1, 1, pixels], new Float32Array(pixels).fill(1))], 'mask_ones', [{ name: 'axis', type: 2, i: 1 }]);
  const maskCols = node('Mul', [withOnes, 'has_mask_input'], 'mask_cols');
  let maskRows: string | null = null;
  const rowsOfMask = () => (maskRows ??= node('Transpose', [maskCols], 'mask_rows', [{ name: 'perm', type: 7, ints: [0, 2, 1] }]));
  // token rows as a matrix [HW, Cm + 1], for a Gemm
  let rowsShape: string | null = null, maskMatrix: string | null = null;
  const asRows = () => (rowsShape ??= init([2], BigInt64Array.of(BigInt(pixels), -1n)));
  const matrixOfMask = () => (maskMatrix ??= node('Reshape', [rowsOfMask(), asRows()], 'mask_rows_2d'));

  /**
   * A tensor's mask term in token rows [1, HW, cols]: (has_mask [m; 1]) [right; bias], folded at
   * load; `heads` once reshaped to [1, HW, H, d] (made per head by the Transpose that follows);
   * or a tensor made in the graph.
   */
  type Term = { right: Float32Array; bias: Float32Array; cols: number; heads?: { h: number; d: number; shape: string } } | { name: string };
  const augmented = (t: { right: Float32Array; bias: Float32Array; cols: number }) => { const a = new Float32Array(aug * t.cols); a.set(t.right); a.set(t.bias, maskChannels * t.cols); return a; };
  const made = new Map<Term, string>();
  const materialize = (t: Term): string => {
    if ('name' in t) return t.name;
    let name = made.get(t);
    if (!name) {
      name = node('MatMul', [rowsOfMask(), init([aug, t.cols], augmented(t))], 'mask_product');
      if (t.heads) name = node('Reshape', [name, t.heads.shape], 'mask_heads');
      made.set(t, name);
    }
    return name;
  };
  // the conv as rows: right = W^T [Cm, C], bias = b - no_mask
  const right0 = new Float32Array(maskChannels * channels);
  for (let c = 0; c < channels; c++) for (let j = 0; j < maskChannels; j++) right0[j * channels + c] = w.data[c * maskChannels + j]!;
  const terms0 = new Map<string, Term>([[rows.output![0]!, { right: right0, cols: channels, bias: b.data.map((v, c) => v - noMask.data[c]!) }]]);
  const copied = new Set<string>();
  const after = (image.node ?? []).indexOf(rows);
  for (const n of (image.node ?? []).slice(after + 1)) {
    const carried = (n.input ?? []).map((i) => terms0.get(i));
    if (!carried.some(Boolean)) continue;
    const out = n.output?.[0] ?? '';
    if ((n.output ?? []).length !== 1) return null;
    const [x, y] = carried;
    if (n.opType === 'Add') {
      if (x && y) terms0.set(out, 'name' in x || 'name' in y || x.heads || y.heads ? { name: node('Add', [materialize(x), materialize(y)], 'mask_sum') } : { right: x.right.map((v, i) => v + y.right[i]!), cols: x.cols, bias: x.bias.map((v, i) => v + y.bias[i]!) });
      else terms0.set(out, (x ?? y)!);
    } else if (n.opType === 'MatMul') {
      const weight = floats(n.input?.[1] ?? '');
      if (!x || y || !weight || weight.dims.length !== 2) return null;
      const [k, cols] = weight.dims as [number, number];
      if ('name' in x || x.heads) { terms0.set(out, { name: node('MatMul', [materialize(x), n.input![1]!], 'mask_projection') }); copied.add(n.input![1]!); continue; }
      if (k !== x.cols) return null;
      const right = new Float32Array(maskChannels * cols), bias = new Float32Array(cols);
      for (let i = 0; i < maskChannels; i++) for (let t = 0; t < k; t++) {
        const a = x.right[i * k + t]!;
        for (let c = 0; c < cols; c++) right[i * cols + c] = right[i * cols + c]! + a * weight.data[t * cols + c]!;
      }
      for (let t = 0; t < k; t++) for (let c = 0; c < cols; c++) bias[c] = bias[c]! + x.bias[t]! * weight.data[t * cols + c]!;
      terms0.set(out, { right, cols, bias });
    } else if (['Reshape', 'Transpose', 'Squeeze', 'Unsqueeze'].includes(n.opType ?? '') && x && !carried.slice(1).some(Boolean)) {
      for (const i of (n.input ?? []).slice(1)) copied.add(i);
      const shape = n.opType === 'Reshape' ? ints(n.input?.[1] ?? '') : null;
      const perm = n.opType === 'Transpose' ? attrInts(n, 'perm')?.join() : null;
      if (!('name' in x) && !x.heads && shape?.length === 4 && (shape[0] === 1 || shape[0] === 0) && (shape[1] === pixels || shape[1] === -1) && shape[2]! > 0 && shape[2]! * shape[3]! === x.cols) {
        // heads split: made per head by the Transpose after it, without moving the rows
        terms0.set(out, { ...x, heads: { h: shape[2]!, d: shape[3]!, shape: n.input![1]! } });
      } else if (!('name' in x) && x.heads && (perm === '0,2,1,3' || perm === '0,2,3,1')) {
        // [1, H, HW, d] = rows [1, HW, Cm + 1] x per head [1, H, Cm + 1, d]; [1, H, d, HW] = per head [1, H, d, Cm + 1] x channel rows
        const { h, d } = x.heads, a = augmented(x);
        const perHead = new Float32Array(a.length);
        const byRows = perm === '0,2,1,3';
        for (let head = 0; head < h; head++) for (let i = 0; i < aug; i++) for (let j = 0; j < d; j++) {
          perHead[byRows ? (head * aug + i) * d + j : (head * d + j) * aug + i] = a[i * x.cols + head * d + j]!;
        }
        const weights = init(byRows ? [1, h, aug, d] : [1, h, d, aug], perHead);
        terms0.set(out, { name: node('MatMul', byRows ? [rowsOfMask(), weights] : [weights, maskCols], 'mask_head_product') });
      } else {
        terms0.set(out, { name: node(n.opType!, [materialize(x), ...(n.input ?? []).slice(1)], 'mask_layout', n.attribute ?? []) });
      }
    } else {
      return null;
    }
  }
  const refined = new Map(split.imageSide.filter((x) => terms0.has(x)).map((x) => [x, `${x}/refined`]));
  if (refined.size === 0) return null;
  for (const [x, name] of refined) {
    const t = terms0.get(x)!;
    if ('name' in t || t.heads) { added.push({ opType: 'Add', input: [x, materialize(t)], output: [name], name }); continue; }
    // token rows: one Gemm adds the term to the image part's tensor (its C)
    const sum = node('Gemm', [matrixOfMask(), init([aug, t.cols], augmented(t)), node('Reshape', [x, asRows()], 'image_rows_2d')], 'mask_added');
    added.push({ opType: 'Reshape', input: [sum, init([3], BigInt64Array.of(1n, BigInt(pixels), BigInt(t.cols)))], output: [name], name });
  }

  // the mask features from mask_input, as the decoder computes them
  const maskPart = needed(nodes, [m]);
  const graphInputs = new Set((g.input ?? []).map((i) => i.name ?? ''));
  if ([...maskPart.reads].some((r) => graphInputs.has(r) && r !== 'mask_input')) return null;
  const prompt = split.prompt.graph!;
  const promptNodes = (prompt.node ?? []).map((n) => (n.input?.some((i) => refined.has(i)) ? { ...n, input: n.input.map((i) => refined.get(i) ?? i) } : n));
  const all = [...maskPart.nodes, ...added, ...promptNodes];
  const reads = new Set(all.flatMap((n) => n.input ?? []));
  const initializers = new Map<string, ITensorProto>();
  for (const t of [...(prompt.initializer ?? []), ...newInits]) initializers.set(t.name ?? '', t);
  for (const name of [...maskPart.reads, ...copied]) { const t = inits.get(name); if (t && !initializers.has(name)) initializers.set(name, t); }
  for (const name of ['mask_input', 'has_mask_input']) initializers.delete(name);
  const graph = {
    ...prompt,
    name: 'sam_decoder_refinement',
    node: all,
    initializer: [...initializers.values()].filter((t) => reads.has(t.name ?? '')),
    input: [...(prompt.input ?? []), ...(g.input ?? []).filter((i) => i.name === 'mask_input' || i.name === 'has_mask_input')],
    valueInfo: [],
  };
  return { ...split.prompt, graph } as unknown as ModelProto;
}

/**
 * Makes `model` (the whole decoder proper, run for refinements) read the image part's outputs
 * `imageSide` where it computes the same tensors from the image inputs alone, in place of those
 * nodes: SAM 2.1's high-resolution maps in pixel rows are then made once per image for every
 * click, not per refinement. A tensor that depends on a prompt here (SAM's layer-0 projections,
 * which read the mask's dense embedding) is not taken. Returns the names taken (new inputs).
 */
export function takeImageSide(model: ModelProto, imageInputs: string[], imageSide: string[]): string[] {
  const g = model.graph!;
  const constants = new Set((g.initializer ?? []).map((t) => t.name ?? ''));
  const fromImage = new Set(imageInputs);
  for (const n of g.node ?? []) {
    const ins = (n.input ?? []).filter(Boolean);
    if (ins.some((i) => fromImage.has(i)) && ins.every((i) => fromImage.has(i) || constants.has(i))) for (const o of n.output ?? []) fromImage.add(o);
  }
  const taken = imageSide.filter((name) => fromImage.has(name) && !imageInputs.includes(name));
  if (taken.length === 0) return [];
  const kept = (g.node ?? []).filter((n) => !(n.output ?? []).some((o) => taken.includes(o)));
  const live = needed(kept, (g.output ?? []).map((o) => o.name ?? ''));
  const float = (name: string) => { const v = valueInfo(name, 'float32', []); delete v.type!.tensorType!.shape; return v; };
  g.node = live.nodes;
  g.initializer = (g.initializer ?? []).filter((t) => live.reads.has(t.name ?? ''));
  g.input = [...(g.input ?? []).filter((i) => live.reads.has(i.name ?? '')), ...taken.map(float)];
  return taken;
}

const HEADS = 8;

/**
 * Rewrites, in place, the cross attentions of a prompt part whose projections are float
 * MatMuls named as the builder names them (`<module>.k_proj/MatMul`, `<module>/qk/MatMul`, ...).
 * With q, k, v the per-head projections (head dim d = 16 or 32), T prompt tokens and N = 4096
 * image tokens:
 * - token-to-image: q Wk^T x^T replaces q (x Wk)^T (the key bias adds a constant per row, which
 *   softmax ignores), and (P x) Wv + bv replaces P (x Wv + bv) (rows of P sum to one): each a
 *   T x 256 x N product per head instead of N x 256 x 128 once;
 * - image-to-token: x (Wq k^T) + bq k^T replaces (x Wq + bq) k^T, one N x 256 x H*T product
 *   whose rows are per image token (the softmax over T runs in that layout), and the output
 *   projection is applied to v before P: P (v Wo + bo/H) + residual, one product with C, instead
 *   of (P v) Wo + bo, then the block's residual add.
 * Modules whose weights are not plain float initializers (a quantized decoder) are left as
 * they are. Then the mask head runs on pixel rows (`rewriteMaskHead`) and the final attention
 * for the tokens the heads read (`finalAttentionForReadTokens`).
 */
export function reassociateAttention(model: ModelProto, lowRes: number): void {
  const g = model.graph!;
  const nodes = g.node ?? [];
  // SAM's mask decoder module, or SAM 2.1's
  const md = nodes.some((n) => n.name === 'sam_mask_decoder/hypernetwork/MatMul') ? 'sam_mask_decoder' : 'mask_decoder';
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const byName = new Map(nodes.map((n) => [n.name ?? '', n]));
  const castOf = new Map(nodes.filter((n) => n.opType === 'Cast').map((n) => [n.output?.[0] ?? '', n]));
  /**
   * A float32 constant: an initializer, or a float16 initializer cast to float32 (the quantizer
   * stores the float parts of a quantized decoder so; the cast is exact).
   */
  const constant = (name: string): { data: Float32Array; dims: number[] } | null => {
    const t = inits.get(name);
    if (t) return t.dataType === DataType.FLOAT ? { data: tensorToFloat32(t), dims: (t.dims ?? []).map(Number) } : null;
    const cast = castOf.get(name);
    const t16 = cast ? inits.get(cast.input?.[0] ?? '') : undefined;
    const to = cast?.attribute?.find((a) => a.name === 'to')?.i;
    if (!t16 || t16.dataType !== DataType.FLOAT16 || Number(to) !== DataType.FLOAT) return null;
    return { data: tensorToFloat32(t16), dims: (t16.dims ?? []).map(Number) };
  };
  const floatWeight = (node: INodeProto | undefined): { data: Float32Array; rows: number; cols: number } | null => {
    const t = node ? constant(node.input?.[1] ?? '') : null;
    if (!t || t.dims.length !== 2) return null;
    return { data: t.data, rows: t.dims[0]!, cols: t.dims[1]! };
  };
  const bias = (module: string) => constant(`${module}.bias`)?.data ?? null;
  const replacements = new Map<INodeProto, INodeProto[]>();
  const imageTokens = (lowRes / 4) ** 2;
  let counter = 0;
  const fresh = (module: string, what: string) => `${module}/reassociated/${what}_${counter++}`;
  const init = (name: string, dims: number[], data: Float32Array | BigInt64Array) => { g.initializer!.push(makeTensor(name, dims, data)); return name; };
  const node = (opType: string, input: string[], output: string, attrs: Record<string, number[]> = {}): INodeProto => ({
    opType, input, output: [output], name: output,
    attribute: Object.entries(attrs).map(([name, ints]) => ({ name, type: 7, ints })),
  });
  /** [in, H*d] (MatMul B) as per-head [H, d, in] when `transposed`, else [H, in, d] */
  const perHead = (w: { data: Float32Array; rows: number; cols: number }, transposed: boolean) => {
    const d = w.cols / HEADS;
    const out = new Float32Array(w.data.length);
    for (let h = 0; h < HEADS; h++) for (let i = 0; i < w.rows; i++) for (let j = 0; j < d; j++) {
      const v = w.data[i * w.cols + h * d + j]!;
      if (transposed) out[(h * d + j) * w.rows + i] = v;
      else out[(h * w.rows + i) * d + j] = v;
    }
    return { data: out, d };
  };

  for (const module of new Set(nodes.map((n) => /^(.*cross_attn_(?:token_to_image|image_to_token)|.*final_attn_token_to_image)\//.exec(n.name ?? '')?.[1]).filter((m): m is string => !!m))) {
    const qk = byName.get(`${module}/qk/MatMul`), av = byName.get(`${module}/av/MatMul`), softmax = byName.get(`${module}/Softmax`);
    if (!qk || !av || !softmax) continue;
    const [qh, khT] = qk.input as [string, string];
    const [probs, vh] = av.input as [string, string];
    if (module.includes('token_to_image')) {
      const kProj = byName.get(`${module}.k_proj/MatMul`), vProj = byName.get(`${module}.v_proj/MatMul`);
      const wk = floatWeight(kProj), wv = floatWeight(vProj), bv = bias(`${module}.v_proj`);
      if (!kProj || !vProj || !wk || !wv || !bv) continue; // image-side projections (layer 0) or quantized
      const k3 = perHead(wk, true), v3 = perHead(wv, false);
      const a = fresh(module, 'q_wk'), kT = fresh(module, 'x_t'), kT4 = fresh(module, 'x_t4');
      const bv3 = init(fresh(module, 'bv'), [HEADS, 1, v3.d], bv);
      const vIn4 = fresh(module, 'x4'), pv = fresh(module, 'p_x'), pvw = fresh(module, 'p_x_wv');
      replacements.set(qk, [
        node('MatMul', [qh, init(fresh(module, 'wk'), [HEADS, k3.d, wk.rows], k3.data)], a),
        // unsqueezed first: onnxruntime fuses a last-two-axes Transpose into the MatMul
        node('Unsqueeze', [kProj.input![0]!, init(fresh(module, 'axis'), [1], BigInt64Array.of(1n))], kT),
        node('Transpose', [kT], kT4, { perm: [0, 1, 3, 2] }),
        node('MatMul', [a, kT4], qk.output![0]!),
      ]);
      replacements.set(av, [
        node('Unsqueeze', [vProj.input![0]!, init(fresh(module, 'axis'), [1], BigInt64Array.of(1n))], vIn4),
        node('MatMul', [probs, vIn4], pv),
        node('MatMul', [pv, init(fresh(module, 'wv'), [HEADS, wv.rows, v3.d], v3.data)], pvw),
        node('Add', [pvw, bv3], av.output![0]!),
      ]);
    } else {
      const outProj = byName.get(`${module}.out_proj/MatMul`);
      const wo = floatWeight(outProj), bo = bias(`${module}.out_proj`);
      const biasAdd = nodes.find((n) => n.name === `${module}.out_proj/Add` && n.input?.[0] === outProj?.output?.[0]);
      if (!outProj || !wo || !bo || !biasAdd) continue;
      const outRows = init(fresh(module, 'shape'), [2], BigInt64Array.of(-1n, BigInt(wo.cols)));
      // probabilities as one row of H*T per image token, heads outer
      let pRows: INodeProto[];
      const pr = fresh(module, 'p_rows');
      const qProj = byName.get(`${module}.q_proj/MatMul`);
      const wq = floatWeight(qProj), bq = bias(`${module}.q_proj`);
      if (qProj && wq && bq) {
        // x (Wq k^T) + bq k^T for all heads as one 4096 x 256 x H*T product whose rows are already
        // per image token: the softmax over the T tokens runs in that layout, no transposes
        const q3 = perHead(wq, false);
        const bmat = fresh(module, 'wq_k'), bT = fresh(module, 'wq_k_t'), b2 = fresh(module, 'wq_k_cols'), c = fresh(module, 'bq_k'), c1 = fresh(module, 'bq_k_row');
        const x2 = fresh(module, 'x_rows'), xb = fresh(module, 'x_wq_k');
        replacements.set(qk, [
          node('MatMul', [init(fresh(module, 'wq'), [HEADS, wq.rows, q3.d], q3.data), khT], bmat),
          node('Transpose', [bmat], bT, { perm: [0, 2, 1, 3] }),
          node('Reshape', [bT, init(fresh(module, 'shape'), [2], BigInt64Array.of(BigInt(wq.rows), -1n))], b2),
          node('MatMul', [init(fresh(module, 'bq'), [HEADS, 1, q3.d], bq), khT], c),
          node('Reshape', [c, init(fresh(module, 'shape'), [1], BigInt64Array.of(-1n))], c1),
          node('Reshape', [qProj.input![0]!, init(fresh(module, 'shape'), [2], BigInt64Array.of(-1n, BigInt(wq.rows)))], x2),
          node('Gemm', [x2, b2, c1], xb),
          node('Reshape', [xb, init(fresh(module, 'shape'), [4], BigInt64Array.of(1n, BigInt(imageTokens), BigInt(HEADS), -1n))], qk.output![0]!),
        ]);
        pRows = [node('Reshape', [probs, init(fresh(module, 'shape'), [2], BigInt64Array.of(BigInt(imageTokens), -1n))], pr)];
      } else {
        const pt = fresh(module, 'p_t');
        pRows = [
          node('Transpose', [probs], pt, { perm: [0, 2, 1, 3] }),
          node('Reshape', [pt, init(fresh(module, 'shape'), [2], BigInt64Array.of(BigInt(imageTokens), -1n))], pr),
        ];
      }
      // Wo [H*d, out] is already per head as [H, d, out]. The bias goes into v Wo: every head's
      // probabilities sum to one, so P (v Wo + bo/H) = P v Wo + bo; the residual the block adds
      // next is the product's C, where onnxruntime starts its sums
      const d = wo.rows / HEADS;
      const u = fresh(module, 'v_wo'), ub = fresh(module, 'v_wo_b'), ur = fresh(module, 'v_wo_rows');
      const boH = Float32Array.from(bo, (v) => v / HEADS);
      const residualAdd = nodes.filter((n) => n.opType === 'Add' && n.input?.includes(biasAdd.output![0]!));
      const consumers = nodes.filter((n) => n.input?.includes(biasAdd.output![0]!));
      const product: INodeProto[] = [
        node('MatMul', [vh, init(fresh(module, 'wo'), [HEADS, d, wo.cols], wo.data)], u),
        node('Add', [u, init(fresh(module, 'bo'), [wo.cols], boH)], ub),
        node('Reshape', [ub, outRows], ur),
        ...pRows,
      ];
      const out2 = fresh(module, 'out_rows');
      if (residualAdd.length === 1 && consumers.length === 1) {
        const add = residualAdd[0]!;
        const residual = add.input![0] === biasAdd.output![0] ? add.input![1]! : add.input![0]!;
        const r2 = fresh(module, 'residual_rows');
        replacements.set(outProj, [
          ...product,
          node('Reshape', [residual, outRows], r2),
          node('Gemm', [pr, ur, r2], out2),
          node('Reshape', [out2, init(fresh(module, 'shape'), [3], BigInt64Array.of(1n, -1n, BigInt(wo.cols)))], add.output![0]!),
        ]);
        replacements.set(biasAdd, []);
        replacements.set(add, []);
      } else {
        replacements.set(outProj, [
          ...product,
          node('MatMul', [pr, ur], out2),
          node('Reshape', [out2, init(fresh(module, 'shape'), [3], BigInt64Array.of(1n, -1n, BigInt(wo.cols)))], biasAdd.output![0]!),
        ]);
        replacements.set(biasAdd, []);
      }
    }
  }
  const rewriter = { nodes, byName, constant, intConstant: int64Values(g.initializer ?? []), replacements, init, node, fresh };
  rewriteMaskHead(g, md, lowRes, rewriter);
  finalAttentionForReadTokens(md, rewriter);
  if (replacements.size === 0) return;
  const rewritten = nodes.flatMap((n) => replacements.get(n) ?? [n]);
  const live = needed(rewritten, (g.output ?? []).map((o) => o.name ?? ''));
  g.node = live.nodes;
  g.initializer = (g.initializer ?? []).filter((t) => live.reads.has(t.name ?? ''));
}

interface Rewriter {
  nodes: INodeProto[];
  byName: Map<string, INodeProto>;
  constant: (name: string) => { data: Float32Array; dims: number[] } | null;
  /** an int64 initializer's values, or null */
  intConstant: (name: string) => number[] | null;
  replacements: Map<INodeProto, INodeProto[]>;
  init: (name: string, dims: number[], data: Float32Array | BigInt64Array) => string;
  node: (opType: string, input: string[], output: string, attrs?: Record<string, number[]>) => INodeProto;
  fresh: (module: string, what: string) => string;
}

/**
 * The mask head (two ConvTransposes with kernel = stride = 2, a LayerNorm2d and GELUs between,
 * then the hypernetwork product) computed on pixel rows: each low-res pixel a row of channels.
 * A kernel-2 stride-2 ConvTranspose has no overlapping taps, so it is a product of the pixel rows
 * with the weights as [cin, (i, j, cout)]: a pixel's 2x2 outputs stay in its row, and reshaped to
 * rows of cout they are the next level's pixels, in blocked order (h, w, i1, j1, i2, j2). The
 * transformer's image tokens are already such rows (no transpose to NCHW), the LayerNorm2d over
 * channels becomes onnxruntime's one-pass LayerNormalization over each row (in NCHW it took six
 * passes over the map), and one Gather of the 4 masks' rows puts the pixels in raster order at
 * the end. SAM 2.1 adds a high-resolution map (a graph input) after each upscaling: the map is
 * put in the same rows (nodes that read the graph input alone: the split runs them once per
 * image). Leaves the graph as it is unless every piece is there with float weights.
 */
function rewriteMaskHead(g: IGraphProto, md: string, lowRes: number, r: Rewriter): void {
  const { nodes, byName, constant, replacements, init, node, fresh } = r;
  const grid = lowRes / 4;
  const ints = (...v: number[]) => BigInt64Array.from(v, BigInt);
  const producer = (name: string) => nodes.find((n) => n.output?.includes(name));
  const convs = [`${md}.output_upscaling.0`, `${md}.output_upscaling.3`].map((module) => {
    const conv = byName.get(`${module}/ConvTranspose`);
    const t = conv ? constant(conv.input?.[1] ?? '') : null;
    const b = conv ? constant(conv.input?.[2] ?? '') : null;
    if (!conv || !t || !b || t.dims.length !== 4 || t.dims[2] !== 2 || t.dims[3] !== 2) return null;
    return { module, conv, w: t.data, bias: b.data, cin: t.dims[0]!, cout: t.dims[1]! };
  });
  const ln = `${md}.output_upscaling.1`;
  const lnOut = byName.get(`${ln}/Reshape_1`), lnIn = byName.get(`${ln}/Reshape`), lnEps = byName.get(`${ln}/Add`);
  const lnScale = constant(`${ln}.weight`), lnBias = constant(`${ln}.bias`), eps = lnEps ? constant(lnEps.input?.[1] ?? '') : null;
  const hyper = byName.get(`${md}/hypernetwork/MatMul`);
  const flatUp = hyper ? producer(hyper.input?.[1] ?? '') : undefined;
  if (!convs[0] || !convs[1] || !lnOut || !lnIn || !lnScale || !lnBias || eps?.data.length !== 1 || !hyper || flatUp?.opType !== 'Reshape') return;
  const [c1, c2] = [convs[0], convs[1]];
  const graphInputs = new Set((g.input ?? []).map((i) => i.name ?? ''));
  // SAM 2.1: the Add of a graph input to an upscaling's output, and the map's order in pixel rows
  const mapAdd = (conv: INodeProto) => nodes.find((n) => n.opType === 'Add' && n.input?.[0] === conv.output?.[0] && graphInputs.has(n.input?.[1] ?? '')) ?? null;
  const mapRows = [
    // [1, C, 2g, 2g] as (c, h, i, w, j) -> rows (h, w) of (i, j, c)
    { split: [-1, grid, 2, grid, 2], perm: [1, 3, 2, 4, 0], rows: [grid * grid, -1] },
    // [1, C, 4g, 4g] as (c, h, i1, i2, w, j1, j2) -> rows (h, w, i1, j1) of (i2, j2, c)
    { split: [-1, grid, 2, 2, grid, 2, 2], perm: [1, 4, 2, 5, 3, 6, 0], rows: [grid * grid * 4, -1] },
  ];
  [c1, c2].forEach(({ conv }, level) => {
    const add = mapAdd(conv);
    if (!add) return;
    const map = add.input![1]!, at = `${map}/rows`, order = mapRows[level]!;
    const [split, moved] = [`${at}/split`, `${at}/moved`];
    replacements.set(add, [
      node('Reshape', [map, init(fresh(at, 'shape'), [order.split.length], ints(...order.split))], split),
      node('Transpose', [split], moved, { perm: order.perm }),
      node('Reshape', [moved, init(fresh(at, 'shape'), [2], ints(...order.rows))], at),
      { ...add, input: [add.input![0]!, at] },
    ]);
  });
  // the first upscaling's input: SAM's image tokens [1, N, C] transposed to NCHW; read the tokens
  const nchw = producer(c1.conv.input![0]!);
  const tokens = nchw?.opType === 'Reshape' ? producer(nchw.input![0]!) : undefined;
  const perm = tokens?.attribute?.find((a) => a.name === 'perm')?.ints?.map(Number);
  const xRows = fresh(c1.module, 'x_rows'), x = fresh(c1.module, 'x'), yRows = fresh(c2.module, 'rows');
  const rowsOf = new Map([
    [c1, tokens?.opType === 'Transpose' && perm?.join() === '0,2,1'
      ? [node('Reshape', [tokens.input![0]!, init(fresh(c1.module, 'shape'), [2], ints(-1, c1.cin))], xRows)]
      : [
        node('Reshape', [c1.conv.input![0]!, init(fresh(c1.module, 'shape'), [2], ints(c1.cin, -1))], x),
        node('Transpose', [x], xRows, { perm: [1, 0] }),
      ]],
    // the second upscaling reads the first one's output (after LayerNorm2d and GELU), already rows
    [c2, [node('Reshape', [c2.conv.input![0]!, init(fresh(c2.module, 'shape'), [2], ints(-1, c2.cin))], yRows)]],
  ]);
  for (const c of [c1, c2]) {
    // W [cin, cout, 2, 2] -> [cin, (i, j, cout)]
    const { module, conv, w, bias, cin, cout } = c;
    const wt = new Float32Array(cin * 4 * cout), b4 = new Float32Array(4 * cout);
    for (let ci = 0; ci < cin; ci++) for (let co = 0; co < cout; co++) for (let ij = 0; ij < 4; ij++) wt[ci * 4 * cout + ij * cout + co] = w[(ci * cout + co) * 4 + ij]!;
    for (let ij = 0; ij < 4; ij++) for (let co = 0; co < cout; co++) b4[ij * cout + co] = bias[co]!;
    const rows = rowsOf.get(c)!;
    replacements.set(conv, [
      ...rows,
      node('Gemm', [rows.at(-1)!.output![0]!, init(fresh(module, 'w'), [cin, 4 * cout], wt), init(fresh(module, 'b'), [4 * cout], b4)], conv.output![0]!),
    ]);
  }
  // LayerNorm2d over each pixel's channels
  const lnRows = fresh(ln, 'rows');
  replacements.set(lnOut, [
    node('Reshape', [lnIn.input![0]!, init(fresh(ln, 'shape'), [2], ints(-1, c1.cout))], lnRows),
    { ...node('LayerNormalization', [lnRows, init(fresh(ln, 'scale'), [c1.cout], lnScale.data), init(fresh(ln, 'bias'), [c1.cout], lnBias.data)], lnOut.output![0]!), attribute: [{ name: 'axis', type: 2, i: -1 }, { name: 'epsilon', type: 1, f: eps.data[0]! }] },
  ]);
  // the masks: pixel rows of channels x the hypernetwork's [channels, masks], rows to raster
  const order = new BigInt64Array(lowRes * lowRes);
  for (let h = 0; h < grid; h++) for (let w = 0; w < grid; w++) for (let i1 = 0; i1 < 2; i1++) for (let j1 = 0; j1 < 2; j1++) {
    for (let i2 = 0; i2 < 2; i2++) for (let j2 = 0; j2 < 2; j2++) {
      const from = ((((h * grid + w) * 2 + i1) * 2 + j1) * 2 + i2) * 2 + j2;
      order[(4 * h + 2 * i1 + i2) * lowRes + 4 * w + 2 * j1 + j2] = BigInt(from);
    }
  }
  const at = `${md}/hypernetwork`;
  const [up, hT, h2, m, placed] = ['up_rows', 'hyper_t', 'hyper_cols', 'masks_rows', 'placed'].map((what) => fresh(at, what)) as [string, string, string, string, string];
  replacements.set(hyper, [
    node('Reshape', [flatUp.input![0]!, init(fresh(at, 'shape'), [2], ints(-1, c2.cout))], up),
    node('Transpose', [hyper.input![0]!], hT, { perm: [0, 2, 1] }),
    node('Reshape', [hT, init(fresh(at, 'shape'), [2], ints(c2.cout, -1))], h2),
    node('MatMul', [up, h2], m),
    { ...node('Gather', [m, init(fresh(at, 'order'), [1, lowRes * lowRes], order)], placed), attribute: [{ name: 'axis', type: 2, i: 0 }] },
    node('Transpose', [placed], hyper.output![0]!, { perm: [0, 2, 1] }),
  ]);
}

/**
 * The final token-to-image attention computed only for the tokens the heads read: the decoder's
 * outputs take the IoU token and the mask tokens (SAM 2.1: also the object score token) from its
 * output by Gather, never the prompt tokens behind them, and each query row of an attention is
 * its own computation. With one click, 5 of the 7 rows.
 */
function finalAttentionForReadTokens(md: string, r: Rewriter): void {
  const { nodes, byName, replacements, init, node, fresh } = r;
  const module = `${md}.transformer.final_attn_token_to_image`;
  const norm = byName.get(`${md}.transformer.norm_final_attn/LayerNorm`);
  const qProj = byName.get(`${module}.q_proj/MatMul`);
  const attnOut = byName.get(`${module}.out_proj/Add`)?.output?.[0];
  const residual = norm ? nodes.find((n) => n.opType === 'Add' && n.output?.[0] === norm.input?.[0] && n.input?.includes(attnOut ?? '')) : undefined;
  if (!norm || !qProj || !residual || replacements.has(qProj) || replacements.has(residual)) return;
  const rows = tokensRead(nodes, norm.output![0]!, r.intConstant);
  if (rows === null) return;
  const starts = init(fresh(module, 'starts'), [1], BigInt64Array.of(0n)), axes = init(fresh(module, 'axes'), [1], BigInt64Array.of(1n));
  const ends = init(`${module}/read_tokens/ends`, [1], BigInt64Array.of(BigInt(rows)));
  const sliced = (tensor: string) => { const out = fresh(module, 'read_tokens'); return { out, slice: node('Slice', [tensor, starts, ends, axes], out) }; };
  const q = sliced(qProj.input![0]!);
  replacements.set(qProj, [q.slice, { ...qProj, input: [q.out, ...qProj.input!.slice(1)] }]);
  const at = residual.input!.findIndex((i) => i !== attnOut);
  const res = sliced(residual.input![at]!);
  replacements.set(residual, [res.slice, { ...residual, input: residual.input!.map((v, k) => (k === at ? res.out : v)) }]);
}

/** A reader of the graph's int64 initializers' values (null for a name that is not one). */
function int64Values(initializers: ITensorProto[]): (name: string) => number[] | null {
  const inits = new Map(initializers.map((t) => [t.name ?? '', t]));
  return (name) => {
    const t = inits.get(name);
    return t?.dataType === DataType.INT64 ? Array.from(tensorToBigInt64(t), Number) : null;
  };
}

/** How many leading tokens of `hs` its readers take (all Gathers of constant indices on axis 1), or null. */
function tokensRead(nodes: INodeProto[], hs: string, intConstant: (name: string) => number[] | null): number | null {
  const picked = nodes.filter((n) => n.input?.includes(hs)).map((n) => {
    const axis = Number(n.attribute?.find((a) => a.name === 'axis')?.i ?? 0);
    const index = n.opType === 'Gather' && axis === 1 ? intConstant(n.input?.[1] ?? '') : null;
    return index?.length === 1 ? index[0]! : -1;
  });
  return picked.length === 0 || picked.some((i) => i < 0) ? null : Math.max(...picked) + 1;
}

/**
 * Narrows, in place, a reassociated prompt part's final attention to the tokens its remaining
 * readers take, after it was pruned (the screening graph keeps only the IoU head: SAM's token 0,
 * SAM 2.1's tokens 0-1, where the whole prompt part reads 5 or 6).
 */
export function narrowFinalAttention(model: ModelProto): void {
  const g = model.graph!;
  const nodes = g.node ?? [];
  const ends = (g.initializer ?? []).find((t) => /final_attn_token_to_image\/read_tokens\/ends$/.test(t.name ?? ''));
  const norm = nodes.find((n) => /transformer\.norm_final_attn\/LayerNorm$/.test(n.name ?? ''));
  if (!ends || !norm) return;
  const rows = tokensRead(nodes, norm.output![0]!, int64Values(g.initializer ?? []));
  if (rows === null) return;
  g.initializer = (g.initializer ?? []).map((t) => (t === ends ? makeTensor(t.name!, [1], BigInt64Array.of(BigInt(rows))) : t));
}

/**
 * Rewrites, in place, the postprocessing's column Gathers (axis 3 of the [1, C, H, W] logits, in
 * the torch-exact bilinear resize to the original size) as row Gathers of the transposed map:
 * onnxruntime copies a Gather's elements one block per index, and a column's block is one float
 * (four such Gathers took 30 ms of a box's 80 ms postprocessing at 1024x768); a transposed map's
 * block is a whole column. Only data moves: every value is the same, bit for bit. Returns whether
 * the graph had such Gathers.
 */
export function columnGathersAsRows(model: ModelProto): boolean {
  const g = model.graph!;
  let changed = false;
  const perm = [{ name: 'perm', type: 7, ints: [0, 1, 3, 2] }];
  g.node = (g.node ?? []).flatMap((n) => {
    const axis = n.attribute?.find((a) => a.name === 'axis');
    if (n.opType !== 'Gather' || Number(axis?.i ?? 0) !== 3 || !/(^|\.)resize_to_original\//.test(n.name ?? '')) return [n];
    changed = true;
    const [data, indices] = n.input as [string, string];
    const at = `${n.output![0]!}/as_rows`;
    return [
      { opType: 'Transpose', input: [data], output: [`${at}/columns`], name: `${at}/columns`, attribute: perm },
      { opType: 'Gather', input: [`${at}/columns`, indices], output: [at], name: at, attribute: [{ name: 'axis', type: 2, i: 2 }] },
      { opType: 'Transpose', input: [at], output: n.output, name: n.name, attribute: perm },
    ];
  });
  return changed;
}

/**
 * Gives graph inputs fixed shapes, in place. Where the image-side tensors' shapes are known, as
 * they are inside the whole decoder, onnxruntime makes the same fusions in the prompt part as in
 * the whole graph; without them its arithmetic differs (by up to 1e-4 in the logits).
 */
export function setInputShapes(model: ModelProto, shapes: Record<string, readonly number[]>): void {
  for (const input of model.graph!.input ?? []) {
    const dims = shapes[input.name ?? ''];
    if (dims) input.type!.tensorType!.shape = { dim: dims.map((d) => ({ dimValue: d })) };
  }
}

/** low_res_masks and the tensors it is an Identity of. */
function lowResAliases(nodes: INodeProto[]): string[] {
  const aliases = ['low_res_masks'];
  for (let grew = true; grew;) {
    grew = false;
    for (const n of nodes) {
      if (n.opType === 'Identity' && aliases.includes(n.output?.[0] ?? '') && !aliases.includes(n.input?.[0] ?? '')) { aliases.push(n.input![0]!); grew = true; }
    }
  }
  return aliases;
}

/** The logits low_res_masks is a Clip of (SAM 2.1's clamp to [-32, 32]), or null. */
function preClampLogits(nodes: INodeProto[]): string | null {
  const aliases = lowResAliases(nodes);
  const clip = nodes.find((n) => n.opType === 'Clip' && aliases.includes(n.output?.[0] ?? ''));
  return clip?.input?.[0] || null;
}

/**
 * The tensor the decoder's `masks` output is a function of (with orig_im_size), one plane per
 * candidate: low_res_masks for SAM, the logits before low_res_masks' clamp for SAM 2.1. Box
 * decoding asks the prompt part for it (`extraOutputs`) and feeds one plane to the cut.
 */
export function postprocessSource(model: ModelProto): string {
  const nodes = model.graph?.node ?? [];
  const preClamp = preClampLogits(nodes);
  if (!preClamp) return 'low_res_masks';
  // what masks reads other than through low_res_masks (whose clamp reads the logits too)
  const aliases = new Set(lowResAliases(nodes));
  const want = new Set(['masks']);
  for (const n of [...nodes].reverse()) {
    if (!(n.output ?? []).some((o) => want.has(o) && !aliases.has(o))) continue;
    for (const i of n.input ?? []) if (i) want.add(i);
  }
  return want.has(preClamp) ? preClamp : 'low_res_masks';
}

/** The postprocessing graph's input: one candidate's low-res logits, [1, 1, 256, 256]. */
export const POSTPROCESS_INPUT = 'low_res_mask';

/**
 * The decoder's own postprocessing (`low_res_masks`, SAM 2.1: the logits before their clamp ->
 * `masks` at `orig_im_size`; `postprocessSource`) cut out of decoder.onnx for one candidate at a
 * time: box decoding keeps one mask of four, and upsampling the other three to the image size
 * was most of a box's cost. The nodes are the graph's own, so the mask is `segment`'s bit for bit
 * (each candidate's plane is resized on its own either way). A Resize given output `sizes` takes
 * its batch and channel sizes from its input instead, since the graph's may say four candidates.
 * Throws, naming the model, when `masks` depends on more than those logits and `orig_im_size`.
 */
export function postprocessDecoder(model: ModelProto, nameForErrors: string): ModelProto {
  const g = model.graph!;
  const nodes = g.node ?? [];
  if (!(g.output ?? []).some((o) => o.name === 'masks') || !(g.output ?? []).some((o) => o.name === 'low_res_masks')) {
    throw new Error(`${nameForErrors}: decoder has no outputs masks and low_res_masks; cannot cut its postprocessing`);
  }
  const lowRes = new Set(lowResAliases(nodes));
  // SAM 2.1 resizes its logits before the clamp that gives low_res_masks: the cut reads them there
  const source = postprocessSource(model);
  lowRes.add(source);
  const want = new Set(['masks']);
  const keep: INodeProto[] = [];
  for (const n of [...nodes].reverse()) {
    if (!(n.output ?? []).some((o) => want.has(o) && !lowRes.has(o))) continue;
    keep.unshift(n);
    for (const i of n.input ?? []) if (i) want.add(i);
  }
  const graphInputs = new Set((g.input ?? []).map((i) => i.name ?? ''));
  const stray = [...want].filter((t) => graphInputs.has(t) && t !== 'orig_im_size' && !lowRes.has(t));
  if (stray.length > 0) throw new Error(`${nameForErrors}: decoder output masks reads ${stray.join(', ')} besides low_res_masks; cannot cut its postprocessing`);
  if (![...lowRes].some((t) => want.has(t))) throw new Error(`${nameForErrors}: decoder output masks does not read low_res_masks; cannot cut its postprocessing`);
  const initializers = (g.initializer ?? []).filter((t) => want.has(t.name ?? ''));
  const ordered: INodeProto[] = [];
  for (const n of keep) {
    const input = (n.input ?? []).map((i) => (lowRes.has(i) ? POSTPROCESS_INPUT : i));
    if (n.opType !== 'Resize' || !input[3]) {
      ordered.push({ ...n, input });
      continue;
    }
    // sizes = the input's [batch, channels] and the graph's [height, width]
    const name = (what: string) => `${n.output![0]!}/one_candidate/${what}`;
    for (const i of [0, 2, 4]) initializers.push(makeTensor(name(`at${i}`), [1], BigInt64Array.of(BigInt(i))));
    ordered.push(
      { opType: 'Shape', input: [input[0]!], output: [name('shape')], name: name('shape') },
      { opType: 'Slice', input: [name('shape'), name('at0'), name('at2')], output: [name('batch_channels')], name: name('batch_channels') },
      { opType: 'Slice', input: [input[3], name('at2'), name('at4')], output: [name('hw')], name: name('hw') },
      { opType: 'Concat', input: [name('batch_channels'), name('hw')], output: [name('sizes')], name: name('sizes'), attribute: [{ name: 'axis', type: 2, i: 0 }] },
      { ...n, input: [...input.slice(0, 3), name('sizes')] },
    );
  }
  const graph = {
    ...g,
    name: 'sam_decoder_postprocessing',
    node: ordered,
    initializer: initializers,
    input: [valueInfo(POSTPROCESS_INPUT, 'float32', [1, 1, 'low_res', 'low_res']), (g.input ?? []).find((i) => i.name === 'orig_im_size')!],
    output: [valueInfo('masks', 'float32', [1, 1, 'height', 'width'])],
    valueInfo: [],
  };
  return { ...model, graph } as unknown as ModelProto;
}
