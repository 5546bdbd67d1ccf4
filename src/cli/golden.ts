/**
 * `llama-ts golden --out DIR (--config FILE|PRESET --seed N | --model DIR)`: write golden fixtures for ports
 * (checkpoint/, fixtures.safetensors, manifest.json, ...; see golden/README.md). Progress goes to stderr.
 */
import { checkFolder, flagHelp, parseFlags, type FlagTable, UsageError } from "./args.ts";

const DTYPES = ["float32", "float16", "bfloat16"] as const;

const FLAGS = {
  out: {
    type: "string",
    arg: "DIR",
    required: true,
    help: "output folder: checkpoint/, fixtures.safetensors, manifest.json, ...",
  },
  config: {
    type: "string",
    arg: "FILE|PRESET",
    help: "a config.json, or a preset: mha, gqa, mqa, bias_yarn, llama3_tied, tp2_longrope, fp16, bf16, classifier, llama2_tokenizer",
  },
  seed: { type: "int", min: 0, max: 2 ** 32 - 1, help: "seed of the random initialisation (default 0)" },
  model: { type: "string", arg: "DIR", help: "an existing HF checkpoint folder instead of --config" },
  prompt: {
    type: "strings",
    arg: "TEXT",
    help: "a prompt (repeatable; needs a tokenizer); default: seeded random ids",
  },
  "max-new-tokens": { type: "int", min: 1, max: 4096, help: "tokens of the greedy case (default 6)" },
  max_new_tokens: { type: "int", min: 1, max: 4096, help: "the same, HF's spelling" },
  torch_dtype: {
    type: "choice",
    choices: DTYPES,
    arg: "T",
    help: "storage dtype of the written weights (fixtures are computed in float32 from them, HF's default load)",
  },
} as const satisfies FlagTable;

export const GOLDEN_HELP = `Write golden fixtures (an HF checkpoint and every module's inputs/outputs) for other ports.

Usage: llama-ts golden --out DIR (--config FILE|PRESET [--seed N] | --model DIR) [options]

${flagHelp(FLAGS)}`;

export async function runGolden(argv: string[]): Promise<void> {
  const v = parseFlags("golden", argv, FLAGS);
  if ((v.config === undefined) === (v.model === undefined))
    throw new UsageError("give either --config FILE|PRESET or --model DIR");
  if (v.model !== undefined && v.seed !== undefined) throw new UsageError("--seed applies to --config, not --model");
  if (v.model !== undefined) checkFolder("model", v.model);
  const seed = v.seed ?? 0;
  const max_new_tokens = v["max-new-tokens"] ?? v.max_new_tokens;
  const dtype = v.torch_dtype;
  const { writeGolden } = await import("../golden/writer.ts");
  const command = ["llama-ts", "golden", ...argv]
    .map((a) => (/^[\w./:=-]+$/.test(a) ? a : JSON.stringify(a)))
    .join(" ");
  const summary = await writeGolden({
    out: v.out!,
    config: v.config,
    model: v.model,
    seed,
    prompts: v.prompt,
    max_new_tokens,
    torch_dtype: dtype as (typeof DTYPES)[number] | undefined,
    command,
    progress: (line) => process.stderr.write(line + "\n"),
  });
  process.stdout.write(
    `${v.out!}: ${summary.cases} cases, ${summary.tensors} tensors (${(summary.bytes / 1e6).toFixed(2)} MB of fixtures)\n`,
  );
}
