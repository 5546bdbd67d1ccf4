/**
 * Properties of the kernels: RMSNorm, rotary embeddings, softmax and every registered matmul backend.
 * Fixed seed under `npm test`; FC_SEED picks another (see seed.ts). Why each must hold is in invariants.ts.
 */
import { describe, it } from "vitest";
import { WasmSimdBackend } from "../../src/backends/wasm_simd.ts";
import { listMatmulBackends, registerMatmulBackend } from "../../src/ops/matmul.ts";
import { softmaxRows } from "../../src/ops/softmax.ts";
import {
  matmulBackendsAgree,
  rmsNormEpsRegime,
  rmsNormScaleInvariance,
  rotaryPreservesNorm,
  rotaryRelativePosition,
  softmaxRowsSumToOne,
} from "./invariants.ts";
import { assertProperty } from "./seed.ts";

describe("RMSNorm", () => {
  it("is invariant to positive scaling of its input where mean(x^2) >> eps (within the eps bound)", () => {
    assertProperty(rmsNormScaleInvariance(), 300);
  });
  it("is linear in its input where eps dominates (why scale invariance is only approximate)", () => {
    assertProperty(rmsNormEpsRegime(), 200);
  });
});

describe("rotary embeddings (every rope type)", () => {
  it("preserve each head vector's norm, up to the attention scaling of yarn/longrope", () => {
    assertProperty(rotaryPreservesNorm(), 200);
  });
  it("make q(m).k(n) depend only on m - n", () => {
    assertProperty(rotaryRelativePosition(), 300);
  });
});

describe("softmax", () => {
  it("rows are probability distributions summing to 1, masked rows uniform", () => {
    assertProperty(softmaxRowsSumToOne(softmaxRows), 300);
  });
});

describe("matmul backends", () => {
  // the worker pool too, used for every product however small (workers are unref'd: they never hold the process)
  registerMatmulBackend(new WasmSimdBackend({ threads: 3, pool_min_macs: 1 }));
  const backends = listMatmulBackends();
  it(`every registered backend (${backends.map((b) => b.name).join(", ")}) is within float32 rounding of the exact product`, () => {
    if (backends.length < 2) throw new Error("expected the reference and at least one other backend to be registered");
    assertProperty(matmulBackendsAgree(backends), 300);
  });
});
