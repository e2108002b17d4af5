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
 */
import { DataType, type INodeProto, type ITensorProto, type ModelProto } from '../onnx/proto.ts';
import { valueInfo } from '../onnx/builder.ts';
import { makeTensor, tensorToFloat32 } from '../onnx/tensor.ts';

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
 * the model, when the graph does not have the SAM decoder's inputs and outputs. With
 * `reassociate: false` the prompt part keeps the graph's own nodes, for box decoding, which must
 * give the whole decoder's values bit for bit: then give the prompt part's image-side inputs
 * their shapes (`setInputShapes`), or onnxruntime optimizes it otherwise than the whole graph.
 */
export function splitDecoder(model: ModelProto, nameForErrors: string, opts: { reassociate?: boolean; extraOutputs?: string[] } = {}): SplitDecoder {
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
  const nodes = needed(g.node ?? [], OUTPUTS).nodes;

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
  if (!(opts.reassociate ?? true)) return { image: imageGraph, imageInputs: [imageInput], prompt: promptGraph, imageSide, passedThrough };
  reassociateAttention(promptGraph, lowRes[3]!);
  return hoistImageNodes({ image: imageGraph, imageInputs: [imageInput], prompt: promptGraph, imageSide, passedThrough });
}

/**
 * Moves the prompt part's nodes that read only passed-through image inputs (and constants) into
 * the image part, so they run once per image: SAM 2.1's high-resolution maps put in the mask
 * head's blocked pixel order (`reassociateAttention`). The image part then reads those inputs too.
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
 * Makes `model` (the whole decoder proper, run for refinements) read the image part's outputs
 * `imageSide` where it computes the same tensors from the image inputs alone, in place of those
 * nodes: SAM 2.1's high-resolution maps in blocked order are then made once per image for every
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
 * - image-to-token: x (Wq k^T) + bq k^T replaces (x Wq + bq) k^T, and the output projection is
 *   applied to v before P: P (v Wo) instead of (P v) Wo.
 * Modules whose weights are not plain float initializers (a quantized decoder) are left as
 * they are.
 */
export function reassociateAttention(model: ModelProto, lowRes: number): void {
  const g = model.graph!;
  const nodes = g.node ?? [];
  // SAM's mask decoder module, or SAM 2.1's
  const md = nodes.some((n) => n.name === 'sam_mask_decoder/hypernetwork/MatMul') ? 'sam_mask_decoder' : 'mask_decoder';
  const upscaling: [string, number][] = [[`${md}.output_upscaling.0`, lowRes / 4], [`${md}.output_upscaling.3`, lowRes / 2]];
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
      const wo = floatWeight(outProj);
      if (!outProj || !wo) continue;
      const qProj = byName.get(`${module}.q_proj/MatMul`);
      const wq = floatWeight(qProj), bq = bias(`${module}.q_proj`);
      if (qProj && wq && bq) {
        const q3 = perHead(wq, false);
        const bmat = fresh(module, 'wq_k'), c = fresh(module, 'bq_k'), x4 = fresh(module, 'x4'), xb = fresh(module, 'x_wq_k');
        replacements.set(qk, [
          node('MatMul', [init(fresh(module, 'wq'), [HEADS, wq.rows, q3.d], q3.data), khT], bmat),
          node('MatMul', [init(fresh(module, 'bq'), [HEADS, 1, q3.d], bq), khT], c),
          node('Unsqueeze', [qProj.input![0]!, init(fresh(module, 'axis'), [1], BigInt64Array.of(1n))], x4),
          node('MatMul', [x4, bmat], xb),
          node('Add', [xb, c], qk.output![0]!),
        ]);
      }
      // Wo [H*d, out] is already per head as [H, d, out]
      const d = wo.rows / HEADS;
      const u = fresh(module, 'v_wo'), ur = fresh(module, 'v_wo_rows'), pt = fresh(module, 'p_t'), pr = fresh(module, 'p_rows');
      replacements.set(outProj, [
        node('MatMul', [vh, init(fresh(module, 'wo'), [HEADS, d, wo.cols], wo.data)], u),
        node('Reshape', [u, init(fresh(module, 'shape'), [3], BigInt64Array.of(1n, -1n, BigInt(wo.cols)))], ur),
        node('Transpose', [probs], pt, { perm: [0, 2, 1, 3] }),
        node('Reshape', [pt, init(fresh(module, 'shape'), [3], BigInt64Array.of(0n, 0n, -1n))], pr),
        node('MatMul', [pr, ur], outProj.output![0]!),
      ]);
    }
  }
  // The mask head's two ConvTransposes (kernel = stride = 2: no overlapping taps) as MatMuls over
  // the pixels, whose outputs stay in blocked order (each pixel's 2x2 outputs apart): the layer
  // norm, GELU and the second upscaling work per pixel, and the hypernetwork product per pixel,
  // so one permutation of the 4 low-res planes puts the pixels in place at the end. SAM 2.1 adds
  // a high-resolution map (a graph input) to each upscaling's output: the map is put in the same
  // blocked order (nodes that read the graph input alone: the split runs them once per image).
  const convs = upscaling.map(([module, size]) => {
    const conv = byName.get(`${module}/ConvTranspose`);
    const t = conv ? constant(conv.input?.[1] ?? '') : null;
    const b = conv ? constant(conv.input?.[2] ?? '') : null;
    if (!conv || !t || !b || t.dims.length !== 4 || t.dims[2] !== 2 || t.dims[3] !== 2) return null;
    return { module, size, conv, w: t.data, bias: b.data, cin: t.dims[0]!, cout: t.dims[1]! };
  });
  const hyper = byName.get(`${md}/hypernetwork/MatMul`);
  const graphInputs = new Set((g.input ?? []).map((i) => i.name ?? ''));
  // raster [1, C, n*s, n*s] -> the order the upscalings leave their pixels in
  const blockedOrder = [
    { split: (s: number) => [1, -1, s, 2, s, 2], perm: [0, 1, 3, 5, 2, 4] }, // (h, i1, w, j1) -> (i1, j1, h, w)
    { split: (s: number) => [1, -1, s, 2, 2, s, 2, 2], perm: [0, 1, 4, 7, 3, 6, 2, 5] }, // (h, i1, i2, w, j1, j2) -> (i2, j2, i1, j1, h, w)
  ];
  const grid = lowRes / 4;
  const mapAdds = (convs as ({ conv: INodeProto } | null)[]).map((c) => {
    const add = c && nodes.find((n) => n.opType === 'Add' && n.input?.[0] === c.conv.output?.[0] && graphInputs.has(n.input?.[1] ?? ''));
    return add ?? null;
  });
  if (hyper && convs.every((c) => c)) {
    mapAdds.forEach((add, level) => {
      if (!add) return;
      const map = add.input![1]!, at = `${map}/blocked`;
      const order = blockedOrder[level]!;
      const [split, moved, blocked] = [`${at}/split`, `${at}/moved`, at];
      replacements.set(add, [
        node('Reshape', [map, init(fresh(at, 'shape'), [order.split(grid).length], BigInt64Array.from(order.split(grid), BigInt))], split),
        node('Transpose', [split], moved, { perm: order.perm }),
        node('Reshape', [moved, init(fresh(at, 'shape'), [4], BigInt64Array.of(1n, -1n, BigInt(grid * 2 ** (level + 1)), BigInt(grid * 2 ** (level + 1))))], blocked),
        { ...add, input: [add.input![0]!, blocked] },
      ]);
    });
    for (const c of convs as NonNullable<(typeof convs)[number]>[]) {
      const { module, size, conv, w, bias, cin, cout } = c;
      // W [cin, cout, 2, 2] -> [(cout, i, j), cin]
      const wt = new Float32Array(cout * 4 * cin), b4 = new Float32Array(cout * 4);
      for (let ci = 0; ci < cin; ci++) for (let r = 0; r < cout * 4; r++) wt[r * cin + ci] = w[ci * cout * 4 + r]!;
      for (let r = 0; r < cout * 4; r++) b4[r] = bias[r >> 2]!;
      const xr = fresh(module, 'x_rows'), y = fresh(module, 'y'), yb = fresh(module, 'y_bias');
      replacements.set(conv, [
        node('Reshape', [conv.input![0]!, init(fresh(module, 'shape'), [2], BigInt64Array.of(BigInt(cin), -1n))], xr),
        node('MatMul', [init(fresh(module, 'w'), [cout * 4, cin], wt), xr], y),
        node('Add', [y, init(fresh(module, 'b'), [cout * 4, 1], b4)], yb),
        node('Reshape', [yb, init(fresh(module, 'shape'), [4], BigInt64Array.of(1n, BigInt(cout), BigInt(2 * size), BigInt(2 * size)))], conv.output![0]!),
      ]);
    }
    // pixels come out as (i2, j2, i1, j1, h, w): row 4h + 2 i1 + i2, column 4w + 2 j1 + j2; one
    // Gather along the pixel axis places them (a 7-d Transpose did the same at 6x its cost)
    const order = new BigInt64Array(lowRes * lowRes);
    for (let i2 = 0; i2 < 2; i2++) for (let j2 = 0; j2 < 2; j2++) for (let i1 = 0; i1 < 2; i1++) for (let j1 = 0; j1 < 2; j1++) {
      for (let h = 0; h < grid; h++) for (let w = 0; w < grid; w++) {
        const from = ((((i2 * 2 + j2) * 2 + i1) * 2 + j1) * grid + h) * grid + w;
        order[(4 * h + 2 * i1 + i2) * lowRes + 4 * w + 2 * j1 + j2] = BigInt(from);
      }
    }
    const blocked = fresh(`${md}/hypernetwork`, 'blocked');
    replacements.set(hyper, [
      { ...hyper, output: [blocked] },
      { ...node('Gather', [blocked, init(fresh(`${md}/hypernetwork`, 'order'), [lowRes * lowRes], order)], hyper.output![0]!), attribute: [{ name: 'axis', type: 2, i: -1 }] },
    ]);
  }
  if (replacements.size === 0) return;
  const rewritten = nodes.flatMap((n) => replacements.get(n) ?? [n]);
  const live = needed(rewritten, (g.output ?? []).map((o) => o.name ?? ''));
  g.node = live.nodes;
  g.initializer = (g.initializer ?? []).filter((t) => live.reads.has(t.name ?? ''));
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
