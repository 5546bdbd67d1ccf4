/**
 * `llama-ts parity [--models DIR]`: run every HF reference case (default ../shared/reference/models) and print,
 * per checkpoint, the largest measured difference of each kind against HF's numbers and the tolerance it is
 * held to. Exit code 1 when any check fails.
 */
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { CheckpointError } from "../errors.ts";
import { runReferenceCases, type Check } from "../testing/reference_cases.ts";
import { parseFlags } from "./args.ts";

export const PARITY_HELP = `Measure llama-ts against HF transformers' own outputs on reference checkpoints.

Usage: llama-ts parity [--models DIR] [--verbose]

  --models DIR   a folder of checkpoint folders, each with cases.json + reference.safetensors
                 (default: ../shared/reference/models)
  --verbose      print every check, not only the per-checkpoint maxima
`;

function group(name: string): string {
  if (/attention weights|attentions\[|rotary/.test(name)) return "probabilities";
  if (/loss/.test(name) && !/shape/.test(name)) return "losses";
  if (/token|ids|index|count|error|problem_type|shape/.test(name)) return "exact";
  return "activations";
}

export async function runParity(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, { models: { type: "string" }, verbose: { type: "boolean" } });
  const root = resolve((flags.models as string | undefined) ?? "../shared/reference/models");
  if (!existsSync(root)) throw new CheckpointError(root, "no such folder (pass --models DIR)");
  const names = readdirSync(root)
    .filter((n) => existsSync(join(root, n, "cases.json")))
    .sort();
  if (names.length === 0) throw new CheckpointError(root, "no checkpoint folder with a cases.json inside");
  let failures = 0;
  let total = 0;
  const overall: Record<string, number> = {};
  process.stdout.write(
    `${"checkpoint".padEnd(22)} ${"cases".padStart(5)} ${"checks".padStart(6)}  max |diff|: activations (tol 1e-4+1e-4|ref|)  probabilities (tol 1e-5)  losses (tol 1e-5+1e-5|ref|)  exact\n`,
  );
  for (const name of names) {
    process.stderr.write(`running ${name} ...\n`);
    const results = await runReferenceCases(join(root, name));
    const checks: Check[] = results.flatMap((r) => r.checks.map((c) => ({ ...c, name: `${r.case}: ${c.name}` })));
    const max: Record<string, number> = { activations: 0, probabilities: 0, losses: 0 };
    let exactBad = 0;
    for (const c of checks) {
      total++;
      if (!c.ok) failures++;
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
