/**
 * `llama-ts parity --reference DIR`: run every HF reference case of DIR/models and print,
 * per checkpoint, the largest measured difference of each kind against HF's numbers and the tolerance it is
 * held to. Exit code 1 when any check fails.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { CheckpointError } from "../errors.ts";
import { runReferenceCases, type Check } from "../testing/reference_cases.ts";
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
} satisfies FlagTable;

export const PARITY_HELP = `Measure llama-ts against HF transformers' own outputs on reference checkpoints.

Usage: llama-ts parity (--reference DIR | --models DIR) [--verbose]

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
