/**
 * A register-blocked JS matmul: the same `out[m, n] = sum_k x[m, k] * W[n, k] + bias[n]` as the reference
 * (src/ops/matmul.ts), computed four output columns at a time.
 *
 * x [M, K], W [N, K] (nn.Linear layout, float32 or 2-byte bits), bias [N] or null -> out [M, N].
 *
 * Each x[m, k] is loaded once for four rows of W (four independent float64 accumulators), which is the
 * inner-loop shape SIMD kernels use. Each dot product still sums in order of k and rounds once to float32, so
 * the result equals the reference's; the property tests only require agreement within float32 rounding, which
 * leaves room for kernels that sum in another order. src/ops/matmul.ts registers the backend (it does not select
 * it: call `setMatmulBackend(blockedBackend)` for that).
 */
import type { MatmulBackend } from "./backend.ts";
import { halfToFloat32 } from "../tensor/dtypes.ts";

const BLOCK = 4;

export const blockedBackend: MatmulBackend = {
  name: "blocked-js",
  linear(out, x, w, bias, M, K, N) {
    const rows = new Float32Array(BLOCK * K); // up to four rows of W, decoded to float32
    for (let n0 = 0; n0 < N; n0 += BLOCK) {
      const nb = Math.min(BLOCK, N - n0);
      if (w.dtype === "float32") rows.set((w.data as Float32Array).subarray(n0 * K, (n0 + nb) * K));
      else halfToFloat32((w.data as Uint16Array).subarray(n0 * K, (n0 + nb) * K), w.dtype, rows.subarray(0, nb * K));
      const b0 = bias === null ? 0 : bias[n0];
      const b1 = bias === null || nb < 2 ? 0 : bias[n0 + 1];
      const b2 = bias === null || nb < 3 ? 0 : bias[n0 + 2];
      const b3 = bias === null || nb < 4 ? 0 : bias[n0 + 3];
      for (let m = 0; m < M; m++) {
        const xo = m * K;
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        if (nb === BLOCK) {
          for (let k = 0; k < K; k++) {
            const xv = x[xo + k];
            a0 += xv * rows[k];
            a1 += xv * rows[K + k];
            a2 += xv * rows[2 * K + k];
            a3 += xv * rows[3 * K + k];
          }
        } else {
          // the last, partial block of W rows
          for (let k = 0; k < K; k++) {
            const xv = x[xo + k];
            a0 += xv * rows[k];
            if (nb > 1) a1 += xv * rows[K + k];
            if (nb > 2) a2 += xv * rows[2 * K + k];
          }
        }
        const o = m * N + n0;
        out[o] = Math.fround(a0 + b0);
        if (nb > 1) out[o + 1] = Math.fround(a1 + b1);
        if (nb > 2) out[o + 2] = Math.fround(a2 + b2);
        if (nb > 3) out[o + 3] = Math.fround(a3 + b3);
      }
    }
  },
};
