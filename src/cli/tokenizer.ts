/**
 * The tokenizer a CLI command uses for a checkpoint folder, as AutoTokenizer would pick it: tokenizer.json
 * (LlamaTokenizerFast) first, else tokenizer.model (LlamaTokenizer), else the embedded Llama 2 tokenizer when
 * the model's vocabulary has Llama 2's 32,000 entries.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { TokenizerError } from "../errors.ts";
import { loadDefaultTokenizer } from "../models/llama/default_tokenizer.ts";
import { LlamaTokenizer } from "../models/llama/tokenization_llama.ts";
import { LlamaTokenizerFast } from "../models/llama/tokenization_llama_fast.ts";

export interface CliTokenizer {
  encode(text: string): number[];
  decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
  convert_ids_to_tokens(ids: number[]): string[];
}

export async function loadDefaultTokenizerForCli(): Promise<{ tokenizer: CliTokenizer; source: string }> {
  return {
    tokenizer: (await loadDefaultTokenizer()) as unknown as CliTokenizer,
    source: "embedded Llama 2 tokenizer (data/llama2-tokenizer.model and tokenizer.json)",
  };
}

export async function loadTokenizerFor(
  dir: string,
  vocab_size: number,
): Promise<{ tokenizer: CliTokenizer; source: string }> {
  if (existsSync(join(dir, "tokenizer.json"))) {
    return {
      tokenizer: (await LlamaTokenizerFast.from_pretrained(dir)) as unknown as CliTokenizer,
      source: `${join(dir, "tokenizer.json")} (LlamaTokenizerFast)`,
    };
  }
  if (existsSync(join(dir, "tokenizer.model"))) {
    return {
      tokenizer: (await LlamaTokenizer.from_pretrained(dir)) as unknown as CliTokenizer,
      source: `${join(dir, "tokenizer.model")} (LlamaTokenizer)`,
    };
  }
  if (vocab_size === 32000) {
    const d = await loadDefaultTokenizerForCli();
    return { tokenizer: d.tokenizer, source: `${d.source}; ${dir} has no tokenizer file` };
  }
  throw new TokenizerError(
    dir,
    `no tokenizer.json or tokenizer.model, and the vocabulary (${vocab_size}) is not Llama 2's 32000`,
  );
}
