/** Flag parsing shared by the llama-ts commands: strict, with one-line errors. */
import { parseArgs } from "node:util";
import { LlamaError } from "../errors.ts";

/** Parse flags strictly; an unknown flag is a one-line usage error. */
export function parseFlags(
  argv: string[],
  options: Record<string, { type: "string" | "boolean" }>,
): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A numeric flag, checked. */
export function numberFlag(
  value: unknown,
  name: string,
  opts: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    !Number.isFinite(n) ||
    (opts.integer && !Number.isInteger(n)) ||
    (opts.min !== undefined && n < opts.min) ||
    (opts.max !== undefined && n > opts.max)
  ) {
    throw new UsageError(
      `--${name}: expected ${opts.integer ? "an integer" : "a number"}${opts.min !== undefined ? ` >= ${opts.min}` : ""}${opts.max !== undefined ? ` <= ${opts.max}` : ""}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** A bad command line: unknown flag, missing or malformed value. */
export class UsageError extends LlamaError {}
