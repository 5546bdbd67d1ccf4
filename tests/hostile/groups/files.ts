/** Family 1: files that are not what their name says (FIFOs, devices, folders, giants). */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CheckpointError, TokenizerError, ValueError } from "../../../src/errors.ts";
import { loadSafetensors } from "../../../src/formats/safetensors.ts";
import { loadCheckpointTensors } from "../../../src/formats/checkpoint.ts";
import { LlamaConfig } from "../../../src/models/llama/configuration_llama.ts";
import { LlamaForCausalLM } from "../../../src/models/llama/modeling_llama.ts";
import { LlamaTokenizer } from "../../../src/models/llama/tokenization_llama.ts";
import { LlamaTokenizerFast } from "../../../src/models/llama/tokenization_llama_fast.ts";
import type { Attack } from "../harness.ts";
import { TINY_CONFIG, devZero, fifo, sparseFile, tempDir, tinyTokenizerJson, tokenizerFolder } from "../fixtures.ts";

const withConfig = () => {
  const dir = tempDir();
  writeFileSync(join(dir, "config.json"), JSON.stringify(TINY_CONFIG));
  return dir;
};

export const attacks: Attack[] = [
  {
    name: "config.json is a named pipe (LlamaConfig.from_pretrained)",
    run: () => LlamaConfig.from_pretrained(fifoDir("config.json")),
    error: CheckpointError,
    message: /config\.json: a named pipe/,
  },
  {
    name: "config.json is a named pipe (LlamaForCausalLM.from_pretrained)",
    run: () => LlamaForCausalLM.from_pretrained(fifoDir("config.json")),
    error: CheckpointError,
    message: /config\.json: a named pipe/,
  },
  {
    name: "config.json links to /dev/zero",
    run: () => {
      const dir = tempDir();
      devZero(join(dir, "config.json"));
      return LlamaConfig.from_pretrained(dir);
    },
    error: CheckpointError,
    message: /config\.json: a character device/,
  },
  {
    name: "config.json is a directory",
    run: () => {
      const dir = tempDir();
      mkdirSync(join(dir, "config.json"));
      return LlamaConfig.from_pretrained(dir);
    },
    error: CheckpointError,
    message: /config\.json: a directory/,
  },
  {
    name: "config.json of 2 GB (sparse)",
    run: () => {
      const dir = tempDir();
      sparseFile(join(dir, "config.json"), 2 ** 31);
      return LlamaConfig.from_pretrained(dir);
    },
    error: CheckpointError,
    message: /more than the \d+-byte limit for a config\.json/,
  },
  {
    name: "tokenizer.json is a named pipe",
    run: () => {
      const dir = tokenizerFolder();
      rmSync(join(dir, "tokenizer.json"));
      fifo(join(dir, "tokenizer.json"));
      return LlamaTokenizerFast.from_pretrained(dir);
    },
    error: TokenizerError,
    message: /tokenizer\.json: a named pipe/,
  },
  {
    name: "tokenizer_config.json is a named pipe",
    run: () => {
      const dir = tempDir();
      writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tinyTokenizerJson()));
      fifo(join(dir, "tokenizer_config.json"));
      return LlamaTokenizerFast.from_pretrained(dir);
    },
    error: TokenizerError,
    message: /tokenizer_config\.json: a named pipe/,
  },
  {
    name: "special_tokens_map.json is a named pipe",
    run: () => {
      const dir = tokenizerFolder();
      fifo(join(dir, "special_tokens_map.json"));
      return LlamaTokenizerFast.from_pretrained(dir);
    },
    error: TokenizerError,
    message: /special_tokens_map\.json: a named pipe/,
  },
  {
    name: "tokenizer.json of 1 GB (sparse)",
    run: () => {
      const dir = tokenizerFolder();
      sparseFile(join(dir, "tokenizer.json"), 2 ** 30);
      return LlamaTokenizerFast.from_pretrained(dir);
    },
    error: TokenizerError,
    message: /more than the \d+-byte limit for a tokenizer\.json/,
  },
  {
    name: "tokenizer.model links to /dev/zero",
    run: () => {
      const dir = tempDir();
      devZero(join(dir, "tokenizer.model"));
      return LlamaTokenizer.from_pretrained(dir);
    },
    error: TokenizerError,
    message: /tokenizer\.model: a character device/,
  },
  {
    name: "tokenizer.model is a named pipe (slow tokenizer constructor)",
    run: () => new LlamaTokenizer({ vocab_file: fifo(join(tempDir(), "tokenizer.model")), legacy: true }),
    error: TokenizerError,
    message: /tokenizer\.model: a named pipe/,
  },
  {
    name: "model.safetensors links to /dev/zero (loadSafetensors)",
    run: () => loadSafetensors(devZero(join(tempDir(), "model.safetensors"))),
    error: CheckpointError,
    message: /model\.safetensors: a character device/,
  },
  {
    name: "model.safetensors is a named pipe (from_pretrained)",
    run: () => {
      const dir = withConfig();
      fifo(join(dir, "model.safetensors"));
      return LlamaForCausalLM.from_pretrained(dir);
    },
    error: CheckpointError,
    message: /model\.safetensors/,
  },
  {
    name: "model.safetensors.index.json is a named pipe",
    run: () => {
      const dir = withConfig();
      fifo(join(dir, "model.safetensors.index.json"));
      return loadCheckpointTensors(dir);
    },
    error: CheckpointError,
    message: /model\.safetensors\.index\.json/,
  },
  {
    name: "a shard named by the index is a named pipe",
    run: () => {
      const dir = withConfig();
      writeFileSync(
        join(dir, "model.safetensors.index.json"),
        JSON.stringify({ metadata: {}, weight_map: { "lm_head.weight": "model-00001-of-00001.safetensors" } }),
      );
      fifo(join(dir, "model-00001-of-00001.safetensors"));
      return loadCheckpointTensors(dir);
    },
    error: CheckpointError,
    message: /model-00001-of-00001\.safetensors/,
  },
  {
    name: "from_pretrained(123)",
    run: () => LlamaForCausalLM.from_pretrained(123 as unknown as string),
    error: ValueError,
    message: /pretrained_model_name_or_path: expected a non-empty path string, got number 123/,
  },
  {
    name: "LlamaTokenizerFast.from_pretrained(dir, null)",
    run: () => LlamaTokenizerFast.from_pretrained(tokenizerFolder(), null as never),
    error: ValueError,
    message: /kwargs: expected an options object/,
  },
  {
    name: "LlamaConfig.from_pretrained(undefined)",
    run: () => LlamaConfig.from_pretrained(undefined as never),
    error: ValueError,
    message: /pretrained_model_name_or_path/,
  },
];

/** A fresh folder whose `name` is a FIFO. */
function fifoDir(name: string): string {
  const dir = tempDir();
  fifo(join(dir, name));
  return dir;
}
