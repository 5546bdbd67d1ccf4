/**
 * Each property must be able to fail. Here every property of invariants.ts runs against a deliberately broken
 * variant of what it checks, and fast-check must find a counterexample that violates the invariant (an
 * `InvariantViolation`; a crash does not count). The variants are injected from outside the library: a
 * subclass, a patched instance method, a wrapped forward call, or a hand-written kernel with the bug. Mutations
 * made inside the library source itself are recorded in MUTATIONS.md.
 *
 * Runs stop at the first counterexample (no shrinking), so a caught mutant costs a handful of forward passes.
 * With FC_VERBOSE=1 each test prints how many runs the search needed and the violation it found.
 */
import fc from "fast-check";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DynamicCache } from "../../src/cache_utils.ts";
import { LlamaForCausalLM, LlamaForSequenceClassification, LlamaModel } from "../../src/models/llama/modeling_llama.ts";
import { LlamaTokenizer } from "../../src/models/llama/tokenization_llama.ts";
import { LlamaTokenizerFast } from "../../src/models/llama/tokenization_llama_fast.ts";
import { Embedding, Module } from "../../src/nn/modules.ts";
import { type MatmulBackend, referenceBackend } from "../../src/ops/matmul.ts";
import { halfToFloat32 } from "../../src/tensor/dtypes.ts";
import { Tensor, toIntRows } from "../../src/tensor/tensor.ts";
import type { Random } from "../../src/utils/random.ts";
import {
  type ForwardFn,
  InvariantViolation,
  type KvHeadOf,
  type RmsNormFn,
  type RotaryFn,
  type SoftmaxFn,
  attentionRowsCausal,
  cacheDecodeEqualsFull,
  causalMasking,
  classificationPoolsLastNonPad,
  gqaEqualsExpandedMha,
  libraryRotary,
  lossIgnoresMinus100,
  maskedIdsContributeNothing,
  matmulBackendsAgree,
  paddingInvariance,
  paddingRowIsZero,
  pretrainingTpEqualsTp1,
  rmsNormEpsRegime,
  rmsNormScaleInvariance,
  rotaryPreservesNorm,
  rotaryRelativePosition,
  rotaryTables,
  softmaxRowsSumToOne,
  tiedEmbeddingsShareStorage,
} from "./invariants.ts";
import { SEED } from "./seed.ts";
import { decodeEncodeRoundTrip, fastRoundTrip, slowFastAgree } from "./tokenizer_invariants.ts";

/** Run `property` until its first counterexample; it must be an InvariantViolation. */
function expectCaught<Ts>(name: string, property: fc.IProperty<Ts>, numRuns: number): void {
  const details = fc.check(property, { seed: SEED, numRuns, endOnFailure: true });
  if (process.env.FC_VERBOSE) {
    console.log(
      `[mutant] ${name}: ${details.failed ? `caught after ${details.numRuns} run(s): ${String(details.errorInstance).split("\n")[0].slice(0, 240)}` : "NOT caught"}`,
    );
  }
  expect(details.failed, `${name}: no counterexample in ${numRuns} runs (FC_SEED=${SEED})`).toBe(true);
  expect(
    details.errorInstance,
    `${name}: the property crashed instead of reporting a violation: ${String(details.errorInstance)}`,
  ).toBeInstanceOf(InvariantViolation);
}

// ---------------------------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------------------------

/** RMSNorm that forgot the square root: x / (mean(x^2) + eps) is homogeneous of degree -1, not 0. */
const rmsNormNoSqrt: RmsNormFn = (x, w, eps) => {
  const H = w.length;
  const out = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += H) {
    let ms = 0;
    for (let i = 0; i < H; i++) ms += x[o + i] * x[o + i];
    const r = 1 / (ms / H + eps);
    for (let i = 0; i < H; i++) out[o + i] = w[i] * x[o + i] * r;
  }
  return out;
};

/** RMSNorm without eps: exactly scale invariant, so it cannot be linear where eps should dominate. */
const rmsNormNoEps: RmsNormFn = (x, w) => {
  const H = w.length;
  const out = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += H) {
    let ms = 0;
    for (let i = 0; i < H; i++) ms += x[o + i] * x[o + i];
    const r = 1 / Math.sqrt(ms / H);
    for (let i = 0; i < H; i++) out[o + i] = w[i] * x[o + i] * r;
  }
  return out;
};

/** x * cos + rot(x) * sin over rows [T, D] with the library's cos/sin tables; `rot` is the mutated rotate_half. */
function rotateWith(
  config: Parameters<RotaryFn>[0],
  x: Float32Array,
  positions: number[],
  sinSign: number,
  rot: (x: Float32Array, o: number, i: number, half: number) => number,
): Float32Array {
  const D = config.head_dim;
  const half = D / 2;
  const [cosT, sinT] = rotaryTables(config, positions);
  const cos = cosT.data as Float32Array;
  const sin = sinT.data as Float32Array;
  const out = new Float32Array(x.length);
  for (let t = 0; t < positions.length; t++) {
    for (let i = 0; i < D; i++)
      out[t * D + i] = x[t * D + i] * cos[t * D + i] + sinSign * rot(x, t * D, i, half) * sin[t * D + i];
  }
  return out;
}

/** rotate_half without its minus sign: cat(x2, x1) instead of cat(-x2, x1) is a reflection mix, not a rotation. */
const rotaryNoMinus: RotaryFn = (config, q, k, positions) => {
  const swap = (x: Float32Array, o: number, i: number, half: number) => (i < half ? x[o + half + i] : x[o + i - half]);
  return [rotateWith(config, q, positions, 1, swap), rotateWith(config, k, positions, 1, swap)];
};

/** k rotated the wrong way (sin negated for k only): norms survive, but q(m).k(n) then depends on m + n. */
const rotaryKWrongSign: RotaryFn = (config, q, k, positions) => {
  const rotateHalf = (x: Float32Array, o: number, i: number, half: number) =>
    i < half ? -x[o + half + i] : x[o + i - half];
  return [libraryRotary(config, q, k, positions)[0], rotateWith(config, k, positions, -1, rotateHalf)];
};

/** Softmax without subtracting the row maximum: exp overflows float32 for logits above ~88.7. */
const softmaxNoMax: SoftmaxFn = (out, x, rows, cols) => {
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.fround(Math.exp(x[r * cols + j]));
    for (let j = 0; j < cols; j++)
      out[r * cols + j] = Math.fround(Math.fround(Math.exp(x[r * cols + j])) / Math.fround(sum));
  }
  return out;
};

/** A "vectorised" backend whose tail loop is missing: it drops the last K % 4 products. */
const tailBugBackend: MatmulBackend = {
  name: "tail-bug",
  linear(out, x, w, bias, M, K, N) {
    const W = w.dtype === "float32" ? (w.data as Float32Array) : halfToFloat32(w.data as Uint16Array, w.dtype);
    const K4 = K - (K % 4);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K4; k++) acc += x[m * K + k] * W[n * K + k];
        out[m * N + n] = Math.fround(acc + (bias === null ? 0 : bias[n]));
      }
    }
  },
};

describe("kernel properties reject broken kernels", () => {
  it("RMSNorm scale invariance catches a norm without the square root", () =>
    expectCaught("rmsnorm/no-sqrt", rmsNormScaleInvariance(rmsNormNoSqrt), 100));
  it("the RMSNorm eps-regime property catches a norm that drops eps", () =>
    expectCaught("rmsnorm/no-eps", rmsNormEpsRegime(rmsNormNoEps), 100));
  it("rotary norm preservation catches rotate_half without its minus sign", () =>
    expectCaught("rope/no-minus", rotaryPreservesNorm(rotaryNoMinus), 100));
  it("the relative-position property catches keys rotated the wrong way", () =>
    expectCaught("rope/k-wrong-sign", rotaryRelativePosition(rotaryKWrongSign), 100));
  it("softmax rows summing to 1 catches a softmax without max subtraction", () =>
    expectCaught("softmax/no-max", softmaxRowsSumToOne(softmaxNoMax), 200));
  it("backend agreement catches a backend that drops the K % 4 tail", () =>
    expectCaught("matmul/tail-bug", matmulBackendsAgree([referenceBackend, tailBugBackend]), 200));
});

// ---------------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------------

/** The causal mask built for cache_position + 1: every query also sees the next token. */
function leakNextToken(model: LlamaForCausalLM): void {
  const inner = model.model;
  if ((inner as any).__leaky) return;
  const orig = LlamaModel.prototype._update_causal_mask;
  inner._update_causal_mask = (attention_mask, B, T, cache_position, past) =>
    orig.call(
      inner,
      attention_mask,
      B,
      T,
      cache_position.map((p) => p + 1),
      past,
    );
  (inner as any).__leaky = true;
}

const leakyForward: ForwardFn = (model, args) => {
  leakNextToken(model);
  return model.forward(args);
};

/** A forward that loses the attention mask on the way (e.g. a wrapper that forgets to pass it on). */
const maskDroppingForward: ForwardFn = (model, args) => model.forward({ ...args, attention_mask: undefined });

/** A cache whose second update (the first decode step) is used but not kept. */
class StepDroppingCache extends DynamicCache {
  private calls = 0;
  override update(key_states: Tensor, value_states: Tensor, layer_idx: number): [Tensor, Tensor] {
    if (layer_idx === 0) this.calls++;
    if (this.calls !== 2) return super.update(key_states, value_states, layer_idx);
    const keep: [Tensor, Tensor] = [this.key_cache[layer_idx], this.value_cache[layer_idx]];
    const out = super.update(key_states, value_states, layer_idx);
    [this.key_cache[layer_idx], this.value_cache[layer_idx]] = keep;
    return out;
  }
}

/** torch.tile order instead of repeat_interleave: query head h reads kv head h mod num_kv_heads. */
const tileKvHeads: KvHeadOf = (h, _nH, nKV) => h % nKV;

/** Equivalent to a sliced MLP that forgets the last slice of its down projection sum. */
function dropLastDownProjSlice(model: LlamaForCausalLM): void {
  const tp = model.config.pretraining_tp;
  const I = model.config.intermediate_size;
  for (const layer of model.model.layers) {
    const w = layer.mlp.down_proj.weight; // [H, I]
    const d = (w.data as Float32Array).slice();
    for (let r = 0; r < w.shape[0]; r++) d.fill(0, r * I + I - I / tp, (r + 1) * I);
    layer.mlp.down_proj.weight = new Tensor("float32", d, w.shape);
  }
}

/** tie_weights that copies the embedding instead of sharing it. */
class CopyingTieLM extends LlamaForCausalLM {
  override tie_weights(): void {
    const out = this.get_output_embeddings();
    if (this.config.tie_word_embeddings) {
      const w = this.get_input_embeddings().weight;
      out.weight = new Tensor(w.dtype, w.data.slice() as Float32Array, w.shape);
    }
  }
}

/** _init_weights that forgets to zero the padding_idx row. */
class UnzeroedPadLM extends LlamaForCausalLM {
  protected override _init_weights(module: Module, rng: Random): void {
    super._init_weights(module, rng);
    if (module instanceof Embedding && module.padding_idx !== null) {
      const D = module.embedding_dim;
      (module.weight.data as Float32Array).fill(0.25, module.padding_idx * D, (module.padding_idx + 1) * D);
    }
  }
}

/** A loss that clamps -100 to class 0 instead of skipping it. */
class ClampedLabelsLM extends LlamaForCausalLM {
  override forward(args: Parameters<LlamaForCausalLM["forward"]>[0]) {
    if (args.labels == null) return super.forward(args);
    return super.forward({
      ...args,
      labels: toIntRows(args.labels, "labels").map((row) => row.map((y) => (y === -100 ? 0 : y))),
    });
  }
}

/** HF 4.44's pooling rule, (first pad - 1) mod T: wrong once a pad id occurs inside a row. */
class FirstPadPoolingCls extends LlamaForSequenceClassification {
  constructor(config: LlamaForSequenceClassification["config"], opts: { seed?: number } = {}) {
    super(config, { ...opts, pooling: "first_pad_minus_one" });
  }
}

/** Pooling one position too early. */
class OffByOnePoolingCls extends LlamaForSequenceClassification {
  override pooled_indices(input_ids: number[][] | null, batch_size: number, T: number): number[] {
    return super.pooled_indices(input_ids, batch_size, T).map((i) => Math.max(0, i - 1));
  }
}

describe("model properties reject broken variants", () => {
  it("causal masking catches a mask that lets the next token leak", () =>
    expectCaught("causal/leak-next", causalMasking(leakyForward), 100));
  it("the attention-row property catches the same leak (future weight > 0)", () =>
    expectCaught("attention/leak-next", attentionRowsCausal(leakyForward), 100));
  it("padding invariance catches a forward that drops the attention mask", () =>
    expectCaught("padding/no-mask", paddingInvariance(maskDroppingForward), 100));
  it("masked ids contributing nothing catches a forward that drops the attention mask", () =>
    expectCaught("masked-ids/no-mask", maskedIdsContributeNothing(maskDroppingForward), 100));
  it("the padding-row property catches an init that leaves the pad row non-zero", () =>
    expectCaught("padding-row/unzeroed", paddingRowIsZero(UnzeroedPadLM), 50));
  it("cache decode = full forward catches a cache that drops a step", () =>
    expectCaught(
      "cache/drop-step",
      cacheDecodeEqualsFull(() => new StepDroppingCache()),
      100,
    ));
  it("GQA = expanded MHA catches kv heads repeated in tile order", () =>
    expectCaught("gqa/tile-order", gqaEqualsExpandedMha(tileKvHeads), 100));
  it("pretraining_tp = tp 1 catches a sliced MLP that drops its last slice", () =>
    expectCaught("tp/drop-last-slice", pretrainingTpEqualsTp1(dropLastDownProjSlice), 100));
  it("tied-storage property catches tie_weights that copies", () =>
    expectCaught("tied/copy", tiedEmbeddingsShareStorage(CopyingTieLM), 100));
  it("the loss property catches a loss that counts -100 as class 0", () =>
    expectCaught("loss/clamp-ignore", lossIgnoresMinus100(ClampedLabelsLM), 100));
  it("classification pooling catches HF 4.44's first-pad-minus-one rule (pads inside rows)", () =>
    expectCaught("cls/first-pad-minus-one", classificationPoolsLastNonPad(FirstPadPoolingCls), 100));
  it("classification pooling catches pooling one position early", () =>
    expectCaught("cls/off-by-one", classificationPoolsLastNonPad(OffByOnePoolingCls), 100));
});

// ---------------------------------------------------------------------------------------------------------------
// Tokenizers
// ---------------------------------------------------------------------------------------------------------------

const REF = path.resolve(process.cwd(), "../shared/reference");
const MODEL = path.join(REF, "tokenizer.model");
const JSON_LEGACY = path.join(REF, "tokenizer", "tokenizer.json");
const haveTokenizers = existsSync(MODEL) && existsSync(JSON_LEGACY);
if (!haveTokenizers) console.warn(`skipping tokenizer mutants: the Llama 2 tokenizer files are absent from ${REF}`);

describe.skipIf(!haveTokenizers)("tokenizer properties reject broken variants", () => {
  it("the fast round trip catches clean_up_tokenization_spaces (it rewrites ' .' to '.', ' n't' to \"n't\", ...)", () => {
    const cleaning = new LlamaTokenizerFast({
      tokenizer_file: JSON_LEGACY,
      legacy: true,
      clean_up_tokenization_spaces: true,
    });
    expectCaught("tokenizer/cleanup-spaces", decodeEncodeRoundTrip(cleaning, fastRoundTrip), 2000); // about 1 text in 70 has " ." and the like
  });
  it("slow/fast agreement catches a slow tokenizer in non-legacy mode against the legacy tokenizer.json", () => {
    const slowNonLegacy = new LlamaTokenizer({ vocab_file: MODEL, legacy: false });
    const fast = new LlamaTokenizerFast({ tokenizer_file: JSON_LEGACY, legacy: true });
    expectCaught("tokenizer/legacy-mismatch", slowFastAgree(slowNonLegacy, fast), 300);
  });
});
