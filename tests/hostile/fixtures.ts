/** Small valid files the attacks start from (a tiny config and tokenizer), and folder helpers. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh temporary folder. */
export function tempDir(prefix = "hostile-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A named pipe at `path` (nothing ever writes to it: reading it blocks forever). */
export function fifo(path: string): string {
  execFileSync("mkfifo", [path]);
  return path;
}

/** `path` -> /dev/zero (reading never ends). */
export function devZero(path: string): string {
  symlinkSync("/dev/zero", path);
  return path;
}

/** A file of `bytes` bytes without writing them (sparse). */
export function sparseFile(path: string, bytes: number): string {
  execFileSync("truncate", ["-s", String(bytes), path]);
  return path;
}

/** The smallest Llama config fields that build a working model. */
export const TINY_CONFIG = {
  model_type: "llama",
  architectures: ["LlamaForCausalLM"],
  vocab_size: 16,
  hidden_size: 8,
  intermediate_size: 16,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 32,
};

/** A minimal BPE tokenizer.json (the layout HF writes for Llama). */
export function tinyTokenizerJson(): Record<string, unknown> {
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 0, content: "<unk>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: "<s>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 2, content: "</s>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: false,
      vocab: { "<unk>": 0, "<s>": 1, "</s>": 2, a: 3, b: 4, x: 5, y: 6, z: 7, ab: 8 },
      merges: ["a b"],
    },
  };
}

/** A folder holding the tiny tokenizer.json plus `tokenizer_config.json` = `config`. */
export function tokenizerFolder(config: Record<string, unknown> = {}, json = tinyTokenizerJson()): string {
  const dir = tempDir();
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ legacy: true, ...config }));
  return dir;
}
