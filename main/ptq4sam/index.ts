/**
 * main/ptq4sam: the quantizer. Methods are files in methods/ (observers, weight grids, PTQ4SAM's
 * BIG/AGQ switches, an optional weight step such as GPTQ) behind a registry; ops are files in
 * ops/ whose handlers both match graph nodes and emit their quantized form, behind a registry;
 * registry.ts plans which nodes are quantized. Calibration through augmented fp32 graphs
 * (calibrate.ts, calibrators/), the quantizers and searches of PTQ4SAM (quantizers/), Bimodal
 * Integration (big.ts), Adaptive Granularity Quantization (agq.ts), graph rewriting into
 * onnxruntime integer kernels (emit/), evaluation against a reference model (eval.ts) and the
 * report (report.ts: report.json, and report.html rendered from it). Plain Node: no Electron.
 * Spec: docs/PTQ4SAM.md. Tests: tests/ptq4sam/.
 */
export { quantizeModelDir, spread, BIT_SETTINGS, DEFAULT_CALIB_COUNT, INTEGER_OP_TYPES, type QuantizeOptions } from './pipeline.ts';
export { evaluate, maskIou, type EvalResult, type EvalOptions } from './eval.ts';
export { methodNames } from './methods/index.ts';
export type { Progress } from './calibrate.ts';
export type { QuantReport } from './report.ts';
export type { Prompt } from './prompts.ts';
