/**
 * `llama-ts convert_llama_weights_to_hf`: HF's `convert_llama_weights_to_hf.py` (transformers 4.44.2) with its
 * flags, and `llama-ts convert_hf_to_llama_weights`, its inverse. Files written are listed on stdout; progress
 * (with elapsed seconds) goes to stderr.
 */
import { readdirSync } from "node:fs";
import { convert_hf_to_llama_weights } from "../models/llama/convert_hf_to_llama_weights.ts";
import {
  LLAMA_VERSIONS,
  type LlamaVersion,
  NUM_SHARDS,
  type OutputDType,
  convert_llama_weights_to_hf,
} from "../models/llama/convert_llama_weights_to_hf.ts";
import { numberFlag, parseFlags, UsageError } from "./args.ts";

export const CONVERT_TO_HF_HELP = `Convert Meta's original Llama weights (params.json + consolidated.NN.pth) to an HF folder.

Usage: llama-ts convert_llama_weights_to_hf --input_dir DIR --output_dir DIR [options]

  --input_dir DIR          Meta's folder: params.json, consolidated.00.pth ... (tokenizer.model if present)
  --output_dir DIR         the HF folder to write: config.json, generation_config.json, model.safetensors,
                           tokenizer files (from tokenizer.model, Llama 1/2)
  --model_size SIZE        ${Object.keys(NUM_SHARDS).join(", ")}: only sets the shard count
  --num_shards N           model-parallel files (default: the number of consolidated.*.pth files)
  --llama_version V        1 | 2 | 3 | 3.1 (default 1, as HF): context length, bos/eos ids, embedding split
  --instruct               Llama 3 instruct: eos [128001, 128008, 128009] and a sampling generation_config
  --safe_serialization B   true (default): model.safetensors; false: pytorch_model.bin
  --torch_dtype T          bfloat16 (default, what HF's script writes) | float16 | float32 (exact merged values)
`;

export const CONVERT_TO_META_HELP = `Convert an HF Llama folder to Meta's original layout (params.json + consolidated.NN.pth).

Usage: llama-ts convert_hf_to_llama_weights --input_dir DIR --output_dir DIR [options]

  --input_dir DIR          HF folder: config.json + model.safetensors / pytorch_model.bin (or shards)
  --output_dir DIR         Meta's folder to write (tokenizer.model is copied when present)
  --num_shards N           model-parallel files to write (default 1; each must hold whole heads)
  --llama_version V        1 | 2 | 3 | 3.1 (default 2): 3 splits tok_embeddings along the vocabulary
  --torch_dtype T          auto (default: as stored) | float32 | float16 | bfloat16
`;

function progressPrinter(): (message: string) => void {
  const start = performance.now();
  return (message) => process.stderr.write(`[${((performance.now() - start) / 1000).toFixed(1)}s] ${message}\n`);
}

function requireDir(flags: Record<string, unknown>, name: string): string {
  const v = flags[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} DIR is required`);
  return v;
}

function versionFlag(v: unknown, fallback: LlamaVersion): LlamaVersion {
  if (v === undefined) return fallback;
  if (!LLAMA_VERSIONS.includes(v as LlamaVersion))
    throw new UsageError(`--llama_version: expected ${LLAMA_VERSIONS.join(", ")}, got ${JSON.stringify(v)}`);
  return v as LlamaVersion;
}

function listWritten(dir: string): void {
  for (const f of readdirSync(dir).sort()) process.stdout.write(`${dir}/${f}\n`);
}

export async function runConvertToHf(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, {
    input_dir: { type: "string" },
    output_dir: { type: "string" },
    model_size: { type: "string" },
    num_shards: { type: "string" },
    llama_version: { type: "string" },
    instruct: { type: "boolean" },
    safe_serialization: { type: "string" },
    torch_dtype: { type: "string" },
  });
  const input_dir = requireDir(flags, "input_dir");
  const output_dir = requireDir(flags, "output_dir");
  const model_size = flags.model_size as string | undefined;
  if (model_size !== undefined && !Object.hasOwn(NUM_SHARDS, model_size))
    throw new UsageError(
      `--model_size: expected one of ${Object.keys(NUM_SHARDS).join(", ")}, got ${JSON.stringify(model_size)}`,
    );
  const safe = flags.safe_serialization;
  if (safe !== undefined && safe !== "true" && safe !== "false")
    throw new UsageError(`--safe_serialization: expected true or false, got ${JSON.stringify(safe)}`);
  const torch_dtype = (flags.torch_dtype ?? "bfloat16") as OutputDType;
  if (!["bfloat16", "float16", "float32"].includes(torch_dtype))
    throw new UsageError(`--torch_dtype: expected bfloat16, float16 or float32, got ${JSON.stringify(torch_dtype)}`);
  await convert_llama_weights_to_hf({
    input_dir,
    output_dir,
    model_size,
    num_shards: numberFlag(flags.num_shards, "num_shards", { integer: true, min: 1 }),
    llama_version: versionFlag(flags.llama_version, "1"),
    instruct: flags.instruct === true,
    safe_serialization: safe !== "false",
    torch_dtype,
    progress: progressPrinter(),
  });
  listWritten(output_dir);
}

export async function runConvertToMeta(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, {
    input_dir: { type: "string" },
    output_dir: { type: "string" },
    num_shards: { type: "string" },
    llama_version: { type: "string" },
    torch_dtype: { type: "string" },
  });
  const input_dir = requireDir(flags, "input_dir");
  const output_dir = requireDir(flags, "output_dir");
  const torch_dtype = (flags.torch_dtype ?? "auto") as "auto" | OutputDType;
  if (!["auto", "bfloat16", "float16", "float32"].includes(torch_dtype))
    throw new UsageError(
      `--torch_dtype: expected auto, bfloat16, float16 or float32, got ${JSON.stringify(torch_dtype)}`,
    );
  await convert_hf_to_llama_weights({
    input_dir,
    output_dir,
    num_shards: numberFlag(flags.num_shards, "num_shards", { integer: true, min: 1 }) ?? 1,
    llama_version: versionFlag(flags.llama_version, "2"),
    torch_dtype,
    progress: progressPrinter(),
  });
  listWritten(output_dir);
}
