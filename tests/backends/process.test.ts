/**
 * The backend as a process sees it: `llama-ts env` prints the choice (and refuses a bad LLAMA_TS_* value with a
 * one-line error), importing the package compiles nothing and starts no worker, and a script that runs products
 * through the worker pool exits on its own (the workers are unref'd).
 */
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const BIN = resolve(process.cwd(), "bin/llama-ts.mjs");
const TSX = createRequire(import.meta.url).resolve("tsx/cli");

function env(vars: Record<string, string>) {
  return spawnSync(process.execPath, [BIN, "env"], {
    encoding: "utf8",
    env: { ...process.env, ...vars },
    timeout: 120_000,
  });
}

function script(code: string) {
  return spawnSync(process.execPath, [TSX, "--eval", code], { encoding: "utf8", cwd: process.cwd(), timeout: 120_000 });
}

describe("matmul backend in a process", () => {
  it("llama-ts env prints the backend chosen from LLAMA_TS_BACKEND / LLAMA_TS_THREADS", () => {
    const two = env({ LLAMA_TS_THREADS: "2", LLAMA_TS_BACKEND: "" });
    expect(two.status).toBe(0);
    expect(two.stdout).toContain("matmul backend: wasm-simd, 2 threads (caller + 1 worker)");
    expect(two.stdout).toMatch(/worker pool: started, 1 worker\(s\); test product max \|diff\| vs reference/);
    const one = env({ LLAMA_TS_THREADS: "1", LLAMA_TS_BACKEND: "" });
    expect(one.stdout).toContain("matmul backend: wasm-simd, 1 thread");
    const bads: Record<string, string>[] = [{ LLAMA_TS_BACKEND: "gpu" }, { LLAMA_TS_THREADS: "two" }];
    for (const bad of bads) {
      const r = env(bad);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^llama-ts env: LLAMA_TS_(BACKEND|THREADS): expected/);
    }
  });

  it("importing llama-ts starts no worker and creates no kernel memory", () => {
    const r = script(`
      import("./src/index.ts").then(async () => {
        const km = await import("./src/backends/kernel_memory.ts");
        const { threadId } = await import("node:worker_threads");
        const resources = process.getActiveResourcesInfo().filter((x) => x !== "TTYWrap");
        console.log(JSON.stringify({ arenas: km.listArenas().length, threadId, resources }));
      });`);
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(info.arenas).toBe(0);
    expect(info.resources).not.toContain("MessagePort");
  });

  it("a script that runs products through the worker pool exits by itself", () => {
    const t0 = Date.now();
    const r = script(`
      import("./src/ops/matmul.ts").then(({ configureMatmul, linear, getMatmulBackend }) => {
        configureMatmul({ backend: "wasm-simd", threads: 3 });
        const K = 512, N = 1024, M = 8;
        const out = linear(new Float32Array(M * K).fill(0.5), { dtype: "float32", data: new Float32Array(N * K).fill(0.25) }, null, M, K, N);
        console.log(getMatmulBackend().name, out[0], out[M * N - 1]);
      });`);
    expect(r.status, r.stderr).toBe(0);
    // closed form: every output is K * 0.5 * 0.25
    expect(r.stdout.trim()).toBe(`wasm-simd-3t ${512 * 0.125} ${512 * 0.125}`);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });
});
