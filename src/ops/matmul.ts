/**
 * The one matrix-multiply interface every module calls: `linear(out, x, w, bias, M, K, N)` computes
 *
 *     out[m, n] = sum_k x[m, k] * W[n, k] + bias[n]        x: [M, K], W: [N, K] (nn.Linear layout), out: [M, N]
 *
 * which is torch's `F.linear(x, W, b)` = `x @ W.T + b`. Weights may be float32 or stay 2-byte
 * (float16/bfloat16 bits in a Uint16Array) and are widened to float32 inside the kernel. The reference sums each
 * dot product in a JS number (float64) in order of k and rounds once to float32, so it is at least as accurate
 * as torch's float32 GEMM; the difference is float32 rounding (~1e-6 relative), inside the parity tolerances.
 *
 * The plain loop below is the readable reference. Faster backends (src/backends: blocked JS, WASM SIMD with a
 * worker pool over SharedArrayBuffer) must agree with it within float32 rounding; modules never know which one
 * runs. By default the fastest available backend is chosen on the first call (src/backends/select.ts: option
 * `configureMatmul`, env LLAMA_TS_BACKEND / LLAMA_TS_THREADS); `setMatmulBackend` picks one explicitly.
 */
import { ValueError } from "../errors.ts";
import type { MatmulBackend, WeightView } from "../backends/backend.ts";
import { blockedBackend } from "../backends/blocked.ts";
import { type BackendChoice, type MatmulOptions, chooseBackend } from "../backends/select.ts";
import { WasmSimdBackend } from "../backends/wasm_simd.ts";
import { halfToFloat32 } from "../tensor/dtypes.ts";

export type { MatmulBackend, WeightView } from "../backends/backend.ts";

/** The reference: three loops, a row of W decoded to float32 at a time when it is stored in 2 bytes. */
export const referenceBackend: MatmulBackend = {
  name: "reference",
  linear(out, x, w, bias, M, K, N) {
    const row = w.dtype === "float32" ? null : new Float32Array(K);
    for (let n = 0; n < N; n++) {
      let wn: Float32Array;
      if (row === null) wn = (w.data as Float32Array).subarray(n * K, n * K + K);
      else
        wn = halfToFloat32((w.data as Uint16Array).subarray(n * K, n * K + K), w.dtype as "float16" | "bfloat16", row);
      const b = bias === null ? 0 : bias[n];
      for (let m = 0; m < M; m++) {
        const xo = m * K;
        let acc = 0;
        for (let k = 0; k < K; k++) acc += x[xo + k] * wn[k];
        out[m * N + n] = Math.fround(acc + b);
      }
    }
  },
};

/** Every backend known by name (the reference first): the agreement tests run over all of them. */
const registered = new Map<string, MatmulBackend>([
  [referenceBackend.name, referenceBackend],
  [blockedBackend.name, blockedBackend],
  ["wasm-simd", new WasmSimdBackend({ threads: 1 })],
]);

let chosen: BackendChoice | null = null;

/**
 * The default: resolves on its first call (reading the options or environment, compiling the kernel module),
 * so importing llama-ts does no I/O and starts no worker.
 */
const autoBackend: MatmulBackend = {
  name: "auto",
  linear(out, x, w, bias, M, K, N) {
    resolveDefault().backend.linear(out, x, w, bias, M, K, N);
  },
};

let current: MatmulBackend = autoBackend;

function resolveDefault(): BackendChoice {
  if (chosen === null) {
    chosen = chooseBackend(referenceBackend);
    registerMatmulBackend(chosen.backend);
  }
  return chosen;
}

/**
 * Choose the backend from options (unset fields fall back to LLAMA_TS_BACKEND / LLAMA_TS_THREADS, then to the
 * fastest available with every core) and select it. Returns what runs and why faster backends were not used.
 */
export function configureMatmul(opts: MatmulOptions = {}): BackendChoice {
  chosen = chooseBackend(referenceBackend, opts);
  setMatmulBackend(chosen.backend);
  return chosen;
}

/** What the default (or configured) choice is, resolving it if no call has yet. */
export function describeMatmulBackend(): BackendChoice {
  if (current !== autoBackend && (chosen === null || chosen.backend !== current))
    return { backend: current, description: `${current.name} (set with setMatmulBackend)`, fallbacks: [] };
  return resolveDefault();
}

/** A MatmulBackend-shaped object, or a ValueError naming what is wrong (a string, a missing linear, ...). */
function checkBackend(backend: unknown, where: string): asserts backend is MatmulBackend {
  const b = backend as Partial<MatmulBackend> | null;
  if (
    b === null ||
    typeof b !== "object" ||
    typeof b.name !== "string" ||
    b.name === "" ||
    typeof b.linear !== "function"
  )
    throw new ValueError(
      `${where}: expected a backend object { name: string, linear(out, x, w, bias, M, K, N) } or the name of a registered backend (${[...registered.keys()].join(", ")}), got ${typeof backend === "string" ? JSON.stringify(backend) : typeof backend}`,
    );
}

/** Make a backend known without selecting it (a backend module calls this when imported). */
export function registerMatmulBackend(backend: MatmulBackend): void {
  checkBackend(backend, "registerMatmulBackend");
  registered.set(backend.name, backend);
}

/** The registered backends, in registration order. */
export function listMatmulBackends(): MatmulBackend[] {
  return [...registered.values()];
}

/** Select the backend every `linear` call uses (it is registered too), by object or by a registered name. */
export function setMatmulBackend(backend: MatmulBackend | string): void {
  if (typeof backend === "string") {
    const named = registered.get(backend);
    if (named === undefined)
      throw new ValueError(
        `setMatmulBackend: no backend named ${JSON.stringify(backend)} is registered (registered: ${[...registered.keys()].join(", ")}; a backend module registers itself when imported)`,
      );
    current = named;
    return;
  }
  checkBackend(backend, "setMatmulBackend");
  registerMatmulBackend(backend);
  current = backend;
}

/** The backend `linear` uses (the default resolved to the concrete backend it chose). */
export function getMatmulBackend(): MatmulBackend {
  return current === autoBackend ? resolveDefault().backend : current;
}

/** out = x @ W^T (+ bias): see the module header. `out` defaults to a fresh [M, N] buffer. */
export function linear(
  x: Float32Array,
  w: WeightView,
  bias: Float32Array | null,
  M: number,
  K: number,
  N: number,
  out: Float32Array = new Float32Array(M * N),
): Float32Array {
  current.linear(out, x, w, bias, M, K, N);
  return out;
}
