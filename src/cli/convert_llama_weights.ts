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
import { checkFolder, flagHelp, parseFlags, type FlagTable } from "./args.ts";

const TO_HF_FLAGS = {
  input_dir: {
    type: "string",
    arg: "DIR",
    required: true,
    help: "Meta's folder: params.json, consolidated.00.pth ... (tokenizer.model if present)",
  },
  output_dir: {
    type: "string",
    arg: "DIR",
    required: true,
    help: "the HF folder to write: config.json, generation_config.json, model.safetensors, tokenizer files",
  },
  model_size: { type: "choice", choices: Object.keys(NUM_SHARDS), arg: "SIZE", help: "only sets the shard count" },
  num_shards: {
    type: "int",
    min: 1,
    max: 1024,
    help: "model-parallel files (default: the number of consolidated.*.pth files)",
  },
  llama_version: {
    type: "choice",
    choices: LLAMA_VERSIONS,
    arg: "V",
    help: "context length, bos/eos ids, embedding split (default 1, as HF)",
  },
  instruct: {
    type: "boolean",
    help: "Llama 3 instruct: eos [128001, 128008, 128009] and a sampling generation_config (also --instruct True)",
  },
  safe_serialization: {
    type: "choice",
    choices: ["true", "false"],
    arg: "B",
    help: "true (default): model.safetensors; false: pytorch_model.bin (True / False as HF accepted too)",
  },
  torch_dtype: {
    type: "choice",
    choices: ["bfloat16", "float16", "float32"],
    arg: "T",
    help: "bfloat16 (default, what HF's script writes) | float16 | float32 (exact merged values)",
  },
} as const satisfies FlagTable;

const TO_META_FLAGS = {
  input_dir: {
    type: "string",
    arg: "DIR",
    required: true,
    help: "HF folder: config.json + model.safetensors / pytorch_model.bin (or shards)",
  },
  output_dir: {
    type: "string",
    arg: "DIR",
    required: true,
    help: "Meta's folder to write (tokenizer.model is copied when present)",
  },
  num_shards: {
    type: "int",
    min: 1,
    max: 1024,
    help: "model-parallel files to write (default 1; each must hold whole heads)",
  },
  llama_version: {
    type: "choice",
    choices: LLAMA_VERSIONS,
    arg: "V",
    help: "3 splits tok_embeddings along the vocabulary (default 2)",
  },
  torch_dtype: {
    type: "choice",
    choices: ["auto", "float32", "float16", "bfloat16"],
    arg: "T",
    help: "auto (default: as stored) | float32 | float16 | bfloat16",
  },
} as const satisfies FlagTable;

export const CONVERT_TO_HF_HELP = `Convert Meta's original Llama weights (params.json + consolidated.NN.pth) to an HF folder.

Usage: llama-ts convert_llama_weights_to_hf --input_dir DIR --output_dir DIR [options]

${flagHelp(TO_HF_FLAGS)}`;

export const CONVERT_TO_META_HELP = `Convert an HF Llama folder to Meta's original layout (params.json + consolidated.NN.pth).

Usage: llama-ts convert_hf_to_llama_weights --input_dir DIR --output_dir DIR [options]

${flagHelp(TO_META_FLAGS)}`;

function progressPrinter(): (message: string) => void {
  const start = performance.now();
  return (message) => process.stderr.write(`[${((performance.now() - start) / 1000).toFixed(1)}s] ${message}\n`);
}

function listWritten(dir: string): void {
  for (const f of readdirSync(dir).sort()) process.stdout.write(`${dir}/${f}\n`);
}

/**
 * HF declares `--instruct` and `--safe_serialization` with argparse `type=bool`, so its users write
 * `--instruct True` / `--safe_serialization False`; those spellings are rewritten to `--instruct=true` /
 * `--safe_serialization=false` (a bare `--instruct` stays a switch). HF quirk not kept: `bool("False")` is True there.
 */
function normalizeBoolFlags(argv: string[], names: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (
      names.includes(argv[i].slice(2)) &&
      argv[i].startsWith("--") &&
      next !== undefined &&
      /^(true|false)$/i.test(next)
    ) {
      out.push(`${argv[i]}=${next.toLowerCase()}`);
      i++;
    } else out.push(argv[i]);
  }
  return out;
}

export async function runConvertToHf(argv: string[]): Promise<void> {
  const flags = parseFlags(
    "convert_llama_weights_to_hf",
    normalizeBoolFlags(argv, ["instruct", "safe_serialization"]),
    TO_HF_FLAGS,
  );
  checkFolder("input_dir", flags.input_dir!);
  await convert_llama_weights_to_hf({
    input_dir: flags.input_dir!,
    output_dir: flags.output_dir!,
    model_size: flags.model_size,
    num_shards: flags.num_shards,
    llama_version: (flags.llama_version ?? "1") as LlamaVersion,
    instruct: flags.instruct === true,
    safe_serialization: flags.safe_serialization !== "false",
    torch_dtype: (flags.torch_dtype ?? "bfloat16") as OutputDType,
    progress: progressPrinter(),
  });
  listWritten(flags.output_dir!);
}

export async function runConvertToMeta(argv: string[]): Promise<void> {
  const flags = parseFlags("convert_hf_to_llama_weights", argv, TO_META_FLAGS);
  checkFolder("input_dir", flags.input_dir!);
  await convert_hf_to_llama_weights({
    input_dir: flags.input_dir!,
    output_dir: flags.output_dir!,
    num_shards: flags.num_shards ?? 1,
    llama_version: (flags.llama_version ?? "2") as LlamaVersion,
    torch_dtype: (flags.torch_dtype ?? "auto") as "auto" | OutputDType,
    progress: progressPrinter(),
  });
  listWritten(flags.output_dir!);
}
