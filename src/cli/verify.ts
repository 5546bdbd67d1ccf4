/**
 * `llama-ts verify --golden DIR --actual FILE.safetensors [--map RULES.json]`: compare another port's tensors
 * with a golden folder; prints a table of the failing tensors and hints, exits 1 when anything fails.
 */
import { parseFlags, UsageError } from "./args.ts";

export const VERIFY_HELP = `Compare another port's outputs with a golden folder (written by llama-ts golden).

Usage: llama-ts verify --golden DIR --actual FILE.safetensors [--map RULES.json] [--only-failed] [--strict]

  --golden DIR      a golden folder (manifest.json, fixtures.safetensors)
  --actual FILE     a safetensors file of the port's tensors, named by the golden naming rule
  --map RULES.json  rename the actual names first: [["regex", "replacement"], ...], applied in order
  --only-failed     list only the tensors that fail
  --strict          also fail when expected tensors are absent
Exit code: 0 all compared tensors pass, 1 a tensor fails (or nothing matched), 2 bad arguments or files.
`;

export async function runVerify(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, {
    golden: { type: "string" },
    actual: { type: "string" },
    map: { type: "string" },
    "only-failed": { type: "boolean" },
    strict: { type: "boolean" },
  });
  if (typeof flags.golden !== "string" || flags.golden === "") throw new UsageError("--golden DIR is required");
  if (typeof flags.actual !== "string" || flags.actual === "") throw new UsageError("--actual FILE is required");
  const { readGolden } = await import("../golden/replay.ts");
  const { verifyGoldenFile, formatReport } = await import("../golden/verify.ts");
  const golden = await readGolden(flags.golden);
  const report = await verifyGoldenFile(golden, flags.actual, flags.map as string | undefined);
  process.stdout.write(formatReport(report, { only_failed: flags["only-failed"] === true }));
  const ok = report.ok && !(flags.strict && report.missing.length > 0);
  if (!ok) process.exitCode = 1;
}
