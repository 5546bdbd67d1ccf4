/**
 * llama-ts: a pure-TypeScript reference implementation of Hugging Face transformers' Llama.
 *
 * This is the package's main entry (`llama-ts`); the test helpers (fast-check arbitraries, tensor comparison)
 * are `llama-ts/testing` (src/testing/index.ts), so that this entry needs no fast-check. Importing this module
 * starts no worker and does no I/O.
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
export {
  linear,
  setMatmulBackend,
  getMatmulBackend,
  referenceBackend,
  registerMatmulBackend,
  listMatmulBackends,
  configureMatmul,
  describeMatmulBackend,
} from "./ops/matmul.ts";
export type { MatmulBackend, WeightView } from "./ops/matmul.ts";
export { BACKEND_NAMES } from "./backends/select.ts";
export type { BackendName, MatmulOptions, BackendChoice } from "./backends/select.ts";
export {
  parseSafetensors,
  serializeSafetensors,
  loadSafetensors,
  saveSafetensors,
  MAX_HEADER_SIZE,
} from "./formats/safetensors.ts";
export type { SafetensorsFile } from "./formats/safetensors.ts";
export {
  loadCheckpointTensors,
  saveCheckpointTensors,
  splitStateDictIntoShards,
  parseSizeToInt,
  SAFE_WEIGHTS_NAME,
  SAFE_WEIGHTS_INDEX_NAME,
  WEIGHTS_NAME,
  WEIGHTS_INDEX_NAME,
} from "./formats/checkpoint.ts";
export type { LoadProgress, LoadProgressEvent, SaveCheckpointOptions, StateDictSplit } from "./formats/checkpoint.ts";
export {
  loadTorchCheckpoint,
  parseTorchCheckpoint,
  saveTorchCheckpoint,
  serializeTorchCheckpoint,
} from "./formats/pytorch.ts";
export type { TorchCheckpoint } from "./formats/pytorch.ts";
export { ALLOWED_GLOBALS } from "./formats/torch_pickle.ts";
export {
  permute,
  unpermute,
  compute_intermediate_size,
  convert_llama_weights_to_hf,
} from "./models/llama/convert_llama_weights_to_hf.ts";
export type { ConvertOptions, MetaParams } from "./models/llama/convert_llama_weights_to_hf.ts";
export { convert_hf_to_llama_weights } from "./models/llama/convert_hf_to_llama_weights.ts";
export type { ConvertToMetaOptions } from "./models/llama/convert_hf_to_llama_weights.ts";
export { LlamaConfig } from "./models/llama/configuration_llama.ts";
export type { LlamaConfigFields, RopeScaling, RopeType } from "./models/llama/configuration_llama.ts";
export { DynamicCache } from "./cache_utils.ts";
export { PreTrainedModel } from "./modeling_utils.ts";
export { Module, RemovableHandle } from "./nn/modules.ts";
export type { ForwardHook, ForwardPreHook, StepHook } from "./nn/modules.ts";
export type { ModelOptions, FromPretrainedOptions, TorchDType } from "./modeling_utils.ts";
export { ROPE_INIT_FUNCTIONS } from "./modeling_rope_utils.ts";
export * as functional from "./nn/functional.ts";
export { ALL_ATTENTION_FUNCTIONS, ATTN_IMPLEMENTATIONS } from "./integrations/attention.ts";
export type { AttentionFunction, AttnImplementation } from "./integrations/attention.ts";
export {
  LlamaRMSNorm,
  LlamaRotaryEmbedding,
  rotate_half,
  apply_rotary_pos_emb,
  LlamaMLP,
  repeat_kv,
  eager_attention_forward,
  LlamaAttention,
  LlamaDecoderLayer,
  LlamaPreTrainedModel,
  LlamaModel,
  LlamaForCausalLM,
  LlamaForSequenceClassification,
  LlamaForQuestionAnswering,
  LlamaForTokenClassification,
  _prepare_4d_causal_attention_mask_with_cache_position,
  FLOAT32_MIN,
} from "./models/llama/modeling_llama.ts";
export type {
  LlamaForwardArgs,
  BaseModelOutputWithPast,
  CausalLMOutputWithPast,
  SequenceClassifierOutputWithPast,
  QuestionAnsweringModelOutput,
  TokenClassifierOutput,
  PoolingRule,
} from "./models/llama/modeling_llama.ts";
export * from "./generation/index.ts";
export {
  AddedToken,
  PreTrainedTokenizerBase,
  SPECIAL_TOKENS_ATTRIBUTES,
  VERY_LARGE_INTEGER,
} from "./tokenization_utils_base.ts";
export type {
  ApplyChatTemplateOptions,
  BatchEncoding,
  DecodeOptions,
  EncodeOptions,
  PaddingOption,
  TruncationOption,
  TokenLike,
} from "./tokenization_utils_base.ts";
export { PreTrainedTokenizer } from "./tokenization_utils.ts";
export { LlamaTokenizer } from "./models/llama/tokenization_llama.ts";
export type { LlamaTokenizerKwargs } from "./models/llama/tokenization_llama.ts";
export { SentencePieceProcessor } from "./tokenizers/sentencepiece.ts";
export {
  parseModelProto,
  serializeModelProto,
  validateModelProto,
  PieceType,
  ModelType,
} from "./formats/sentencepiece_model.ts";
export type { ModelProto, SentencePiece, TrainerSpec, NormalizerSpec } from "./formats/sentencepiece_model.ts";
export { blockedBackend } from "./backends/blocked.ts";
export { PreTrainedTokenizerFast } from "./tokenization_utils_fast.ts";
export { LlamaTokenizerFast } from "./models/llama/tokenization_llama_fast.ts";
export type { LlamaTokenizerFastKwargs } from "./models/llama/tokenization_llama_fast.ts";
export { Tokenizer } from "./tokenizers/tokenizer.ts";
export { parseTokenizerJSON } from "./formats/tokenizer_json.ts";
export type { TokenizerConfigJSON } from "./formats/tokenizer_json.ts";
export {
  loadDefaultTokenizer,
  loadDefaultSlowTokenizer,
  loadDefaultTokenizerData,
  defaultTokenizerConfig,
  defaultModelProto,
} from "./models/llama/default_tokenizer.ts";
export {
  render_chat_template,
  get_chat_template,
  llamaDefaultChatTemplate,
  DEFAULT_SYSTEM_PROMPT,
  B_INST,
  E_INST,
  B_SYS,
  E_SYS,
} from "./tokenization_chat.ts";
export type { ChatMessage, Conversation, ChatTokenizer, ChatTemplateOptions } from "./tokenization_chat.ts";
export { hf_hub_download, try_to_load_from_cache, hf_home, hf_hub_cache, resolve_pretrained } from "./hub/hub.ts";
export type { HubOptions, ProgressInfo, ProgressCallback } from "./hub/hub.ts";
export * from "./hub/errors.ts";
export { AutoConfig } from "./models/auto/configuration_auto.ts";
export { AutoTokenizer } from "./models/auto/tokenization_auto.ts";
export type { AutoTokenizerOptions } from "./models/auto/tokenization_auto.ts";
export {
  AutoModel,
  AutoModelForCausalLM,
  AutoModelForSequenceClassification,
  AutoModelForQuestionAnswering,
  AutoModelForTokenClassification,
} from "./models/auto/modeling_auto.ts";
export { pipeline } from "./pipelines/index.ts";
export type {
  PipelineTask,
  PipelineOptions,
  TextGenerationPipeline,
  TextGenerationOptions,
  TextGenerationOutput,
  TextClassificationPipeline,
  TextClassificationOptions,
  ClassificationResult,
} from "./pipelines/index.ts";

// Names the public API's signatures refer to (parameter, field and return types), exported so the API docs can
// link them.
export { Embedding, Linear } from "./nn/modules.ts";
export { PretrainedConfig } from "./configuration_utils.ts";
export type { ConfigClass } from "./configuration_utils.ts";
export type { PreTrainedModelClass } from "./modeling_utils.ts";
export type { AttentionArgs } from "./models/llama/modeling_llama.ts";
export type { LlamaVersion, OutputDType } from "./models/llama/convert_llama_weights_to_hf.ts";
export type { DefaultTokenizerData } from "./models/llama/default_tokenizer.ts";
export type { RopeInitFn } from "./modeling_rope_utils.ts";
export type { ByteSource } from "./formats/zip.ts";
export type { FilePlan } from "./hub/hub.ts";
export type {
  AddedTokenConfig,
  BPEConfig,
  DecoderConfig,
  NormalizerConfig,
  PostProcessorConfig,
  PreTokenizerConfig,
} from "./formats/tokenizer_json.ts";
export type { ResolvedNormalizerSpec, ResolvedTrainerSpec, SelfTestData } from "./formats/sentencepiece_model.ts";
export type {
  EncodedInput,
  PaddingStrategy,
  SpecialTokenKey,
  TokenizerBaseKwargs,
  TruncationStrategy,
} from "./tokenization_utils_base.ts";
export { Trie } from "./tokenization_utils.ts";
export type { SlowTokenizerKwargs } from "./tokenization_utils.ts";
export type { FastTokenizerKwargs } from "./tokenization_utils_fast.ts";
export { AddedVocabulary } from "./tokenizers/added_vocabulary.ts";
export { BPE } from "./tokenizers/bpe.ts";
export { TemplateProcessing } from "./tokenizers/pipeline.ts";
export type { Encoding } from "./tokenizers/pipeline.ts";
export type { AssistantModel } from "./generation/candidate_generator.ts";
export type { BeamScorerOptions } from "./generation/beam_search.ts";
export type { TrieNode } from "./generation/beam_constraints.ts";
export type { SelfTestSample } from "./formats/sentencepiece_model.ts";
export type { Split } from "./tokenizers/added_vocabulary.ts";
export type { ModelToken } from "./tokenizers/bpe.ts";
export type { Pattern, PrependScheme, TemplatePiece, TemplateSpecialToken } from "./formats/tokenizer_json.ts";
export type { Normalizer, PostProcessor } from "./tokenizers/pipeline.ts";
export type { RopeConfig } from "./modeling_rope_utils.ts";
export type { AutoModelClass, AutoModelTarget } from "./models/auto/modeling_auto.ts";
