/**
 * The decoder split at load time into what a prompt cannot change and what it can, for clicks
 * without a fed-back mask. With no mask input the dense prompt embedding is a constant, so every
 * node that reads only the image embedding and constants (image embedding + no_mask_embed, the
 * layer-0 token-to-image key/value projections, the image-to-token query projection, their head
 * reshapes) runs once per image in the image part; the prompt part takes their results as inputs.
 * The nodes are the decoder graph's own, unchanged and in the same order, so the split computes
 * what the whole graph computes (tested within 1e-4). The split is cut from decoder.onnx itself
 * (float or quantized), which stays the standard SAM ONNX decoder on disk.
 */
import { DataType, type INodeProto, type ITensorProto, type ModelProto } from '../onnx/proto.ts';
import { valueInfo } from '../onnx/builder.ts';
import { makeTensor } from '../onnx/tensor.ts';

/** The decoder inputs a click sets; `mask_input` / `has_mask_input` are fixed to "no mask". */
const PROMPT_INPUTS = ['point_coords', 'point_labels'];
const IMAGE_INPUT = 'image_embeddings';
const OUTPUTS = ['iou_predictions', 'low_res_masks'];

export interface SplitDecoder {
  /** image_embeddings -> the image-side tensors the prompt part reads */
  image: ModelProto;
  /** point_coords, point_labels + the image-side tensors -> iou_predictions, low_res_masks */
  prompt: ModelProto;
  /** names of the tensors passed from the image part to the prompt part */
  imageSide: string[];
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
 * the model, when the graph does not have the SAM decoder's inputs and outputs.
 */
export function splitDecoder(model: ModelProto, nameForErrors: string): SplitDecoder {
  const g = model.graph!;
  const inputNames = new Set((g.input ?? []).map((i) => i.name ?? ''));
  for (const name of [IMAGE_INPUT, ...PROMPT_INPUTS, 'mask_input', 'has_mask_input']) {
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
  const image = new Set([IMAGE_INPUT]);
  for (const n of nodes) {
    const ins = (n.input ?? []).filter(Boolean);
    const target = ins.some((i) => prompt.has(i)) ? prompt : ins.some((i) => image.has(i)) ? image : null;
    if (target) for (const o of n.output ?? []) target.add(o);
  }
  const promptNodes = nodes.filter((n) => !(n.output ?? []).some((o) => image.has(o)));
  const imageSide = [...new Set(promptNodes.flatMap((n) => (n.input ?? []).filter((i) => image.has(i))))];
  if (imageSide.length === 0) throw new Error(`${nameForErrors}: no decoder node depends on the image embedding alone; nothing to split`);

  const known = new Map<string, number>([[IMAGE_INPUT, DataType.FLOAT], ...PROMPT_INPUTS.map((p) => [p, DataType.FLOAT] as [string, number]), ...initializers.map((t) => [t.name ?? '', t.dataType ?? 0] as [string, number])]);
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
  const imageGraph = graphOf('sam_decoder_image_part', nodes.filter((n) => !(n.output ?? []).some((o) => prompt.has(o))), [IMAGE_INPUT], imageSide);
  const promptGraph = graphOf('sam_decoder_prompt_part', promptNodes, [...PROMPT_INPUTS, ...imageSide], OUTPUTS);
  return { image: imageGraph, prompt: promptGraph, imageSide };
}
