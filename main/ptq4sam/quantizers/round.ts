/**
 * Round half to even, the rounding of torch.round, numpy.round and ONNX Round/QuantizeLinear.
 * JavaScript's Math.round rounds halves up (-2.5 -> -2, 2.5 -> 3), which would shift every
 * exact half-step code by one against what onnxruntime computes from the same scale.
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round(x) - x === 0.5 exactly when x sits on a half (x = n + 0.5 rounds up to n + 1).
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
