/**
 * main/onnx: ONNX models as data. Reading and writing model files (protobuf via the maintained
 * `onnx-proto` schema on protobufjs; external data for models over 2 GB), a graph-building API
 * used by the SAM model builders and the quantizer's emitters, and graph inspection helpers.
 * Plain Node: no Electron, no onnxruntime. Tests: tests/onnx/.
 */
export * from './proto.ts';
export * from './tensor.ts';
export * from './model-io.ts';
export * from './builder.ts';
export * from './graph.ts';
