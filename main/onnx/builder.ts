/**
 * A small graph-building API: named scopes that mirror module paths
 * (`image_encoder.blocks.0.attn`), typed inputs and outputs, initializers from typed arrays, and
 * `op()` returning the output tensor name so graphs read like the forward() they translate.
 */
import { AttributeType, onnx, type IAttributeProto, type INodeProto, type IOperatorSetIdProto, type ITensorProto, type IValueInfoProto, type ModelProto, type TensorProto } from './proto.ts';
import { elemTypeToDataType, makeTensor, type ElemType, type TensorData } from './tensor.ts';

/** Forces a float attribute where the value happens to be an integer (e.g. alpha = 1). */
export interface FloatAttr { float: number }
export type AttrValue = number | FloatAttr | number[] | string | ITensorProto;

export const float = (value: number): FloatAttr => ({ float: value });

export const OPSET = 17;
export const MS_DOMAIN = 'com.microsoft';

function makeAttribute(name: string, value: AttrValue): IAttributeProto {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: AttributeType.INT, i: value } : { name, type: AttributeType.FLOAT, f: value };
  }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ('float' in value && typeof value.float === 'number') return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.TENSOR, t: value as ITensorProto };
}

export function valueInfo(name: string, elemType: ElemType, shape: (number | string)[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: elemTypeToDataType[elemType],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface OpOptions {
  /** node name; default `<scope>/<OpType>` made unique */
  name?: string;
  /** number of outputs (default 1) or explicit output names */
  outputs?: number | string[];
  domain?: string;
}

export class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: IValueInfoProto[] = [];
  readonly outputs: IValueInfoProto[] = [];
  private readonly scopes: string[] = [];
  private readonly usedNames = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private usesMsDomain = false;

  /** `constPrefix` keeps generated constant names apart when graphs are merged. */
  constructor(private readonly opts: { constPrefix?: string } = {}) {}

  input(name: string, elemType: ElemType, shape: (number | string)[]): string {
    this.inputs.push(valueInfo(name, elemType, shape));
    return name;
  }

  output(name: string, elemType: ElemType, shape: (number | string)[]): void {
    this.outputs.push(valueInfo(name, elemType, shape));
  }

  /** Runs `body` with `name` appended to the module path used for node and tensor names. */
  scope<T>(name: string, body: () => T): T {
    // A full module path under the current one (`a.b` inside `a`) is taken as absolute.
    const here = this.path;
    this.scopes.push(here && name.startsWith(`${here}.`) ? name.slice(here.length + 1) : name);
    try { return body(); } finally { this.scopes.pop(); }
  }

  get path(): string {
    return this.scopes.join('.');
  }

  private unique(base: string): string {
    let name = base;
    for (let i = 1; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  /** Adds an initializer under an exact name (e.g. a checkpoint key). */
  init(name: string, dims: number[], data: TensorData, opts: { float16?: boolean } = {}): string {
    if (this.usedNames.has(name)) throw new Error(`duplicate tensor name ${name}`);
    this.usedNames.add(name);
    this.initializers.push(makeTensor(name, dims, data, opts));
    return name;
  }

  private constant(prefix: string, dims: number[], data: TensorData): string {
    const name = this.unique(`${this.opts.constPrefix ?? ''}${prefix}_${this.constCache.size}`);
    this.initializers.push(makeTensor(name, dims, data));
    return name;
  }

  /** A float32 constant, deduplicated by value. */
  constF(values: number[] | Float32Array, dims?: number[]): string {
    const arr = values instanceof Float32Array ? values : Float32Array.from(values);
    const shape = dims ?? (arr.length === 1 ? [] : [arr.length]);
    const key = `f:${shape.join('x')}:${arr.length <= 16 ? Array.from(arr).join(',') : ''}`;
    if (arr.length <= 16 && this.constCache.has(key)) return this.constCache.get(key)!;
    const name = this.constant('const_f', shape, arr);
    if (arr.length <= 16) this.constCache.set(key, name);
    return name;
  }

  /** An int64 constant (shapes, axes, indices), deduplicated by value. */
  constI64(values: number[], dims?: number[]): string {
    const shape = dims ?? [values.length];
    const key = `i:${shape.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.constant('const_i64', shape, BigInt64Array.from(values.map(BigInt)));
    this.constCache.set(key, name);
    return name;
  }

  /** Adds a node and returns its (first) output name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: OpOptions = {}): string {
    return this.opMulti(opType, inputs, attrs, opts)[0]!;
  }

  opMulti(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: OpOptions = {}): string[] {
    const prefix = this.path ? `${this.path}/` : '';
    const name = this.unique(opts.name ?? `${prefix}${opType}`);
    const outputs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, (_, i) => (i === 0 ? `${name}:out` : `${name}:out${i}`));
    for (const o of outputs) this.usedNames.add(o);
    if (opts.domain === MS_DOMAIN) this.usesMsDomain = true;
    this.nodes.push({
      name,
      opType,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
      ...(opts.domain ? { domain: opts.domain } : {}),
    });
    return outputs;
  }

  /** Renames an existing tensor to a graph output name by inserting an Identity. */
  identity(input: string, outputName: string): string {
    return this.op('Identity', [input], {}, { outputs: [outputName] });
  }

  build(graphName: string, opts: { docString?: string; producer?: string } = {}): ModelProto {
    const opsetImport: IOperatorSetIdProto[] = [{ domain: '', version: OPSET }];
    if (this.usesMsDomain) opsetImport.push({ domain: MS_DOMAIN, version: 1 });
    return onnx.ModelProto.create({
      irVersion: 8,
      opsetImport,
      producerName: opts.producer ?? 'ptq4sam-studio',
      producerVersion: '0.1.0',
      docString: opts.docString ?? '',
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }
}
