/**
 * The interface every matmul backend implements (the seam is src/ops/matmul.ts `linear`, which re-exports these).
 */

/** A weight matrix as a kernel sees it: raw storage plus how to read it. */
export interface WeightView {
  dtype: "float32" | "float16" | "bfloat16";
  data: Float32Array | Uint16Array;
}

export interface MatmulBackend {
  readonly name: string;
  /** out[M, N] = x[M, K] @ W[N, K]^T (+ bias[N]). */
  linear(
    out: Float32Array,
    x: Float32Array,
    w: WeightView,
    bias: Float32Array | null,
    M: number,
    K: number,
    N: number,
  ): void;
}
