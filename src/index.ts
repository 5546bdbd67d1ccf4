/**
 * llama-ts: a pure-TypeScript reference implementation of Hugging Face transformers' Llama.
 *
 * Importing this module starts no worker and does no I/O.
 */
export * from "./errors.ts";
export { Tensor, toIntRows, shapeSize } from "./tensor/tensor.ts";
export type { DType, TypedArray, IntInput } from "./tensor/tensor.ts";
export {
  float32ToBfloat16Bits,
  bfloat16BitsToFloat32,
  float32ToFloat16Bits,
  float16BitsToFloat32,
} from "./tensor/dtypes.ts";
export { Random } from "./utils/random.ts";
export { linear, setMatmulBackend, getMatmulBackend, referenceBackend } from "./ops/matmul.ts";
export type { MatmulBackend, WeightView } from "./ops/matmul.ts";
export { parseSafetensors, serializeSafetensors, loadSafetensors, saveSafetensors, MAX_HEADER_SIZE } from "./formats/safetensors.ts";
export type { SafetensorsFile } from "./formats/safetensors.ts";
export {
  loadCheckpointTensors,
  saveCheckpointTensors,
  splitStateDictIntoShards,
  parseSizeToInt,
  SAFE_WEIGHTS_NAME,
  SAFE_WEIGHTS_INDEX_NAME,
} from "./formats/checkpoint.ts";
export type { SaveCheckpointOptions, StateDictSplit } from "./formats/checkpoint.ts";
