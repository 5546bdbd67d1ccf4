/**
 * Activation functions of HF's `activations.ACT2FN`, element-wise on float32 values.
 *
 * Llama uses `silu(x) = x * sigmoid(x) = x / (1 + exp(-x))` (torch `nn.SiLU`). Each function returns the
 * float32-rounded result, as torch computes in float32.
 */
const GELU_TANH_C = Math.sqrt(2 / Math.PI);

/** erf with |error| < 1.2e-7 (Numerical Recipes erfc, Chebyshev fit): enough for float32. */
function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

export const ACT2FN: Readonly<Record<string, (x: number) => number>> = {
  silu: (x) => Math.fround(x / (1 + Math.exp(-x))),
  swish: (x) => Math.fround(x / (1 + Math.exp(-x))),
  gelu: (x) => Math.fround(0.5 * x * (1 + erf(x / Math.SQRT2))),
  gelu_new: (x) => Math.fround(0.5 * x * (1 + Math.tanh(GELU_TANH_C * (x + 0.044715 * x * x * x)))),
  gelu_pytorch_tanh: (x) => Math.fround(0.5 * x * (1 + Math.tanh(GELU_TANH_C * (x + 0.044715 * x * x * x)))),
  gelu_fast: (x) => Math.fround(0.5 * x * (1 + Math.tanh(x * 0.7978845608 * (1 + 0.044715 * x * x)))),
  quick_gelu: (x) => Math.fround(x / (1 + Math.exp(-1.702 * x))),
  relu: (x) => (x > 0 ? x : 0),
  relu6: (x) => Math.min(Math.max(x, 0), 6),
  tanh: (x) => Math.fround(Math.tanh(x)),
  sigmoid: (x) => Math.fround(1 / (1 + Math.exp(-x))),
  linear: (x) => x,
};
