/** Access to a checkpoint's tensors by official key, with shape checks that name the key. */

export interface NamedTensor { shape: number[]; data: Float32Array }

export class Weights {
  constructor(
    private readonly tensors: Map<string, NamedTensor>,
    /** named in errors, e.g. the checkpoint file */
    readonly source: string,
  ) {}

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  shape(key: string): number[] {
    return this.entry(key).shape;
  }

  get(key: string, shape?: number[]): Float32Array {
    const t = this.entry(key);
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      throw new Error(`${this.source}: ${key} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    return t.data;
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  private entry(key: string): NamedTensor {
    const t = this.tensors.get(key);
    if (!t) throw new Error(`${this.source}: missing tensor ${key} (not a SAM checkpoint, or a different model)`);
    return t;
  }
}

/** [out, in] row-major → [in, out] row-major (PyTorch Linear weight → ONNX MatMul B). */
export function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}
