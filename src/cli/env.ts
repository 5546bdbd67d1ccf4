/**
 * `llama-ts env`: what computes here. Prints the matmul backend the default resolves to (and why any faster one
 * is not used), the thread count, the pool threshold, and checks that the worker pool actually starts by running
 * one product through it.
 */
import os from "node:os";
import { kernelMemorySupported, listArenas } from "../backends/kernel_memory.ts";
import { POOL_MIN_MACS, WasmSimdBackend } from "../backends/wasm_simd.ts";
import { describeMatmulBackend, referenceBackend } from "../ops/matmul.ts";
import { parseFlags } from "./args.ts";

export const ENV_HELP = `Print the compute setup: matmul backend, threads, fallbacks (and check the worker pool starts).

Usage: llama-ts env

Environment:
  LLAMA_TS_BACKEND   auto (default: the fastest available) | wasm-simd | blocked-js | reference
  LLAMA_TS_THREADS   threads of wasm-simd: the caller plus THREADS - 1 workers (default: every core)
`;

export async function runEnv(argv: string[]): Promise<void> {
  parseFlags("env", argv, {});
  const out = (s: string) => process.stdout.write(s + "\n");
  const choice = describeMatmulBackend();
  out(`node ${process.version}, ${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.availableParallelism()} cores`);
  out(
    `LLAMA_TS_BACKEND=${process.env.LLAMA_TS_BACKEND ?? "(unset)"} LLAMA_TS_THREADS=${process.env.LLAMA_TS_THREADS ?? "(unset)"}`,
  );
  out(`matmul backend: ${choice.description}`);
  for (const f of choice.fallbacks) out(`  fallback: ${f}`);
  out(`kernel memory (shared WebAssembly memory, weights read in place): ${kernelMemorySupported() ? "yes" : "no"}`);
  const b = choice.backend;
  if (b instanceof WasmSimdBackend && b.threads > 1) {
    out(`worker pool: products of at least ${POOL_MIN_MACS} multiply-adds (M*N*K) are split over the threads`);
    // one product large enough for the pool, checked against the reference
    const M = 4;
    const K = 512;
    const N = 1024;
    const x = new Float32Array(M * K).map((_, i) => ((i * 7) % 13) / 13 - 0.5);
    const w = new Float32Array(N * K).map((_, i) => ((i * 5) % 11) / 11 - 0.5);
    const got = new Float32Array(M * N);
    const want = new Float32Array(M * N);
    b.linear(got, x, { dtype: "float32", data: w }, null, M, K, N);
    referenceBackend.linear(want, x, { dtype: "float32", data: w }, null, M, K, N);
    const maxDiff = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
    if (b.poolError) out(`worker pool: did not start (${b.poolError}); products run on the caller alone`);
    else
      out(
        `worker pool: started, ${b.threads - 1} worker(s); test product max |diff| vs reference ${maxDiff.toExponential(2)}`,
      );
  }
  out(`kernel memory arenas in use: ${listArenas().length}`);
}
