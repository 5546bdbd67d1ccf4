/**
 * `llama-ts parity --reference DIR`: run every HF reference case of DIR/models and print,
 * per checkpoint, the largest measured difference of each kind against HF's numbers and the tolerance it is
 * held to. Exit code 1 when any check fails. `--dtype bfloat16` runs HF's bfloat16-compute references
 * (cases_bf16.json, with their per-kind tolerances and mismatch shares), `--dtype float16` the float32 cases on a
 * float16 model; `--attn_implementation` picks eager, sdpa or flash_attention_2.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { CheckpointError } from "../errors.ts";
import { ATTN_IMPLEMENTATIONS, type AttnImplementation } from "../integrations/attention.ts";
import { runHalfPrecisionCases, runReferenceCases, type Check } from "../testing/reference_cases.ts";
import { checkFolder, flagHelp, parseFlags, UsageError, type FlagTable } from "./args.ts";

const PARITY_FLAGS = {
  reference: {
    type: "string",
    arg: "DIR",
    help: "the reference folder, holding models/ (default: $LLAMA_TS_REFERENCE)",
  },
  models: {
    type: "string",
    arg: "DIR",
    help: "a folder of checkpoint folders with cases.json (default: REFERENCE/models)",
  },
  verbose: { type: "boolean", help: "print every check, not only the per-checkpoint maxima" },
  dtype: {
    type: "choice",
    choices: ["float32", "bfloat16", "float16"],
    help: "float32 (default); bfloat16: HF's bfloat16-compute references (cases_bf16.json) with their tolerances and mismatch shares; float16: the float32 cases on a float16 model, 2-byte tolerances",
  },
  attn_implementation: {
    type: "choice",
    choices: ATTN_IMPLEMENTATIONS,
    help: "eager (default), sdpa or flash_attention_2 (float32 runs)",
  },
} satisfies FlagTable;

export const PARITY_HELP = `Measure llama-ts against HF transformers' own outputs on reference checkpoints.

Usage: llama-ts parity (--reference DIR | --models DIR) [--dtype D] [--attn_implementation A] [--verbose]

Each checkpoint folder holds config.json, model.safetensors, cases.json and reference.safetensors (inputs and
HF's outputs). The reference folder can also be given as the environment variable LLAMA_TS_REFERENCE.

${flagHelp(PARITY_FLAGS)}`;

function group(name: string): string {
  if (/attention weights|attentions\[|rotary/.test(name)) return "probabilities";
  if (/loss/.test(name) && !/shape/.test(name)) return "losses";
  if (/token|ids|index|count|error|problem_type|shape/.test(name)) return "exact";
  return "activations";
}

export async function runParity(argv: string[]): Promise<void> {
  const flags = parseFlags("parity", argv, PARITY_FLAGS);
  if (flags.models !== undefined) checkFolder("models", flags.models);
  else if (flags.reference !== undefined) checkFolder("reference", flags.reference);
  else if (process.env.LLAMA_TS_REFERENCE) checkFolder("reference", process.env.LLAMA_TS_REFERENCE);
  else throw new UsageError("--reference: required (or --models DIR, or the environment variable LLAMA_TS_REFERENCE)");
  const root = resolve(flags.models ?? join(flags.reference ?? process.env.LLAMA_TS_REFERENCE!, "models"));
  if (!existsSync(root)) throw new UsageError(`--reference: no models folder inside ${JSON.stringify(dirname(root))}`);
  const dtype = flags.dtype ?? "float32";
  const attn = (flags.attn_implementation ?? "eager") as AttnImplementation;
  const casesFile = dtype === "bfloat16" ? "cases_bf16.json" : "cases.json";
  const names = readdirSync(root)
    .filter((n) => existsSync(join(root, n, casesFile)))
    .sort();
  if (names.length === 0) throw new CheckpointError(root, `no checkpoint folder with a ${casesFile} inside`);
  if (dtype !== "float32")
    process.stdout.write(
      `${dtype} compute: tolerances per kind from ${dtype === "bfloat16" ? "each cases_bf16.json" : "the README's bfloat16 section (element bounds)"}; the float32 ones in the header do not apply.\n`,
    );
  let failures = 0;
  let total = 0;
  const overall: Record<string, number> = {};
  process.stdout.write(
    `${"checkpoint".padEnd(22)} ${"cases".padStart(5)} ${"checks".padStart(6)}  max |diff|: activations (tol 1e-4+1e-4|ref|)  probabilities (tol 1e-5)  losses (tol 1e-5+1e-5|ref|)  exact\n`,
  );
  for (const name of names) {
    process.stderr.write(`running ${name} ...\n`);
    const results =
      dtype === "float32"
        ? await runReferenceCases(join(root, name), undefined, { attn_implementation: attn })
        : await runHalfPrecisionCases(join(root, name), dtype as "bfloat16" | "float16");
    const checks: Check[] = results.flatMap((r) => r.checks.map((c) => ({ ...c, name: `${r.case}: ${c.name}` })));
    const max: Record<string, number> = { activations: 0, probabilities: 0, losses: 0 };
    let exactBad = 0;
    for (const c of checks) {
      total++;
      if (!c.ok) failures++;
      if (c.name.startsWith("mismatch fractions: ")) {
        process.stdout.write(`  ${c.ok ? "ok  " : "FAIL"} ${name} mismatch share ${c.message}\n`);
        continue;
      }
      const g = group(c.name.split(": ").slice(1).join(": "));
      if (g === "exact") exactBad += c.ok ? 0 : 1;
      else {
        max[g] = Math.max(max[g], c.max_abs_diff);
        overall[g] = Math.max(overall[g] ?? 0, c.max_abs_diff);
      }
      if (flags.verbose || !c.ok) process.stdout.write(`  ${c.ok ? "ok  " : "FAIL"} ${name} ${c.message}\n`);
    }
    const fmt = (v: number) => v.toExponential(2).padStart(9);
    process.stdout.write(
      `${name.padEnd(22)} ${String(results.length).padStart(5)} ${String(checks.length).padStart(6)}  ${fmt(max.activations).padStart(38)}  ${fmt(max.probabilities).padStart(24)}  ${fmt(max.losses).padStart(27)}  ${exactBad === 0 ? "all equal" : `${exactBad} differ`}\n`,
    );
  }
  process.stdout.write(
    `\n${total} checks, ${failures} failed. Largest differences: activations ${(overall.activations ?? 0).toExponential(2)}, probabilities ${(overall.probabilities ?? 0).toExponential(2)}, losses ${(overall.losses ?? 0).toExponential(2)}\n`,
  );
  if (failures > 0) process.exitCode = 1;
}
