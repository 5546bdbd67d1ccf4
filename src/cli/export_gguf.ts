/**
 * `llama-ts export-gguf --model DIR --out FILE [--dtype f32|f16]`: an HF Llama checkpoint folder (config.json,
 * safetensors, tokenizer.model) as a GGUF v3 file llama.cpp loads (src/formats/gguf.ts).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { CheckpointError } from "../errors.ts";
import { loadCheckpointTensors } from "../formats/checkpoint.ts";
import { writeLlamaGguf } from "../formats/gguf.ts";
import { UsageError, parseFlags } from "./args.ts";

export const EXPORT_GGUF_HELP = `Write an HF Llama checkpoint folder as a GGUF v3 file for llama.cpp.

Usage: llama-ts export-gguf --model DIR --out FILE [--dtype f32|f16]

  --model DIR     folder with config.json, model.safetensors (or shards) and tokenizer.model
  --out FILE      the .gguf file to write
  --dtype T       f32 or f16 for the matrices (default f16); norms stay f32, as convert_hf_to_gguf.py writes them
`;

export async function runExportGguf(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, { model: { type: "string" }, out: { type: "string" }, dtype: { type: "string" } });
  if (typeof flags.model !== "string") throw new UsageError("--model DIR is required");
  if (typeof flags.out !== "string") throw new UsageError("--out FILE is required");
  const dtype = (flags.dtype ?? "f16") as string;
  if (dtype !== "f32" && dtype !== "f16")
    throw new UsageError(`--dtype: expected f32 or f16, got ${JSON.stringify(dtype)}`);
  const dir = flags.model;
  const configPath = path.join(dir, "config.json");
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (e) {
    throw new CheckpointError(configPath, `cannot read config.json (${(e as Error).message})`);
  }
  const { tensors } = await loadCheckpointTensors(dir);
  const log = (s: string) => process.stderr.write(s + "\n");
  log(`export-gguf: ${tensors.size} tensors from ${dir} -> ${flags.out} (${dtype})`);
  const bytes = await writeLlamaGguf(flags.out, config, tensors, path.join(dir, "tokenizer.model"), { dtype, log });
  process.stdout.write(`wrote ${flags.out} (${(bytes / 2 ** 20).toFixed(1)} MiB)\n`);
}
