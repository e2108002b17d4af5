/** The ONNX protobuf schema (generated code of the `onnx-proto` package on protobufjs). */
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.ModelProto;
export type IGraphProto = onnxProto.onnx.IGraphProto;
export type INodeProto = onnxProto.onnx.INodeProto;
export type ITensorProto = onnxProto.onnx.ITensorProto;
export type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type IAttributeProto = onnxProto.onnx.IAttributeProto;
export const DataType = onnxProto.onnx.TensorProto.DataType;
export const AttributeType = onnxProto.onnx.AttributeProto.AttributeType;
export const DataLocation = onnxProto.onnx.TensorProto.DataLocation;

/** protobufjs decodes int64 fields as Long objects when the `long` package is present. */
export function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}
export type TensorProto = onnxProto.onnx.TensorProto;
export type IOperatorSetIdProto = onnxProto.onnx.IOperatorSetIdProto;
