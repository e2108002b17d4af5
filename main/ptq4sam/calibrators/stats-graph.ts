/**
 * The augmented graph (onnxruntime's calibrate.py calls it augment_graph): a copy of the model
 * whose extra outputs carry, per observed tensor, only what the observers need: the exact min
 * and max, a fixed strided sample of the values, optionally the extreme tails for percentiles,
 * and, for AGQ, a row sample of attention probabilities with the full V. Reductions run inside
 * onnxruntime, so a 200 MB attention map never crosses into JavaScript and no image's
 * activations outlive its forward pass.
 */
import { DataType, GraphBuilder, type IValueInfoProto, type ModelProto } from '../../onnx/index.ts';
import { looseOutput, mergeBuilder } from '../emit/merge.ts';

export interface StatsRequest {
  tensor: string;
  /** extreme tails for a percentile of this fraction (e.g. 1e-4) */
  tailFraction?: number;
}

export interface RowSampleRequest {
  /** the probabilities (rows = queries, last axis = keys) */
  probs: string;
  v: string;
  /** cap on rows * keys * headDim * groups, the cost of one AGQ objective evaluation */
  macBudget: number;
}

export interface AugmentRequest {
  stats: StatsRequest[];
  rowSamples?: RowSampleRequest[];
  /** tensors returned whole (BIG's post-key-linear activations) */
  full?: string[];
  /** linear inputs whose X^T X ([in, in], rows of X = input vectors) is returned (GPTQ) */
  hessians?: string[];
  sampleSize: number;
}

export const statNames = {
  min: (t: string) => `stats/${t}/min`,
  max: (t: string) => `stats/${t}/max`,
  sample: (t: string) => `stats/${t}/sample`,
  count: (t: string) => `stats/${t}/count`,
  high: (t: string) => `stats/${t}/high`,
  low: (t: string) => `stats/${t}/low`,
  rows: (t: string) => `rows/${t}`,
  full: (t: string) => `full/${t}`,
  hessian: (t: string) => `hessian/${t}`,
};

/** Builds the extra nodes in a scratch builder, then appends them to a shallow copy of the model. */
export function augmentModel(model: ModelProto, req: AugmentRequest): ModelProto {
  const b = new GraphBuilder();
  const outputs: IValueInfoProto[] = [];
  const out = (tensor: string, name: string, elemType: 'float32' | 'int64') => {
    b.identity(tensor, name);
    outputs.push(looseOutput(name, elemType === 'float32' ? DataType.FLOAT : DataType.INT64));
  };
  const seen = new Set<string>();
  for (const s of req.stats) {
    if (seen.has(s.tensor)) continue;
    seen.add(s.tensor);
    b.scope(`stats/${s.tensor}`, () => {
      const flat = b.op('Reshape', [s.tensor, b.constI64([-1])]);
      out(b.op('ReduceMin', [flat], { keepdims: 0 }), statNames.min(s.tensor), 'float32');
      out(b.op('ReduceMax', [flat], { keepdims: 0 }), statNames.max(s.tensor), 'float32');
      const n = b.op('Size', [flat]);
      out(n, statNames.count(s.tensor), 'int64');
      const nF = b.op('Cast', [n], { to: DataType.FLOAT });
      const k = b.op('Min', [nF, b.constF([req.sampleSize])]);
      const steps = b.op('Range', [b.constF([0]), k, b.constF([1])]);
      const idx = b.op('Cast', [b.op('Floor', [b.op('Mul', [steps, b.op('Div', [nF, k])])])], { to: DataType.INT64 });
      out(b.op('Gather', [flat, idx], { axis: 0 }), statNames.sample(s.tensor), 'float32');
      if (s.tailFraction !== undefined) {
        // numpy's quantile at q reads sorted[floor(q (n-1))] and the next value: keep n - floor(q (n-1)) + 1 of each tail.
        const keep = b.op('Add', [b.op('Sub', [nF, b.op('Floor', [b.op('Mul', [b.op('Sub', [nF, b.constF([1])]), b.constF([1 - s.tailFraction])])])]), b.constF([1])]);
        const kTail = b.op('Cast', [b.op('Reshape', [b.op('Min', [keep, nF]), b.constI64([1])])], { to: DataType.INT64 });
        out(b.opMulti('TopK', [flat, kTail], { largest: 1, sorted: 1 }, { outputs: 2 })[0]!, statNames.high(s.tensor), 'float32');
        out(b.opMulti('TopK', [flat, kTail], { largest: 0, sorted: 1 }, { outputs: 2 })[0]!, statNames.low(s.tensor), 'float32');
      }
    });
  }
  for (const r of req.rowSamples ?? []) {
    b.scope(`rows/${r.probs}`, () => {
      const shapeV = b.op('Shape', [r.v]);
      const cost = b.op('Cast', [b.op('ReduceProd', [shapeV], { keepdims: 0 })], { to: DataType.FLOAT });
      const rowsAll = b.op('Cast', [b.op('Gather', [b.op('Shape', [r.probs]), b.constI64([-2], [])], { axis: 0 })], { to: DataType.FLOAT });
      // rows such that groups * rows * keys * headDim <= budget (cost = groups * keys * headDim)
      const rows = b.op('Min', [rowsAll, b.op('Max', [b.constF([1]), b.op('Floor', [b.op('Div', [b.constF([r.macBudget]), cost])])])]);
      const steps = b.op('Range', [b.constF([0]), rows, b.constF([1])]);
      const idx = b.op('Cast', [b.op('Floor', [b.op('Mul', [steps, b.op('Div', [rowsAll, rows])])])], { to: DataType.INT64 });
      out(b.op('Gather', [r.probs, idx], { axis: -2 }), statNames.rows(r.probs), 'float32');
      if (!seen.has(`full:${r.v}`)) {
        seen.add(`full:${r.v}`);
        out(b.op('Identity', [r.v]), statNames.full(r.v), 'float32');
      }
    });
  }
  for (const t of req.full ?? []) {
    if (seen.has(`full:${t}`)) continue;
    seen.add(`full:${t}`);
    out(b.op('Identity', [t]), statNames.full(t), 'float32');
  }
  for (const t of new Set(req.hessians ?? [])) {
    b.scope(`hessian/${t}`, () => {
      const x = b.op('Flatten', [t], { axis: -1 });
      out(b.op('MatMul', [b.op('Transpose', [x], { perm: [1, 0] }), x]), statNames.hessian(t), 'float32');
    });
  }
  return mergeBuilder(model, b, 'calib', { outputs });
}
