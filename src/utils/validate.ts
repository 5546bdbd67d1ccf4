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
