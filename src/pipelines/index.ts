/**
 * `pipeline(task, model)` as transformers.js and HF's `pipelines/__init__.py` have it: load a model and its
 * tokenizer for a task and return a function from text to results.
 *
 *   const generator = await pipeline("text-generation", "path/or/org-name");
 *   await generator("Hello", { max_new_tokens: 20 });   // [{ generated_text: "Hello ..." }]
 *   const classifier = await pipeline("text-classification", dir);
 *   await classifier("I love it");                       // [{ label: "LABEL_1", score: 0.93 }]
 *
 * Text generation mirrors HF 4.44 `TextGenerationPipeline`: the prompt is tokenized with the tokenizer's
 * defaults (BOS added), a chat (a list of {role, content}) goes through `apply_chat_template` with
 * `add_generation_prompt`, and the text is `prompt + decode(all)[len(decode(prompt ids)):]` with
 * `return_full_text` (default), else only the new text; `return_tensors: true` gives `generated_token_ids`
 * instead. Text classification mirrors `TextClassificationPipeline`: softmax over the labels (sigmoid when
 * `problem_type` is multi-label or there is one label, nothing for regression), `top_k` 1 by default.
 * Inputs of a list are run one at a time (HF's default batch_size 1, so no pad token is needed).
 */
import { ValueError } from "../errors.ts";
import type { GenerateOptions } from "../generation/utils.ts";
import { AutoModelForCausalLM, AutoModelForSequenceClassification } from "../models/auto/modeling_auto.ts";
import { AutoTokenizer } from "../models/auto/tokenization_auto.ts";
import { softmaxRows } from "../ops/softmax.ts";
import type { LlamaForCausalLM, LlamaForSequenceClassification } from "../models/llama/modeling_llama.ts";
import type { FromPretrainedOptions } from "../modeling_utils.ts";
import type { ChatMessage } from "../tokenization_chat.ts";
import type { PreTrainedTokenizerBase } from "../tokenization_utils_base.ts";

export type PipelineTask = "text-generation" | "text-classification";

export interface PipelineOptions extends FromPretrainedOptions {
  /** A tokenizer, or the folder / Hub id to load one from (default: the model's own). */
  tokenizer?: PreTrainedTokenizerBase | string;
}

export interface TextGenerationOptions extends Omit<GenerateOptions, "attention_mask" | "streamer"> {
  /** Prompt + new text (default true); false: the new text only. */
  return_full_text?: boolean;
  /** Return `generated_token_ids` (prompt and new ids) instead of text. */
  return_tensors?: boolean;
  /** Passed to the tokenizer (default: the tokenizer's own, which adds BOS for Llama). */
  add_special_tokens?: boolean;
  skip_special_tokens?: boolean;
  clean_up_tokenization_spaces?: boolean;
  streamer?: GenerateOptions["streamer"];
}

export type TextGenerationOutput = { generated_text: string | ChatMessage[] } | { generated_token_ids: number[] };

export interface TextClassificationOptions {
  /** How many labels to return, best first (default 1; null: all labels). */
  top_k?: number | null;
  function_to_apply?: "softmax" | "sigmoid" | "none";
}
export interface ClassificationResult {
  label: string;
  score: number;
}

export interface TextGenerationPipeline {
  (inputs: string | ChatMessage[], opts?: TextGenerationOptions): Promise<TextGenerationOutput[]>;
  (inputs: (string | ChatMessage[])[], opts?: TextGenerationOptions): Promise<TextGenerationOutput[][]>;
  task: "text-generation";
  model: LlamaForCausalLM;
  tokenizer: PreTrainedTokenizerBase;
}
export interface TextClassificationPipeline {
  (inputs: string, opts?: TextClassificationOptions): Promise<ClassificationResult[]>;
  (inputs: string[], opts?: TextClassificationOptions): Promise<ClassificationResult[] | ClassificationResult[][]>;
  task: "text-classification";
  model: LlamaForSequenceClassification;
  tokenizer: PreTrainedTokenizerBase;
}

function isChat(x: unknown): x is ChatMessage[] {
  return Array.isArray(x) && x.length > 0 && x.every((m) => m !== null && typeof m === "object" && "role" in m);
}

async function loadTokenizer(model: string | object, opts: PipelineOptions): Promise<PreTrainedTokenizerBase> {
  const tok = opts.tokenizer;
  if (tok !== undefined && typeof tok !== "string") return tok;
  const source = tok ?? model;
  if (typeof source !== "string")
    throw new ValueError("tokenizer: a model object was given without a tokenizer; pass { tokenizer } as well");
  const { revision, local_files_only, cache_dir, token } = opts;
  return (await AutoTokenizer.from_pretrained(source, {
    revision,
    local_files_only,
    cache_dir,
    token,
  })) as unknown as PreTrainedTokenizerBase;
}

function modelOptions(opts: PipelineOptions): FromPretrainedOptions & Record<string, unknown> {
  const { tokenizer: _t, ...rest } = opts;
  return rest;
}

/** HF `pipeline(task, model)`: see the module comment. `model` is a folder, a Hub id or a loaded model. */
export async function pipeline(
  task: "text-generation",
  model: string | LlamaForCausalLM,
  opts?: PipelineOptions,
): Promise<TextGenerationPipeline>;
export async function pipeline(
  task: "text-classification",
  model: string | LlamaForSequenceClassification,
  opts?: PipelineOptions,
): Promise<TextClassificationPipeline>;
export async function pipeline(
  task: PipelineTask,
  model: string | LlamaForCausalLM | LlamaForSequenceClassification,
  opts: PipelineOptions = {},
): Promise<TextGenerationPipeline | TextClassificationPipeline> {
  if (opts === null || typeof opts !== "object") throw new ValueError("pipeline: options must be an object");
  if (typeof model !== "string" && (model === null || typeof model !== "object"))
    throw new ValueError(`pipeline: model must be a folder, a Hub id or a loaded model, got ${JSON.stringify(model)}`);
  if (task === "text-generation") {
    const m =
      typeof model === "string"
        ? await AutoModelForCausalLM.from_pretrained(model, modelOptions(opts))
        : (model as LlamaForCausalLM);
    if (typeof (m as LlamaForCausalLM).generate !== "function")
      throw new ValueError(`pipeline("text-generation"): ${m.constructor.name} cannot generate (expected a causal LM)`);
    const tokenizer = await loadTokenizer(model, opts);
    return textGeneration(m as LlamaForCausalLM, tokenizer);
  }
  if (task === "text-classification") {
    const m =
      typeof model === "string"
        ? await AutoModelForSequenceClassification.from_pretrained(model, modelOptions(opts))
        : (model as LlamaForSequenceClassification);
    const tokenizer = await loadTokenizer(model, opts);
    return textClassification(m as LlamaForSequenceClassification, tokenizer);
  }
  throw new ValueError(
    `pipeline: unknown task ${JSON.stringify(task)} (llama-ts has "text-generation" and "text-classification")`,
  );
}

function textGeneration(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerBase): TextGenerationPipeline {
  const one = (prompt: string | ChatMessage[], opts: TextGenerationOptions): TextGenerationOutput[] => {
    const {
      return_full_text = true,
      return_tensors = false,
      add_special_tokens,
      skip_special_tokens = true,
      clean_up_tokenization_spaces,
      ...generateOpts
    } = opts;
    let ids: number[];
    if (typeof prompt === "string")
      ids = tokenizer.encode(prompt, add_special_tokens === undefined ? {} : { add_special_tokens });
    else if (isChat(prompt)) ids = tokenizer.apply_chat_template(prompt, { add_generation_prompt: true }) as number[];
    else
      throw new ValueError(
        `text-generation: expected a string or a chat (list of {role, content}), got ${JSON.stringify(prompt)}`,
      );
    // HF's pipeline hands its tokenizer to generate, which needs one for `stop_strings`.
    const out = model.generate([ids], {
      tokenizer: tokenizer as unknown as GenerateOptions["tokenizer"],
      ...generateOpts,
      attention_mask: [ids.map(() => 1)],
    });
    const rows: number[][] = out.tolist();
    return rows.map((seq) => {
      if (return_tensors) return { generated_token_ids: seq };
      const dec = { skip_special_tokens, clean_up_tokenization_spaces };
      const text = tokenizer.decode(seq, dec);
      // HF: the prompt's decoded length is cut from the full decode (the first new token may merge a space).
      const promptLength = tokenizer.decode(ids, dec).length;
      const newText = text.slice(promptLength);
      if (typeof prompt !== "string") return { generated_text: [...prompt, { role: "assistant", content: newText }] };
      return { generated_text: return_full_text ? prompt + newText : newText };
    });
  };
  const fn = (async (inputs: string | ChatMessage[] | (string | ChatMessage[])[], opts: TextGenerationOptions = {}) => {
    if (typeof inputs === "string" || isChat(inputs)) return one(inputs as string | ChatMessage[], opts);
    if (!Array.isArray(inputs))
      throw new ValueError(
        `text-generation: expected a string, a chat or a list of them, got ${JSON.stringify(inputs)}`,
      );
    return inputs.map((x) => one(x, opts));
  }) as TextGenerationPipeline;
  return Object.assign(fn, { task: "text-generation" as const, model, tokenizer });
}

function textClassification(
  model: LlamaForSequenceClassification,
  tokenizer: PreTrainedTokenizerBase,
): TextClassificationPipeline {
  const config = model.config;
  const one = (text: string, opts: TextClassificationOptions): ClassificationResult[] => {
    if (typeof text !== "string")
      throw new ValueError(`text-classification: expected a string, got ${JSON.stringify(text)}`);
    const ids = tokenizer.encode(text);
    const logits = Array.from(model.forward({ input_ids: [ids] }).logits.toFloat32());
    const fn =
      opts.function_to_apply ??
      (config.problem_type === "regression"
        ? "none"
        : config.problem_type === "multi_label_classification" || config.num_labels === 1
          ? "sigmoid"
          : "softmax");
    let scores: number[];
    if (fn === "sigmoid") scores = logits.map((x) => 1 / (1 + Math.exp(-x)));
    else if (fn === "softmax")
      scores = Array.from(softmaxRows(new Float32Array(logits.length), Float32Array.from(logits), 1, logits.length));
    else if (fn === "none") scores = logits;
    else throw new ValueError(`function_to_apply: expected "softmax", "sigmoid" or "none", got ${JSON.stringify(fn)}`);
    const results = scores
      .map((score, i) => ({ label: config.id2label[i] ?? `LABEL_${i}`, score }))
      .sort((a, b) => b.score - a.score);
    const k = opts.top_k === undefined ? 1 : opts.top_k === null ? results.length : opts.top_k;
    if (!Number.isInteger(k) || k < 1)
      throw new ValueError(`top_k: expected a positive integer or null, got ${JSON.stringify(opts.top_k)}`);
    return results.slice(0, k);
  };
  const fn = (async (inputs: string | string[], opts: TextClassificationOptions = {}) => {
    if (typeof inputs === "string") return one(inputs, opts);
    if (!Array.isArray(inputs))
      throw new ValueError(
        `text-classification: expected a string or a list of strings, got ${JSON.stringify(inputs)}`,
      );
    // HF: with the default top_k the batch gives one {label, score} per input; with top_k, a list per input.
    const all = inputs.map((x) => one(x, opts));
    return opts.top_k === undefined ? all.map((r) => r[0]) : all;
  }) as TextClassificationPipeline;
  return Object.assign(fn, { task: "text-classification" as const, model, tokenizer });
}
