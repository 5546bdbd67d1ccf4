/**
 * `llama-ts export-gguf --model DIR --out FILE [--dtype f32|f16]`: an HF Llama checkpoint folder (config.json,
 * safetensors, tokenizer.model) as a GGUF v3 file llama.cpp loads (src/formats/gguf.ts).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { CheckpointError } from "../errors.ts";
import { loadCheckpointTensors } from "../formats/checkpoint.ts";
import { writeLlamaGguf } from "../formats/gguf.ts";
import { checkFolder, flagHelp, parseFlags, type FlagTable } from "./args.ts";

const FLAGS = {
  model: {
    type: "string",
    arg: "DIR",
    required: true,
    help: "folder with config.json, model.safetensors (or shards) and tokenizer.model",
  },
  out: { type: "string", arg: "FILE", required: true, help: "the .gguf file to write" },
  dtype: {
    type: "choice",
    choices: ["f32", "f16"],
    arg: "T",
    help: "f32 or f16 for the matrices (default f16); norms stay f32, as convert_hf_to_gguf.py writes them",
  },
} as const satisfies FlagTable;

export const EXPORT_GGUF_HELP = `Write an HF Llama checkpoint folder as a GGUF v3 file for llama.cpp.

Usage: llama-ts export-gguf --model DIR --out FILE [--dtype f32|f16]

${flagHelp(FLAGS)}`;

export async function runExportGguf(argv: string[]): Promise<void> {
  const flags = parseFlags("export-gguf", argv, FLAGS);
  checkFolder("model", flags.model!);
  const dtype = (flags.dtype ?? "f16") as "f32" | "f16"; // one of the choices: parseFlags checked it
  const dir = flags.model!;
  const configPath = path.join(dir, "config.json");
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (e) {
    throw new CheckpointError(configPath, `cannot read config.json (${(e as Error).message})`);
  }
  const { tensors } = await loadCheckpointTensors(dir);
  const log = (s: string) => process.stderr.write(s + "\n");
  log(`export-gguf: ${tensors.size} tensors from ${dir} -> ${flags.out!} (${dtype})`);
  const bytes = await writeLlamaGguf(flags.out!, config, tensors, path.join(dir, "tokenizer.model"), { dtype, log });
  process.stdout.write(`wrote ${flags.out!} (${(bytes / 2 ** 20).toFixed(1)} MiB)\n`);
}
