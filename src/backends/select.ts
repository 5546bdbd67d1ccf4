/**
 * Which matmul backend runs, and why. The default is the fastest that works here, tried in this order:
 *
 *   wasm-simd with T threads (the caller + T - 1 workers)  ->  wasm-simd on the caller alone  ->  blocked-js  ->  reference
 *
 * T defaults to every core (os.availableParallelism()). Both are set by an option (`configureMatmul`) or by the
 * environment: LLAMA_TS_BACKEND = auto | wasm-simd | blocked-js | reference, LLAMA_TS_THREADS = a positive
 * integer. `npx llama-ts env` prints the choice and the reasons for any fallback.
 */
import os from "node:os";
import { ValueError } from "../errors.ts";
import type { MatmulBackend } from "./backend.ts";
import { blockedBackend } from "./blocked.ts";
import { kernelMemorySupported } from "./kernel_memory.ts";
import { WasmSimdBackend, kernelModule, wasmUnavailableReason } from "./wasm_simd.ts";

export const BACKEND_NAMES = ["auto", "wasm-simd", "blocked-js", "reference"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface MatmulOptions {
  /** Which backend (default: LLAMA_TS_BACKEND, else "auto" = the fastest available). */
  backend?: BackendName;
  /** Threads of the wasm-simd backend (default: LLAMA_TS_THREADS, else every core). */
  threads?: number;
}

export interface BackendChoice {
  backend: MatmulBackend;
  /** What runs, e.g. "wasm-simd, 2 threads (caller + 1 worker)". */
  description: string;
  /** Why a faster backend was not used, one line each. */
  fallbacks: string[];
}

function threadsFrom(opts: MatmulOptions): number {
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > 256)
      throw new ValueError(`threads: expected an integer from 1 to 256, got ${opts.threads}`);
    return opts.threads;
  }
  const env = process.env.LLAMA_TS_THREADS;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!/^\d+$/.test(env.trim()) || n < 1 || n > 256)
      throw new ValueError(`LLAMA_TS_THREADS: expected an integer from 1 to 256, got ${JSON.stringify(env)}`);
    return n;
  }
  return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length || 1;
}

function nameFrom(opts: MatmulOptions): BackendName {
  const name = opts.backend ?? (process.env.LLAMA_TS_BACKEND || "auto");
  if (!(BACKEND_NAMES as readonly string[]).includes(name))
    throw new ValueError(
      `${opts.backend !== undefined ? "backend" : "LLAMA_TS_BACKEND"}: expected one of ${BACKEND_NAMES.join(", ")}, got ${JSON.stringify(name)}`,
    );
  return name as BackendName;
}

/** Resolve options and environment into a backend (the reference is passed in: it lives in src/ops/matmul.ts). */
export function chooseBackend(reference: MatmulBackend, opts: MatmulOptions = {}): BackendChoice {
  const name = nameFrom(opts);
  const fallbacks: string[] = [];
  if (name === "reference")
    return { backend: reference, description: "reference (plain loops, one thread)", fallbacks };
  if (name === "auto" || name === "wasm-simd") {
    const threads = threadsFrom(opts);
    if (kernelModule() === null)
      fallbacks.push(`wasm-simd: the kernel module does not load (${wasmUnavailableReason()})`);
    else if (!kernelMemorySupported()) fallbacks.push("wasm-simd: shared WebAssembly memory is unavailable");
    else {
      let workersOk = threads > 1;
      if (threads > 1 && typeof SharedArrayBuffer === "undefined") {
        fallbacks.push("worker pool: SharedArrayBuffer is unavailable; running on the caller alone");
        workersOk = false;
      }
      const t = workersOk ? threads : 1;
      const backend = new WasmSimdBackend({ threads: t });
      const description =
        t > 1 ? `wasm-simd, ${t} threads (caller + ${t - 1} worker${t > 2 ? "s" : ""})` : "wasm-simd, 1 thread";
      return { backend, description, fallbacks };
    }
  }
  return { backend: blockedBackend, description: "blocked-js (one thread)", fallbacks };
}
