/**
 * What the CLI commands share after their flags are checked: loading a checkpoint (folder or Hub id) with its
 * architecture checked against the command, the tokenizer to use, the matmul backend, and progress on stderr.
 */
import { BACKEND_NAMES, type BackendName } from "../backends/select.ts";
import { CheckpointError, TokenizerError } from "../errors.ts";
import type { ProgressInfo } from "../hub/hub.ts";
import { EntryNotFoundError, LocalEntryNotFoundError } from "../hub/errors.ts";
import { AutoConfig } from "../models/auto/configuration_auto.ts";
import { AutoTokenizer } from "../models/auto/tokenization_auto.ts";
import type { LlamaConfig } from "../models/llama/configuration_llama.ts";
import { loadDefaultTokenizer } from "../models/llama/default_tokenizer.ts";
import type { PreTrainedModel, TorchDType } from "../modeling_utils.ts";
import type { PreTrainedTokenizerBase } from "../tokenization_utils_base.ts";
import { UsageError, type Flag } from "./args.ts";

export const log = (s: string) => process.stderr.write(s + "\n");

/** The flags every command that runs a model takes. */
export const RUNTIME_FLAGS = {
  torch_dtype: {
    type: "choice",
    choices: ["auto", "float32", "float16", "bfloat16"],
    arg: "T",
    help: "weights in memory: auto (as stored, default) | float32 | float16 | bfloat16",
  },
  backend: {
    type: "choice",
    choices: BACKEND_NAMES,
    arg: "NAME",
    help: `matmul backend: ${BACKEND_NAMES.join(" | ")} (default: LLAMA_TS_BACKEND, else auto = the fastest here)`,
  },
  threads: {
    type: "int",
    min: 1,
    max: 256,
    help: "threads of the wasm-simd backend (default: LLAMA_TS_THREADS, else every core)",
  },
} satisfies Record<string, Flag>;

/**
 * Apply --backend / --threads before any weight is read (src/ops/matmul.ts configureMatmul: unset ones fall back
 * to LLAMA_TS_BACKEND / LLAMA_TS_THREADS) and say on stderr what runs and why a faster backend did not.
 */
export async function applyRuntimeFlags(flags: { backend?: string; threads?: number }): Promise<void> {
  if (flags.backend === undefined && flags.threads === undefined) return;
  const { configureMatmul } = await import("../ops/matmul.ts");
  const choice = configureMatmul({ backend: flags.backend as BackendName | undefined, threads: flags.threads });
  log(`matmul: ${choice.description}`);
  for (const f of choice.fallbacks) log(`  ${f}`);
}

/** A progress line on stderr for downloads, at most once a second per file. */
export function progressPrinter(): (p: ProgressInfo) => void {
  let last = 0;
  return (p) => {
    if (p.status === "download")
      log(`downloading ${p.file}${p.total ? ` (${(p.total / 1e6).toFixed(1)} MB)` : ""} ...`);
    if (p.status === "progress" && Date.now() - last > 1000) {
      last = Date.now();
      log(`  ${p.file}: ${((p.loaded ?? 0) / 1e6).toFixed(1)}${p.total ? ` of ${(p.total / 1e6).toFixed(1)}` : ""} MB`);
    }
  };
}

/** The architectures config.json declares (empty when it declares none). */
function architectures(config: LlamaConfig): string[] {
  return config.architectures ?? [];
}

/**
 * Load a checkpoint for a command that needs a given head (`ForCausalLM`, ...). The architecture is checked on
 * config.json before any weight is read, so a classification checkpoint given to `generate` is named as such.
 */
export async function loadModelFor<M extends PreTrainedModel>(
  command: string,
  model: string,
  head: "ForCausalLM" | "ForSequenceClassification" | null,
  torch_dtype: TorchDType,
): Promise<{ model: M; config: LlamaConfig }> {
  const t0 = performance.now();
  log(`loading ${model} ...`);
  const hub = { progress_callback: progressPrinter() };
  const config = await AutoConfig.from_pretrained(model, hub);
  const archs = architectures(config);
  if (head !== null && archs.length > 0 && !archs.some((a) => a.endsWith(head)))
    throw new CheckpointError(
      `${model}/config.json`,
      `the checkpoint is a ${archs.join(", ")}; ${command} needs a Llama${head} checkpoint (a language-model head)`,
    );
  const auto = await import("../models/auto/modeling_auto.ts");
  const cls =
    head === "ForCausalLM"
      ? auto.AutoModelForCausalLM
      : head === "ForSequenceClassification"
        ? auto.AutoModelForSequenceClassification
        : await modelClassFor(archs);
  const m = (await (cls as any).from_pretrained(model, { torch_dtype, ...hub })) as M;
  log(`loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  return { model: m, config: m.config as LlamaConfig };
}

/** The Llama class config.json's architectures name (LlamaModel when it names none llama-ts has). */
async function modelClassFor(archs: string[]): Promise<unknown> {
  const llama = (await import("../models/llama/modeling_llama.ts")) as Record<string, unknown>;
  for (const a of archs) if (a.startsWith("Llama") && typeof llama[a] === "function") return llama[a];
  return llama.LlamaModel;
}

/**
 * The tokenizer a command uses: --tokenizer wins; else the checkpoint's own (AutoTokenizer: tokenizer.json, else
 * tokenizer.model); else the embedded Llama 2 tokenizer when the vocabulary has Llama 2's 32,000 entries; else
 * null (only --input_ids can be used). A tokenizer with ids beyond the model's vocabulary is refused.
 */
export async function tokenizerFor(
  opts: { tokenizer?: string; model?: string },
  vocab_size: number | null,
): Promise<{ tokenizer: PreTrainedTokenizerBase | null; source: string }> {
  let tokenizer: PreTrainedTokenizerBase | null = null;
  let source: string;
  if (opts.tokenizer !== undefined) {
    tokenizer = (await AutoTokenizer.from_pretrained(opts.tokenizer)) as unknown as PreTrainedTokenizerBase;
    source = `${opts.tokenizer} (${tokenizer.constructor.name})`;
  } else {
    try {
      tokenizer = (await AutoTokenizer.from_pretrained(opts.model!)) as unknown as PreTrainedTokenizerBase;
      source = `${opts.model} (${tokenizer.constructor.name})`;
    } catch (e) {
      // No tokenizer files in the folder, in the repo, or (offline) in the cache.
      if (!(e instanceof TokenizerError || e instanceof EntryNotFoundError || e instanceof LocalEntryNotFoundError))
        throw e;
      if (vocab_size === 32000) {
        tokenizer = loadDefaultTokenizer() as unknown as PreTrainedTokenizerBase;
        source = `embedded Llama 2 tokenizer (${opts.model} has no tokenizer file; its vocabulary has Llama 2's 32000 entries)`;
      } else {
        return { tokenizer: null, source: `none: ${opts.model} has no tokenizer.json or tokenizer.model` };
      }
    }
  }
  if (vocab_size !== null && tokenizer.length > vocab_size)
    throw new TokenizerError(
      opts.tokenizer ?? opts.model ?? "tokenizer",
      `the tokenizer has ${tokenizer.length} tokens, more than the model's vocabulary (${vocab_size})`,
    );
  return { tokenizer, source };
}

/** The one message for "this command needs text but the checkpoint has no tokenizer". */
export function noTokenizer(model: string, what: string): UsageError {
  return new UsageError(
    `${what} needs a tokenizer and ${model} has no tokenizer.json or tokenizer.model: pass --tokenizer DIR${what === "--prompt" ? " or --input_ids 1,2,3" : ""}`,
  );
}
