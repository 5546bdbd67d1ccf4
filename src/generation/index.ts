/**
 * Generation, model-agnostic: HF transformers' `generation/` package (greedy, sampling, beam / group /
 * constrained beam search, contrastive search, assisted decoding, DoLa, classifier-free guidance).
 * A model plugs in through {@link GenerationModel} (config, `forward`, `prepare_inputs_for_generation`).
 */
export { GenerationConfig, GenerationMode } from "./configuration_utils.ts";
export type { GenerationConfigFields, SequenceBias } from "./configuration_utils.ts";
export {
  LogitsProcessorList,
  MinLengthLogitsProcessor,
  MinNewTokensLengthLogitsProcessor,
  RepetitionPenaltyLogitsProcessor,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
  MinPLogitsWarper,
  TypicalLogitsWarper,
  EpsilonLogitsWarper,
  EtaLogitsWarper,
  SequenceBiasLogitsProcessor,
  NoBadWordsLogitsProcessor,
  HammingDiversityLogitsProcessor,
  EncoderRepetitionPenaltyLogitsProcessor,
  NoRepeatNGramLogitsProcessor,
  PrefixConstrainedLogitsProcessor,
  EncoderNoRepeatNGramLogitsProcessor,
  ForcedBOSTokenLogitsProcessor,
  ForcedEOSTokenLogitsProcessor,
  InfNanRemoveLogitsProcessor,
  ExponentialDecayLengthPenalty,
  LogitNormalization,
  SuppressTokensLogitsProcessor,
  SuppressTokensAtBeginLogitsProcessor,
  UnbatchedClassifierFreeGuidanceLogitsProcessor,
  logSoftmax,
} from "./logits_process.ts";
export type {
  LogitsProcessor,
  LogitsProcessorKwargs,
  SequenceBiasPairs,
  UnconditionalModel,
} from "./logits_process.ts";
export {
  StoppingCriteriaList,
  MaxLengthCriteria,
  MaxTimeCriteria,
  EosTokenCriteria,
  StopStringCriteria,
} from "./stopping_criteria.ts";
export type { StoppingCriteria, StopStringTokenizer } from "./stopping_criteria.ts";
export { BeamHypotheses, BeamSearchScorer, ConstrainedBeamSearchScorer } from "./beam_search.ts";
export type { BeamOutputs, BeamSearchOutput, Hypothesis } from "./beam_search.ts";
export { PhrasalConstraint, DisjunctiveConstraint, DisjunctiveTrie, ConstraintListState } from "./beam_constraints.ts";
export type { Constraint } from "./beam_constraints.ts";
export { PromptLookupCandidateGenerator, AssistedCandidateGenerator } from "./candidate_generator.ts";
export type { CandidateGenerator, AssistantRunner } from "./candidate_generator.ts";
export { softmax, argmax, multinomial } from "./sampling.ts";
export {
  generate,
  getLogitsProcessor,
  getLogitsWarper,
  getStoppingCriteria,
  prepareAttentionMaskForGeneration,
  positionIdsFromAttentionMask,
  reorderCache,
  cropCache,
} from "./utils.ts";
export type {
  GenerationModel,
  GenerationModelInputs,
  GenerationModelKwargs,
  GenerateOptions,
  GenerateOutput,
  GenerateDecoderOnlyOutput,
  GenerateBeamDecoderOnlyOutput,
  LogitsProcessorContext,
  UniformSource,
} from "./utils.ts";
export { TextStreamer, TextIteratorStreamer, CleanupStream } from "./streamers.ts";
export type { BaseStreamer, TextStreamerOptions, TextIteratorStreamerOptions } from "./streamers.ts";
