/**
 * Flags of the llama-ts commands: each command declares a table (name -> type, range, help line), and
 * {@link parseFlags} checks the whole command line against it before the command touches any file. The same table
 * prints the command's `--help`, so a flag cannot be accepted without being documented.
 *
 * One message style for every problem, whatever the command (main.ts prefixes "llama-ts <command>: "):
 *   --NAME: unknown option (see llama-ts <command> --help)
 *   --NAME: expected a value
 *   --NAME: expected an integer >= 1, got "abc"
 *   --NAME: expected one of auto, float32, ..., got "x"
 *   --NAME: required (...)
 *   --NAME: no such folder "x"
 *
 * Values may start with "-" (`--temperature -1`, `--seed -5`, `--prompt "-x"`): a value-taking flag always takes
 * the next word unless that word is itself a flag (`--...`), so a negative number reaches the range check and gets
 * a range message instead of node's parseArgs "argument is ambiguous".
 */
import { existsSync, statSync } from "node:fs";
import { LlamaError } from "../errors.ts";

/** A bad command line: unknown flag, missing or malformed value, a missing folder. Exit code 2. */
export class UsageError extends LlamaError {}

interface FlagBase {
  /** One line for --help. */
  help: string;
  /** Placeholder in --help, e.g. DIR, TEXT, N. */
  arg?: string;
  /** Must be given. */
  required?: boolean;
}
export type Flag =
  | (FlagBase & { type: "boolean" })
  | (FlagBase & { type: "string" })
  /** A string that may be given several times (`--prompt a --prompt b`), collected in order. */
  | (FlagBase & { type: "strings" })
  | (FlagBase & { type: "int"; min?: number; max?: number })
  | (FlagBase & { type: "float"; min?: number; max?: number; above?: number })
  | (FlagBase & { type: "choice"; choices: readonly string[] })
  /** Comma-separated non-negative integers, e.g. token ids "1,2,3". */
  | (FlagBase & { type: "ids" });

export type FlagTable = Record<string, Flag>;

type ValueOf<F extends Flag> = F["type"] extends "boolean"
  ? boolean
  : F["type"] extends "int" | "float"
    ? number
    : F["type"] extends "ids"
      ? number[]
      : F["type"] extends "strings"
        ? string[]
        : string;
export type FlagValues<T extends FlagTable> = { [K in keyof T]?: ValueOf<T[K]> };

function describe(f: Flag): string {
  switch (f.type) {
    case "int":
    case "float": {
      const what = f.type === "int" ? "an integer" : "a number";
      const bounds: string[] = [];
      if (f.type === "float" && f.above !== undefined) bounds.push(`> ${f.above}`);
      if (f.min !== undefined) bounds.push(`>= ${f.min}`);
      if (f.max !== undefined) bounds.push(`<= ${f.max}`);
      return `${what}${bounds.length ? " " + bounds.join(" and ") : ""}`;
    }
    case "choice":
      return `one of ${f.choices.join(", ")}`;
    case "ids":
      return "comma-separated token ids (non-negative integers, e.g. 1,2,3)";
    default:
      return "a value";
  }
}

function convert(name: string, f: Flag, raw: string): unknown {
  const bad = () => new UsageError(`--${name}: expected ${describe(f)}, got ${JSON.stringify(raw)}`);
  switch (f.type) {
    case "int":
    case "float": {
      // Number("") is 0 and Number(" 1") is 1: accept only what looks like a number.
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw.trim())) throw bad();
      const n = Number(raw);
      if (!Number.isFinite(n) || (f.type === "int" && !Number.isSafeInteger(n))) throw bad();
      if (f.min !== undefined && n < f.min) throw bad();
      if (f.max !== undefined && n > f.max) throw bad();
      if (f.type === "float" && f.above !== undefined && !(n > f.above)) throw bad();
      return n;
    }
    case "choice":
      if (!f.choices.includes(raw)) throw bad();
      return raw;
    case "ids": {
      const parts = raw.split(",").map((s) => s.trim());
      if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || !Number.isSafeInteger(Number(p)))) throw bad();
      return parts.map(Number);
    }
    default:
      return raw;
  }
}

/**
 * Check `argv` against `table` and return the typed values (absent flags are undefined). Throws a UsageError
 * on the first problem; reads no file.
 */
export function parseFlags<T extends FlagTable>(command: string, argv: string[], table: T): FlagValues<T> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (!word.startsWith("--")) {
      throw new UsageError(`unexpected argument ${JSON.stringify(word)} (options start with --; see --help)`);
    }
    const eq = word.indexOf("=");
    const name = word.slice(2, eq < 0 ? undefined : eq);
    const f = Object.hasOwn(table, name) ? table[name] : undefined;
    if (f === undefined) throw new UsageError(`--${name}: unknown option (see llama-ts ${command} --help)`);
    if (Object.hasOwn(out, name) && f.type !== "strings") throw new UsageError(`--${name}: given twice`);
    if (f.type === "boolean") {
      if (eq >= 0) {
        const v = word.slice(eq + 1);
        if (v !== "true" && v !== "false")
          throw new UsageError(`--${name}: a switch, takes no value (or =true / =false), got ${JSON.stringify(v)}`);
        out[name] = v === "true";
      } else out[name] = true;
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = word.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) throw new UsageError(`--${name}: expected ${describe(f)}`);
      raw = next;
      i++;
    }
    if (f.type === "strings") ((out[name] ??= []) as string[]).push(raw);
    else out[name] = convert(name, f, raw);
  }
  for (const [name, f] of Object.entries(table)) {
    if (f.required && out[name] === undefined) throw new UsageError(`--${name}: required (${f.help})`);
  }
  return out as FlagValues<T>;
}

/** The options part of a command's --help, from its table. */
export function flagHelp(table: FlagTable): string {
  const rows = Object.entries(table).map(([name, f]) => {
    const arg = f.type === "boolean" ? "" : ` ${f.arg ?? (f.type === "int" ? "N" : f.type === "float" ? "X" : "V")}`;
    return [`--${name}${arg}`, f.help];
  });
  const w = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, h]) => `  ${l.padEnd(w)}${h}`).join("\n") + "\n";
}

/** A Hub id such as "meta-llama/Llama-2-7b-hf" (or "gpt2"): what from_pretrained resolves through the HF cache. */
const HUB_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

/**
 * `--NAME DIR` must name an existing folder. With `hubIds`, a string shaped like a Hub id that is not a local
 * path is accepted as well (from_pretrained then looks in the HF cache, then the Hub), as transformers does.
 */
export function checkFolder(name: string, value: string, opts: { hubIds?: boolean } = {}): void {
  if (existsSync(value)) {
    if (!statSync(value).isDirectory()) throw new UsageError(`--${name}: ${JSON.stringify(value)} is not a folder`);
    return;
  }
  if (opts.hubIds && HUB_ID.test(value) && value.includes("/")) return;
  throw new UsageError(`--${name}: no such folder ${JSON.stringify(value)}`);
}
