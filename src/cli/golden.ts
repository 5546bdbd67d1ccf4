/**
 * `llama-ts golden --out DIR (--config FILE|PRESET --seed N | --model DIR)`: write golden fixtures for ports
 * (checkpoint/, fixtures.safetensors, manifest.json, ...; see golden/README.md). Progress goes to stderr.
 */
import { GOLDEN_PRESETS } from "../golden/presets.ts";
import { checkFolder, flagHelp, parseFlags, UsageError, type FlagTable } from "./args.ts";

const GOLDEN_FLAGS = {
  out: {
    type: "string",
    arg: "DIR",
    required: true,
    help: "output folder: checkpoint/, fixtures.safetensors, manifest.json",
  },
  config: {
    type: "string",
    arg: "FILE|PRESET",
    help: `a config.json, or a preset: ${Object.keys(GOLDEN_PRESETS).join(", ")}`,
  },
  seed: { type: "int", min: 0, max: 2 ** 32 - 1, help: "seed of the random initialisation with --config (default 0)" },
  model: { type: "string", arg: "DIR", help: "an existing HF checkpoint folder instead of --config" },
  prompt: { type: "string", arg: "TEXT", help: "a prompt (repeatable; needs a tokenizer); default: seeded random ids" },
  "max-new-tokens": { type: "int", min: 1, max: 4096, help: "tokens of the greedy case (default 6)" },
  torch_dtype: {
    type: "choice",
    choices: ["float32", "float16", "bfloat16"],
    arg: "T",
    help: "storage dtype of the written weights (fixtures are float32 compute from them, HF's default load)",
  },
} satisfies FlagTable;

export const GOLDEN_HELP = `Write golden fixtures (an HF checkpoint and every module's inputs/outputs) for other ports.

Usage: llama-ts golden --out DIR (--config FILE|PRESET [--seed N] | --model DIR) [options]

${flagHelp(GOLDEN_FLAGS)}`;

export async function runGolden(argv: string[]): Promise<void> {
  // --prompt may repeat: collect its values, check the rest against the table
  const prompts: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--prompt" || argv[i].startsWith("--prompt=")) {
      const value = argv[i].startsWith("--prompt=") ? argv[i].slice("--prompt=".length) : argv[++i];
      if (value === undefined) throw new UsageError("--prompt: expected a value");
      prompts.push(value);
    } else rest.push(argv[i]);
  }
  const flags = parseFlags("golden", rest, GOLDEN_FLAGS);
  if ((flags.config === undefined) === (flags.model === undefined))
    throw new UsageError("--config: give either --config FILE|PRESET or --model DIR");
  if (flags.model !== undefined) {
    if (flags.seed !== undefined) throw new UsageError("--seed: applies to --config, not --model");
    checkFolder("model", flags.model);
  }
  const { writeGolden } = await import("../golden/writer.ts");
  const command = ["llama-ts", "golden", ...argv]
    .map((a) => (/^[\w./:=-]+$/.test(a) ? a : JSON.stringify(a)))
    .join(" ");
  const summary = await writeGolden({
    out: flags.out!,
    config: flags.config,
    model: flags.model,
    seed: flags.seed ?? 0,
    prompts,
    max_new_tokens: flags["max-new-tokens"],
    torch_dtype: flags.torch_dtype as "float32" | "float16" | "bfloat16" | undefined,
    command,
    progress: (line) => process.stderr.write(line + "\n"),
  });
  process.stdout.write(
    `${flags.out}: ${summary.cases} cases, ${summary.tensors} tensors (${(summary.bytes / 1e6).toFixed(2)} MB of fixtures)\n`,
  );
}
