/**
 * `llama-ts golden --out DIR (--config FILE|PRESET --seed N | --model DIR)`: write golden fixtures for ports
 * (checkpoint/, fixtures.safetensors, manifest.json, ...; see golden/README.md). Progress goes to stderr.
 */
import { parseArgs } from "node:util";
import { numberFlag, UsageError } from "./args.ts";

export const GOLDEN_HELP = `Write golden fixtures (an HF checkpoint and every module's inputs/outputs) for other ports.

Usage: llama-ts golden --out DIR (--config FILE|PRESET [--seed N] | --model DIR) [options]

  --out DIR                 output folder: checkpoint/, fixtures.safetensors, manifest.json, ...
  --config FILE|PRESET      a config.json, or a preset: mha, gqa, mqa, bias_yarn, llama3_tied, tp2_longrope,
                            fp16, bf16, classifier, llama2_tokenizer
  --seed N                  seed of the random initialisation (default 0)
  --model DIR               an existing HF checkpoint folder instead of --config
  --prompt TEXT             a prompt (repeatable; needs a tokenizer); default: seeded random ids
  --max-new-tokens N        tokens of the greedy case (default 6)
  --torch_dtype T           storage dtype of the written weights: float32 | float16 | bfloat16
                            (fixtures are computed in float32 from those weights, HF's default load)
`;

const DTYPES = ["float32", "float16", "bfloat16"] as const;

export async function runGolden(argv: string[]): Promise<void> {
  let v: Record<string, string | string[] | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        out: { type: "string" },
        config: { type: "string" },
        seed: { type: "string" },
        model: { type: "string" },
        prompt: { type: "string", multiple: true },
        "max-new-tokens": { type: "string" },
        max_new_tokens: { type: "string" },
        torch_dtype: { type: "string" },
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (typeof v.out !== "string" || v.out === "") throw new UsageError("--out DIR is required");
  if ((v.config === undefined) === (v.model === undefined))
    throw new UsageError("give either --config FILE|PRESET or --model DIR");
  if (v.model !== undefined && v.seed !== undefined) throw new UsageError("--seed applies to --config, not --model");
  const seed = numberFlag(v.seed, "seed", { integer: true, min: 0, max: 2 ** 32 - 1 }) ?? 0;
  const max_new_tokens = numberFlag(v["max-new-tokens"] ?? v.max_new_tokens, "max-new-tokens", {
    integer: true,
    min: 1,
    max: 4096,
  });
  const dtype = v.torch_dtype as string | undefined;
  if (dtype !== undefined && !(DTYPES as readonly string[]).includes(dtype))
    throw new UsageError(`--torch_dtype: expected one of ${DTYPES.join(", ")}, got ${JSON.stringify(dtype)}`);
  const { writeGolden } = await import("../golden/writer.ts");
  const command = ["llama-ts", "golden", ...argv]
    .map((a) => (/^[\w./:=-]+$/.test(a) ? a : JSON.stringify(a)))
    .join(" ");
  const summary = await writeGolden({
    out: v.out,
    config: v.config as string | undefined,
    model: v.model as string | undefined,
    seed,
    prompts: v.prompt as string[] | undefined,
    max_new_tokens,
    torch_dtype: dtype as (typeof DTYPES)[number] | undefined,
    command,
    progress: (line) => process.stderr.write(line + "\n"),
  });
  process.stdout.write(
    `${v.out}: ${summary.cases} cases, ${summary.tensors} tensors (${(summary.bytes / 1e6).toFixed(2)} MB of fixtures)\n`,
  );
}
