/**
 * Access to the shared tokenizer reference (../shared/reference, see its tokenizer/README.md): the Llama 2
 * tokenizer.model, the HF tokenizer.json files, tokenizer_config.json and the 235 cases produced by Google's
 * sentencepiece, HF's LlamaTokenizer logic and HF's Rust `tokenizers`.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

export const REF = path.resolve(process.cwd(), "../shared/reference");
export const HAVE_REF = existsSync(path.join(REF, "tokenizer", "cases.jsonl"));
export const TOKENIZER_MODEL = path.join(REF, "tokenizer.model");
export const TOKENIZER_DIR = path.join(REF, "tokenizer");

export interface TokenizerCase {
  id: string;
  category: string;
  text: string;
  sp_ids: number[];
  sp_pieces: string[];
  sp_decoded: string;
  hf_slow_legacy_ids: number[];
  hf_slow_legacy_decoded: string;
  hf_slow_legacy_decoded_skip_special: string;
  hf_slow_nonlegacy_ids: number[];
  hf_slow_nonlegacy_decoded: string;
  hf_slow_nonlegacy_decoded_skip_special: string;
  fast_rust_ids: number[];
  fast_rust_decoded: string;
  fast_rust_decoded_skip_special: string;
  fast_rust_nonlegacy_ids: number[];
  fast_rust_nonlegacy_decoded: string;
  fast_rust_nonlegacy_decoded_skip_special: string;
  byte_fallback: boolean;
}

export function loadCases(): TokenizerCase[] {
  if (!HAVE_REF) return [];
  return readFileSync(path.join(TOKENIZER_DIR, "cases.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as TokenizerCase);
}

export function warnIfNoReference(suite: string): void {
  if (!HAVE_REF) console.warn(`${suite}: ${REF}/tokenizer is absent, the reference-case tests are skipped`);
}
