/**
 * Checks of public arguments: each throws a typed ValueError naming the argument and what was expected, where
 * JavaScript would otherwise fail later with a raw TypeError ("Cannot read properties of undefined") far from
 * the mistake. Python gets most of these from its signatures (a missing positional argument, `**kwargs` that
 * must be a mapping); here they are explicit.
 */
import { ValueError } from "../errors.ts";

/** A short description of a value for messages: `number 123`, `null`, `array`, `string "abc"`. */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v)}`;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return `${typeof v} ${String(v)}`;
  if (typeof v === "object") return `an object of class ${(v as object).constructor?.name ?? "null-prototype"}`;
  return typeof v;
}

/** `opts` must be undefined (the defaults) or a plain options object: not null, an array, or a primitive. */
export function checkOptions<T extends object>(opts: T | undefined, name: string): T | Record<string, never> {
  if (opts === undefined) return {};
  if (typeof opts !== "object" || opts === null || Array.isArray(opts))
    throw new ValueError(`${name}: expected an options object or undefined, got ${describeValue(opts)}`);
  return opts;
}

/** A folder or file path argument: a non-empty string. */
export function checkPath(path: unknown, name: string): string {
  if (typeof path !== "string" || path.length === 0)
    throw new ValueError(`${name}: expected a non-empty path string, got ${describeValue(path)}`);
  return path;
}

/**
 * The hard bound on positions, as a multiple of `max_position_embeddings`. Past max_position_embeddings a model
 * runs on rotary angles it was not trained on (HF warns, as here); rope scaling such as dynamic NTK is made for
 * a few times that. Beyond MAX_POSITION_MULTIPLE times it, a position is refused (ValueError): such a prompt
 * is a mistake, and attention over it would need memory quadratic in its length.
 */
export const MAX_POSITION_MULTIPLE = 8;

export function hardPositionLimit(max_position_embeddings: number): number {
  return MAX_POSITION_MULTIPLE * max_position_embeddings;
}

/** `forward`'s argument: an object of named inputs (HF passes keyword arguments). */
export function checkForwardArgs(args: unknown, where: string): void {
  if (typeof args !== "object" || args === null || Array.isArray(args) || args instanceof Uint8Array)
    throw new ValueError(
      `${where}: expected an object of named inputs ({ input_ids, attention_mask, ... }), got ${describeValue(args)}`,
    );
}

/**
 * Positions (`position_ids` rows or `cache_position`): non-negative integers below `limit`. Fractional,
 * negative, NaN or huge positions would give NaN or garbage rotary angles silently.
 */
export function checkPositions(rows: readonly (readonly unknown[])[], name: string, limit: number): void {
  for (const row of rows)
    for (const p of row)
      if (typeof p !== "number" || !Number.isSafeInteger(p) || p < 0 || p >= limit)
        throw new ValueError(
          `${name}: expected integer positions in [0, ${limit}) (${MAX_POSITION_MULTIPLE} x max_position_embeddings, see MAX_POSITION_MULTIPLE), got ${describeValue(p)}`,
        );
}
