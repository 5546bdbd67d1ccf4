/**
 * `llama-ts parity [--models DIR]`: run every HF reference case (default ../shared/reference/models) and print,
 * per checkpoint, the largest measured difference of each kind against HF's numbers and the tolerance it is
 * held to. Exit code 1 when any check fails. `--dtype bfloat16` runs HF's bfloat16-compute references
 * (cases_bf16.json, with their per-kind tolerances and mismatch shares), `--dtype float16` the float32 cases on a
 * float16 model; `--attn_implementation` picks eager, sdpa or flash_attention_2.
 */
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { CheckpointError, ValueError } from "../errors.ts";
import { ATTN_IMPLEMENTATIONS, type AttnImplementation } from "../integrations/attention.ts";
import { runHalfPrecisionCases, runReferenceCases, type Check } from "../testing/reference_cases.ts";
import { parseFlags } from "./args.ts";

export const PARITY_HELP = `Measure llama-ts against HF transformers' own outputs on reference checkpoints.

Usage: llama-ts parity [--models DIR] [--dtype D] [--attn_implementation A] [--verbose]

  --models DIR             a folder of checkpoint folders, each with cases.json + reference.safetensors
                           (default: ../shared/reference/models)
  --dtype D                float32 (default); bfloat16: the cases_bf16.json references (HF computing in
                           bfloat16), their tolerances and mismatch shares; float16: the float32 cases on a
                           float16 model, 2-byte tolerances
  --attn_implementation A  eager (default), sdpa or flash_attention_2 (float32 only)
  --verbose                print every check, not only the per-checkpoint maxima
`;

function group(name: string): string {
  if (/attention weights|attentions\[|rotary/.test(name)) return "probabilities";
  if (/loss/.test(name) && !/shape/.test(name)) return "losses";
  if (/token|ids|index|count|error|problem_type|shape/.test(name)) return "exact";
  return "activations";
}

export async function runParity(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, {
    models: { type: "string" },
    verbose: { type: "boolean" },
    dtype: { type: "string" },
    attn_implementation: { type: "string" },
  });
  const dtype = (flags.dtype as string | undefined) ?? "float32";
  if (!["float32", "bfloat16", "float16"].includes(dtype))
    throw new ValueError(`--dtype: expected float32, bfloat16 or float16, got ${JSON.stringify(dtype)}`);
  const attn = ((flags.attn_implementation as string | undefined) ?? "eager") as AttnImplementation;
  if (!ATTN_IMPLEMENTATIONS.includes(attn))
    throw new ValueError(`--attn_implementation: expected one of ${ATTN_IMPLEMENTATIONS.join(", ")}, got ${attn}`);
  const casesFile = dtype === "bfloat16" ? "cases_bf16.json" : "cases.json";
  const root = resolve((flags.models as string | undefined) ?? "../shared/reference/models");
  if (!existsSync(root)) throw new CheckpointError(root, "no such folder (pass --models DIR)");
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
