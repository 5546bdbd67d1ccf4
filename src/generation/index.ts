/**
 * Generation, model-agnostic: HF transformers' `generation/` package for greedy search and multinomial sampling.
 * A model plugs in through {@link GenerationModel} (its config's special tokens and vocab size, and `forward`).
 */
export { GenerationConfig } from "./configuration_utils.ts";
export type { GenerationConfigFields } from "./configuration_utils.ts";
export {
  LogitsProcessorList,
  MinLengthLogitsProcessor,
  MinNewTokensLengthLogitsProcessor,
  RepetitionPenaltyLogitsProcessor,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
  MinPLogitsWarper,
} from "./logits_process.ts";
export type { LogitsProcessor } from "./logits_process.ts";
export { softmax, argmax, multinomial } from "./sampling.ts";
export {
  generate,
  getLogitsProcessor,
  getLogitsWarper,
  prepareAttentionMaskForGeneration,
  positionIdsFromAttentionMask,
} from "./utils.ts";
export type { GenerationModel, GenerateOptions } from "./utils.ts";
export { TextStreamer, TextIteratorStreamer, CleanupStream } from "./streamers.ts";
export type { BaseStreamer, TextStreamerOptions, TextIteratorStreamerOptions } from "./streamers.ts";
