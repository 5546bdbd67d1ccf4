/**
 * `llama-ts generate --model DIR|ID (--prompt TEXT | --input_ids 1,2,3)`: generate with LlamaForCausalLM.generate,
 * streaming the text to stdout as tokens come (the library's TextStreamer: prompt included, as HF's
 * batch_decode of the returned ids), prompt-processing and decoding speed on stderr. Without a tokenizer (most
 * tiny checkpoints have none) the ids are streamed instead.
 */
import { TextStreamer, type BaseStreamer } from "../generation/streamers.ts";
import type { LlamaForCausalLM } from "../models/llama/modeling_llama.ts";
import type { TorchDType } from "../modeling_utils.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { PreTrainedTokenizerBase } from "../tokenization_utils_base.ts";
import { checkFolder, flagHelp, parseFlags, UsageError, type FlagTable } from "./args.ts";
import { applyRuntimeFlags, loadModelFor, log, noTokenizer, RUNTIME_FLAGS, tokenizerFor } from "./load.ts";

/**
 * Flags that are `generate` options of the same name, passed through as given (HF's GenerationConfig names).
 * To support another option on the command line, add its row here.
 */
export const GENERATION_FLAGS = {
  max_new_tokens: { type: "int", min: 1, help: "tokens to generate (default: generation_config.json's, else 20)" },
  min_new_tokens: { type: "int", min: 0, help: "generate at least N tokens before eos may end (default 0)" },
  do_sample: { type: "boolean", help: "sample instead of greedy decoding" },
  temperature: { type: "float", above: 0, help: "sampling temperature (default 1.0)" },
  top_k: { type: "int", min: 0, help: "keep the N most likely tokens when sampling (default 50, as HF; 0 = all)" },
  top_p: {
    type: "float",
    min: 0,
    max: 1,
    help: "nucleus sampling: keep the smallest set with this mass (default 1.0)",
  },
  min_p: { type: "float", min: 0, max: 1, help: "drop tokens below X times the top probability (default off)" },
  repetition_penalty: { type: "float", above: 0, help: "HF's repetition penalty (default 1.0 = off)" },
  no_repeat_ngram_size: { type: "int", min: 0, help: "never repeat an n-gram of this size (default 0 = off)" },
  typical_p: { type: "float", above: 0, max: 1, help: "locally typical sampling mass (default 1.0 = off)" },
  epsilon_cutoff: { type: "float", min: 0, max: 1, help: "sampling: drop tokens below this probability" },
  eta_cutoff: { type: "float", min: 0, max: 1, help: "eta sampling cutoff (default 0 = off)" },
  seed: { type: "int", help: "seed of the sampler's random draws (default 0)" },
} satisfies FlagTable;

/** Search flags of `generate` only (beams return several rows, which chat's streaming cannot show). */
export const SEARCH_FLAGS = {
  num_beams: { type: "int", min: 1, help: "beam search with N beams (default 1)" },
  num_return_sequences: { type: "int", min: 1, help: "rows to return per prompt (beams or sampling)" },
  num_beam_groups: { type: "int", min: 1, help: "diverse beam search: groups of beams (with --diversity_penalty)" },
  diversity_penalty: { type: "float", min: 0, help: "diverse beam search penalty (default 0)" },
  length_penalty: { type: "float", help: "beam score = sum of log-probs / length^X (default 1.0)" },
  early_stopping: { type: "choice", choices: ["true", "false", "never"], help: "when beam search stops" },
  penalty_alpha: { type: "float", min: 0, max: 1, help: "contrastive search (with --top_k > 1)" },
  prompt_lookup_num_tokens: { type: "int", min: 1, help: "assisted decoding by prompt lookup: N candidates" },
  stop_strings: { type: "strings", arg: "TEXT", help: "stop once the text ends with this (repeatable)" },
} satisfies FlagTable;

const GENERATE_FLAGS = {
  model: { type: "string", arg: "DIR|ID", required: true, help: "checkpoint folder or Hub id (org/name)" },
  prompt: { type: "string", arg: "TEXT", help: "the prompt (or --input_ids)" },
  input_ids: { type: "ids", arg: "1,2,3", help: "the prompt as token ids (works without a tokenizer)" },
  tokenizer: { type: "string", arg: "DIR|ID", help: "tokenizer folder (default: the checkpoint's own)" },
  chat: { type: "boolean", help: "wrap --prompt in the chat template (the tokenizer's, else Llama 2's)" },
  system: { type: "string", arg: "TEXT", help: "system message of --chat" },
  ...GENERATION_FLAGS,
  ...SEARCH_FLAGS,
  ...RUNTIME_FLAGS,
} satisfies FlagTable;

export const GENERATE_HELP = `Generate text with a Llama checkpoint, streamed to stdout (speed on stderr).

Usage: llama-ts generate --model DIR|ID (--prompt TEXT | --input_ids 1,2,3) [options]

${flagHelp(GENERATE_FLAGS)}`;

/** Times the prompt (first new token) and the decoding steps while passing ids on to the printing streamer. */
class TimingStreamer implements BaseStreamer {
  promptTokens = 0;
  newTokens = 0;
  private readonly t0 = performance.now();
  firstTokenAt = 0;
  endAt = 0;
  constructor(private readonly inner: BaseStreamer) {}
  put(value: Tensor | number[] | number[][] | number): void {
    const n = value instanceof Tensor ? value.size : Array.isArray(value) ? value.flat().length : 1;
    if (this.promptTokens === 0) this.promptTokens = n;
    else {
      if (this.newTokens === 0) this.firstTokenAt = performance.now();
      this.newTokens += n;
    }
    this.inner.put(value);
  }
  end(): void {
    this.endAt = performance.now();
    this.inner.end();
  }
  report(): string {
    const prefill = (this.firstTokenAt - this.t0) / 1000;
    const decode = (this.endAt - this.firstTokenAt) / 1000;
    const steps = this.newTokens - 1;
    return (
      `prompt: ${this.promptTokens} tokens in ${prefill.toFixed(2)} s (${(this.promptTokens / prefill).toFixed(1)} tokens/s, first new token included); ` +
      `generated: ${this.newTokens} tokens` +
      (steps > 0 ? `, ${(steps / decode).toFixed(2)} tokens/s after the first` : "")
    );
  }
}

/** Prints ids as they come when there is no tokenizer to decode them. */
class IdStreamer implements BaseStreamer {
  private first = true;
  put(value: Tensor | number[] | number[][] | number): void {
    const ids = value instanceof Tensor ? (value.tolist() as number[] | number[][]).flat() : [value].flat(2);
    process.stdout.write((this.first ? "" : ", ") + ids.join(", "));
    this.first = false;
  }
  end(): void {
    process.stdout.write("\n");
  }
}

export async function runGenerate(argv: string[]): Promise<void> {
  const flags = parseFlags("generate", argv, GENERATE_FLAGS);
  if ((flags.prompt === undefined) === (flags.input_ids === undefined))
    throw new UsageError("--prompt: give either --prompt TEXT or --input_ids 1,2,3");
  if (flags.chat && flags.prompt === undefined) throw new UsageError("--chat: needs --prompt TEXT");
  if (flags.system !== undefined && !flags.chat) throw new UsageError("--system: only with --chat");
  checkFolder("model", flags.model!, { hubIds: true });
  if (flags.tokenizer !== undefined) checkFolder("tokenizer", flags.tokenizer, { hubIds: true });
  await applyRuntimeFlags(flags);

  const { model, config } = await loadModelFor<LlamaForCausalLM>(
    "generate",
    flags.model!,
    "ForCausalLM",
    (flags.torch_dtype ?? "auto") as TorchDType,
  );
  const { tokenizer, source } = await tokenizerFor(flags, config.vocab_size);
  log(`tokenizer: ${source}`);
  let ids: number[];
  if (flags.input_ids !== undefined) ids = flags.input_ids;
  else {
    if (tokenizer === null) throw noTokenizer(flags.model!, "--prompt");
    ids = flags.chat ? chatIds(tokenizer, flags.prompt!, flags.system) : tokenizer.encode(flags.prompt!);
  }

  // Defaults: the checkpoint's generation_config.json (HF), then 20 new tokens; search flags (beams, ...) on top.
  const options = generationOptions(flags, { max_new_tokens: model.generation_config.max_new_tokens ?? 20 });
  for (const name of Object.keys(SEARCH_FLAGS))
    if ((flags as Record<string, unknown>)[name] !== undefined)
      options[name] = (flags as Record<string, unknown>)[name];
  if (options.early_stopping !== undefined)
    options.early_stopping = options.early_stopping === "never" ? "never" : options.early_stopping === "true";
  if (options.stop_strings !== undefined) {
    if (tokenizer === null) throw noTokenizer(flags.model!, "--stop_strings");
    options.tokenizer = tokenizer;
  }
  if ((flags.num_beams ?? 1) > 1 || (flags.num_return_sequences ?? 1) > 1) {
    // several rows (and HF refuses a streamer with beams): print each row once done
    const t0 = performance.now();
    const rows = model.generate([ids], options).tolist() as number[][];
    for (const row of rows)
      process.stdout.write(
        (tokenizer === null ? row.join(", ") : tokenizer.decode(row, { skip_special_tokens: true })) + "\n",
      );
    log(`${rows.length} sequences in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    return;
  }
  const printer: BaseStreamer =
    tokenizer === null ? new IdStreamer() : new TextStreamer(tokenizer, { skip_special_tokens: true });
  const timing = new TimingStreamer(printer);
  model.generate([ids], { ...options, streamer: timing });
  log(timing.report());
}

/** The generate options given on the command line (the GENERATION_FLAGS rows), over `defaults`. */
export function generationOptions(flags: object, defaults: Record<string, unknown>): Record<string, unknown> {
  const options = { ...defaults };
  for (const name of Object.keys(GENERATION_FLAGS)) {
    const v = (flags as Record<string, unknown>)[name];
    if (v !== undefined) options[name] = v;
  }
  return options;
}

/** The prompt as a one-turn chat (an optional system message, then the user's): HF apply_chat_template. */
export function chatIds(tokenizer: PreTrainedTokenizerBase, prompt: string, system?: string): number[] {
  const messages = [
    ...(system !== undefined ? [{ role: "system", content: system }] : []),
    { role: "user", content: prompt },
  ];
  return tokenizer.apply_chat_template(messages, { add_generation_prompt: true }) as number[];
}
