/**
 * The WASM SIMD backend and its worker pool: agreement with the exact product (the backend property of
 * tests/properties, on larger shapes and on weights in kernel memory), bit-identical results for any worker
 * count, Inf/NaN float16 weights, and the pool's failure handling (a worker that throws, exits or goes silent
 * fails that call with MatmulWorkerError; the next call succeeds).
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { allocFloat32, allocUint16, arenaOf } from "../../src/backends/kernel_memory.ts";
import { WasmSimdBackend } from "../../src/backends/wasm_simd.ts";
import { MatmulWorkerError } from "../../src/errors.ts";
import { type WeightView, referenceBackend } from "../../src/ops/matmul.ts";
import { float32ToHalf } from "../../src/tensor/dtypes.ts";
import { type LinearProblem, linearProblemArb } from "../../src/testing/arbitraries.ts";
import { matmulBackendsAgree } from "../properties/invariants.ts";
import { assertProperty } from "../properties/seed.ts";

const single = new WasmSimdBackend({ threads: 1 });
// pool_min_macs 1: every product goes through the pool, however small
const pooled = [2, 3, 5].map((threads) => new WasmSimdBackend({ threads, pool_min_macs: 1 }));
afterAll(async () => {
  for (const b of pooled) await b.close();
});

/** The same problem with its weight copied into kernel memory (how loaded checkpoints are stored). */
function inKernelMemory(p: LinearProblem): LinearProblem {
  const data = p.w.dtype === "float32" ? allocFloat32(p.w.data.length) : allocUint16(p.w.data.length);
  data.set(p.w.data as any);
  return { ...p, w: { dtype: p.w.dtype, data } as WeightView };
}

const bigger = linearProblemArb({ maxM: 9, maxK: 300, maxN: 70 });

describe("wasm-simd backend", () => {
  it("weights live in kernel memory when allocated there", () => {
    expect(arenaOf(allocFloat32(10))).not.toBeNull();
  });

  it("is within float32 rounding of the exact product on larger shapes, weights in or out of kernel memory", () => {
    const problems = fc.tuple(bigger, fc.boolean()).map(([p, arena]) => (arena ? inKernelMemory(p) : p));
    assertProperty(matmulBackendsAgree([single, pooled[1]], problems), 100);
  });

  it("gives bit-identical results with 1, 2 and 4 workers (and on the caller alone)", () => {
    assertProperty(
      fc.property(bigger, fc.boolean(), (p0, arena) => {
        const p = arena ? inKernelMemory(p0) : p0;
        const outs = [single, ...pooled].map((b) => {
          const out = new Float32Array(p.M * p.N);
          b.linear(out, p.x, p.w, p.bias, p.M, p.K, p.N);
          return Buffer.from(out.buffer);
        });
        for (let i = 1; i < outs.length; i++) expect(outs[i].equals(outs[0])).toBe(true);
      }),
      80,
    );
  });

  it("widens Inf, NaN and subnormal 2-byte weights as the reference does, on the GEMV and the GEMM paths", () => {
    const K = 19;
    const vals = [Infinity, -Infinity, NaN, 2 ** -24, -(2 ** -20), 65504, 1, -0];
    for (const M of [1, 5]) {
      for (const dtype of ["float16", "bfloat16"] as const) {
        const N = vals.length;
        const w = new Float32Array(N * K);
        // row n: vals[n] at k = 3, 0 elsewhere; x = 1, so out[m, n] is that weight widened, exactly
        for (let n = 0; n < N; n++) w[n * K + 3] = vals[n];
        const x = new Float32Array(M * K).fill(1);
        const wv: WeightView = { dtype, data: float32ToHalf(w, dtype) };
        const out = new Float32Array(M * N);
        single.linear(out, x, wv, null, M, K, N);
        const ref = new Float32Array(M * N);
        referenceBackend.linear(ref, x, wv, null, M, K, N);
        for (let i = 0; i < M * N; i++) expect(Object.is(out[i], ref[i])).toBe(true);
        if (dtype === "float16") expect([...out.subarray(0, 3)]).toEqual([Infinity, -Infinity, NaN]);
      }
    }
  });

  // K 2048: the one-row GEMV at decode; K 5643 (> GEMV_MAX_K, like down_proj's 5632, with every k tail): the
  // four-row GEMV; N 37 leaves a row after the blocks of four.
  it.each([
    [2048, 256],
    [5643, 37],
  ])("agrees with the reference at a real layer shape (K %i, N %i) for 1, 2 and 16 rows, all dtypes", (K, N) => {
    let state = 7;
    const rnd = new Float32Array(K * N + 128 * K).map(() => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 31 - 1; // in [-1, 1)
    });
    const wf = rnd.slice(0, K * N);
    for (const M of [1, 2, 16]) {
      const x = Float32Array.from(rnd.slice(K * N, K * N + M * K));
      for (const dtype of ["float32", "float16", "bfloat16"] as const) {
        const w: WeightView = dtype === "float32" ? { dtype, data: wf } : { dtype, data: float32ToHalf(wf, dtype) };
        const ref = new Float32Array(M * N);
        referenceBackend.linear(ref, x, w, null, M, K, N);
        const out = new Float32Array(M * N);
        pooled[0].linear(out, x, w, null, M, K, N);
        let sumAbs = 0;
        for (let k = 0; k < K; k++) sumAbs += Math.abs(x[k]);
        // |x|.|w| <= sum|x| (|w| <= 1): the float32 dot-product bound (K + 2) 2^-24 sum|x_k w_k|
        for (let i = 0; i < M * N; i++)
          expect(Math.abs(out[i] - ref[i])).toBeLessThanOrEqual((K + 2) * 2 ** -24 * sumAbs * 2);
        for (const b of [single, pooled[1]]) {
          const again = new Float32Array(M * N);
          b.linear(again, x, w, null, M, K, N);
          expect(Buffer.from(again.buffer).equals(Buffer.from(out.buffer))).toBe(true);
        }
      }
    }
  });
});

describe("worker pool failures", () => {
  const M = 4;
  const K = 64;
  const N = 256;
  const x = new Float32Array(M * K).map((_, i) => ((i % 7) - 3) / 4);
  const wf = new Float32Array(N * K).map((_, i) => ((i % 5) - 2) / 8);
  const w: WeightView = { dtype: "float32", data: wf };
  const expected = new Float32Array(M * N);
  referenceBackend.linear(expected, x, w, null, M, K, N);
  const run = (b: WasmSimdBackend) => {
    const out = new Float32Array(M * N);
    b.linear(out, x, w, null, M, K, N);
    return out;
  };
  const close = (a: Float32Array) => a.every((v, i) => Math.abs(v - expected[i]) <= 1e-5);

  for (const mode of ["throw", "exit"] as const) {
    it(`a worker that ${mode === "throw" ? "throws" : "exits"} fails that call with MatmulWorkerError; the next call succeeds`, async () => {
      // the caller computes nothing, so the worker must take part in the job
      const b = new WasmSimdBackend({ threads: 2, pool_min_macs: 1, caller_computes: false });
      try {
        expect(close(run(b))).toBe(true);
        b._injectWorkerFault(0, mode);
        expect(() => run(b)).toThrow(MatmulWorkerError);
        expect(close(run(b))).toBe(true);
        expect(close(run(b))).toBe(true);
      } finally {
        await b.close();
      }
    });
  }

  it("a worker killed without a word (terminated) fails the call after the stall timeout; the next call succeeds", async () => {
    const b = new WasmSimdBackend({ threads: 2, pool_min_macs: 1, caller_computes: false, stall_timeout_ms: 1500 });
    try {
      expect(close(run(b))).toBe(true);
      // terminate() is asynchronous: the pool has not seen the exit event when the next call starts
      void b._workers()![0]!.terminate();
      const t0 = Date.now();
      let threw: unknown = null;
      try {
        run(b); // may still succeed if the worker took the job before it stopped
      } catch (e) {
        threw = e;
      }
      if (threw !== null) expect(threw).toBeInstanceOf(MatmulWorkerError);
      expect(Date.now() - t0).toBeLessThan(15000);
      await new Promise((r) => setTimeout(r, 50)); // let the exit event arrive
      expect(close(run(b))).toBe(true);
    } finally {
      await b.close();
    }
  });
});
