/**
 * `llama-ts verify --golden DIR --actual FILE.safetensors [--map RULES.json]`: compare another port's tensors
 * with a golden folder; prints a table of the failing tensors and hints, exits 1 when anything fails.
 */
import { checkFolder, flagHelp, parseFlags, type FlagTable } from "./args.ts";

const FLAGS = {
  golden: { type: "string", arg: "DIR", required: true, help: "a golden folder (manifest.json, fixtures.safetensors)" },
  actual: {
    type: "string",
    arg: "FILE",
    required: true,
    help: "a safetensors file of the port's tensors, named by the golden naming rule",
  },
  map: {
    type: "string",
    arg: "RULES.json",
    help: 'rename the actual names first: [["regex", "replacement"], ...], applied in order',
  },
  "only-failed": { type: "boolean", help: "list only the tensors that fail" },
  strict: { type: "boolean", help: "also fail when expected tensors are absent" },
} as const satisfies FlagTable;

export const VERIFY_HELP = `Compare another port's outputs with a golden folder (written by llama-ts golden).

Usage: llama-ts verify --golden DIR --actual FILE.safetensors [--map RULES.json] [--only-failed] [--strict]

${flagHelp(FLAGS)}Exit code: 0 all compared tensors pass, 1 a tensor fails (or nothing matched), 2 bad arguments or files.
`;

export async function runVerify(argv: string[]): Promise<void> {
  const flags = parseFlags("verify", argv, FLAGS);
  checkFolder("golden", flags.golden!);
  const { readGolden } = await import("../golden/replay.ts");
  const { verifyGoldenFile, formatReport } = await import("../golden/verify.ts");
  const golden = await readGolden(flags.golden!);
  const report = await verifyGoldenFile(golden, flags.actual!, flags.map);
  process.stdout.write(formatReport(report, { only_failed: flags["only-failed"] === true }));
  const ok = report.ok && !(flags.strict && report.missing.length > 0);
  if (!ok) process.exitCode = 1;
}
