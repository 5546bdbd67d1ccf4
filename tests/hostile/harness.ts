/**
 * The hostile-input suite's harness. An attack is a small program that feeds llama-ts one hostile input (a FIFO
 * as config.json, a template looping 10^10 times, a config asking for 10^6 layers, ...) and must end in a typed
 * error: a given LlamaError subclass whose message matches a pattern.
 *
 * Attacks run in a child process (child.ts), one child per group file, so an attack that hangs, aborts V8 or
 * eats all memory fails its test instead of taking the runner down: the parent kills the child after
 * ATTACK_TIMEOUT_MS without progress and reports the attack that was running. Each child runs with
 * `--max-old-space-size` = HEAP_LIMIT_MB, and reports per attack its time and the process's peak RSS, which the
 * tests compare with the bounds (60 s, 4 GB).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LlamaError } from "../../src/errors.ts";

export interface Attack {
  name: string;
  /**
   * Runs the attack; it must throw (or reject with) `error`. With `error: null` the input is one llama-ts must
   * handle correctly (e.g. a pattern the linear-time engine runs): `run` checks the result itself and must
   * return without throwing, within the same time and memory bounds.
   */
  run: () => unknown;
  error: (abstract new (...args: never[]) => LlamaError) | null;
  /** The message must match (e.g. name the field or the limit). */
  message?: RegExp;
}

/** What the child reports for one attack. */
export interface AttackResult {
  name: string;
  /** Name of the thrown error's class, "none" when nothing was thrown. */
  thrown: string;
  /** Whether it was an instance of the expected class. */
  typed: boolean;
  message: string;
  ms: number;
  /** Peak resident set size of the child so far, in MB. */
  peakRssMb: number;
}

/** The bounds. */
export const ATTACK_TIMEOUT_MS = 60_000;
export const MEMORY_LIMIT_MB = 4096;
/** V8 heap cap of the child (array buffers come on top; peak RSS is checked against MEMORY_LIMIT_MB). */
export const HEAP_LIMIT_MB = 3072;

export interface GroupOutcome {
  results: Map<string, AttackResult>;
  /** Set when the child hung, crashed or exited early: which attack was running and how it ended. */
  failure: { attack: string | null; reason: string } | null;
}

/** Run every attack of a group file in one child process. */
export function runGroup(groupFile: string): Promise<GroupOutcome> {
  const child = spawn(
    process.execPath,
    [
      `--max-old-space-size=${HEAP_LIMIT_MB}`,
      "--import",
      "tsx",
      fileURLToPath(new URL("./child.ts", import.meta.url)),
      groupFile,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const results = new Map<string, AttackResult>();
  let running: string | null = null;
  let stderr = "";
  let buffered = "";
  let timer: NodeJS.Timeout;
  let timedOut = false;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, ATTACK_TIMEOUT_MS);
  };
  arm();
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.startsWith("START ")) {
        running = line.slice(6);
        arm();
      } else if (line.startsWith("RESULT ")) {
        const r = JSON.parse(line.slice(7)) as AttackResult;
        results.set(r.name, r);
        running = null;
      }
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let failure: GroupOutcome["failure"] = null;
      if (timedOut) failure = { attack: running, reason: `no result within ${ATTACK_TIMEOUT_MS} ms (killed)` };
      else if (code !== 0 || running !== null)
        failure = {
          attack: running,
          reason: `child exited with code ${code} signal ${signal}: ${stderr.trim().split("\n").slice(-5).join(" | ")}`,
        };
      resolve({ results, failure });
    });
  });
}
