/**
 * The invariants of llama-ts as fast-check properties, each built from the implementation it checks, so the
 * same property runs against the library (kernels.test.ts, model.test.ts) and against deliberately broken
 * variants that it must reject (mutations.test.ts).
 *
 * A property signals a broken invariant by throwing `InvariantViolation` with a message that names the numbers;
 * any other exception is a crash, which the mutation tests do not count as "the property caught it".
 * Expected values come from closed-form maths or from an independent computation in this file (float64 loops),
 * never from the code under test run a second way and compared with itself.
 */
import fc from "fast-check";
import { DynamicCache } from "../../src/cache_utils.ts";
import { positionIdsFromAttentionMask } from "../../src/generation/utils.ts";
import { LlamaConfig } from "../../src/models/llama/configuration_llama.ts";
import {
  FLOAT32_MIN,
  LlamaForCausalLM,
  LlamaForSequenceClassification,
  LlamaRMSNorm,
  LlamaRotaryEmbedding,
  apply_rotary_pos_emb,
} from "../../src/models/llama/modeling_llama.ts";
import type { MatmulBackend, WeightView } from "../../src/ops/matmul.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import {
  type LinearProblem,
  type LlamaConfigArbConstraints,
  type ModelClass,
  float32ArrayArb,
  linearProblemArb,
  llamaConfigArb,
  llamaModelArb,
  paddedBatchArb,
  tokenIdArb,
  tokenIdsArb,
} from "../../src/testing/arbitraries.ts";
import { type Tolerance, compareTensors } from "../../src/testing/compare.ts";

const ULP = 2 ** -24; // float32 unit roundoff

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

function violated(message: string): never {
  throw new InvariantViolation(message);
}

function expectClose(got: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what: string): void {
  const r = compareTensors(got, expected, tol, what);
  if (!r.ok) violated(r.message);
}

/** Logits of row b, position t, as a [V] slice of a [B, T, V] tensor. */
function logitsAt(logits: Tensor, b: number, t: number): Float32Array {
  const [, T, V] = logits.shape;
  return (logits.data as Float32Array).subarray((b * T + t) * V, (b * T + t + 1) * V);
}

// ---------------------------------------------------------------------------------------------------------------
// RMSNorm
// ---------------------------------------------------------------------------------------------------------------

/** rows of x [R, H] -> normalised rows, weight [H]. */
export type RmsNormFn = (x: Float32Array, weight: Float32Array, eps: number) => Float32Array;

export const libraryRmsNorm: RmsNormFn = (x, weight, eps) => {
  const H = weight.length;
  const norm = new LlamaRMSNorm(H, eps);
  norm.weight = new Tensor("float32", weight, [H]);
  return norm.forward(new Tensor("float32", x, [x.length / H, H])).data as Float32Array;
};

function meanSquare(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return s / x.length;
}

const rmsCase = fc.integer({ min: 1, max: 24 }).chain((H) =>
  fc.record({
    x: float32ArrayArb(H, { min: -4, max: 4 }),
    w: float32ArrayArb(H, { min: -2, max: 2 }),
    eps: fc.constantFrom(1e-6, 1e-5),
  }),
);

/**
 * y(x) = w * x / sqrt(mean(x^2) + eps) is homogeneous of degree 0 in x only when eps = 0. For c > 0,
 *   y(c x) / y(x) = sqrt((ms + eps) / (ms + eps / c^2)),   ms = mean(x^2),
 * so |y(cx) - y(x)| <= eps |1 - 1/c^2| / (2 ms) |y(x)|, plus float32 rounding. We test in the regime where this
 * bound is small (ms >= 1e-2, c in [0.5, 64]) and allow exactly that bound plus 1e-6 relative for rounding.
 */
export function rmsNormScaleInvariance(norm: RmsNormFn = libraryRmsNorm) {
  return fc.property(
    rmsCase.filter(({ x }) => meanSquare(x) >= 1e-2),
    fc.integer({ min: 1, max: 128 }).map((k) => k / 2), // c in [0.5, 64]
    ({ x, w, eps }, c) => {
      const cx = x.map((v) => c * v); // Float32Array.map rounds to float32
      const y = norm(x, w, eps);
      const yc = norm(cx, w, eps);
      const rel = (eps * Math.abs(1 - 1 / (c * c))) / (2 * meanSquare(x)) + 1e-6;
      expectClose(yc, y, { atol: 1e-7, rtol: rel }, `RMSNorm(${c} x) vs RMSNorm(x)`);
    },
  );
}

/**
 * Where eps dominates (mean((c x)^2) <= 1e-4 eps), RMSNorm is nearly linear instead: y(c x) = c y(x) within
 * (1 + c^2) ms / (2 eps) relative. This is why scale invariance is only approximate.
 */
export function rmsNormEpsRegime(norm: RmsNormFn = libraryRmsNorm) {
  return fc.property(rmsCase, fc.integer({ min: 1, max: 8 }), ({ x, w, eps }, c) => {
    const ms = meanSquare(x);
    if (ms === 0) return;
    const target = 1e-4 * eps;
    const s = Math.fround(Math.sqrt(target / (c * c * ms))); // scale x down so that mean((c x s)^2) ~ 1e-4 eps
    const xs = x.map((v) => v * s);
    const cxs = xs.map((v) => c * v);
    const y = norm(xs, w, eps);
    const yc = norm(cxs, w, eps);
    const msx = meanSquare(xs);
    const rel = ((1 + c * c) * msx) / (2 * eps) + 1e-6;
    expectClose(
      yc,
      y.map((v) => c * v),
      { atol: 1e-12, rtol: rel },
      `eps regime: RMSNorm(${c} x) vs ${c} RMSNorm(x)`,
    );
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Rotary embeddings
// ---------------------------------------------------------------------------------------------------------------

/** Rotate q and k rows [T, D] at the given positions; returns [q', k'] [T, D]. */
export type RotaryFn = (
  config: LlamaConfig,
  q: Float32Array,
  k: Float32Array,
  positions: number[],
) => [Float32Array, Float32Array];

/** cos/sin from a fresh LlamaRotaryEmbedding (dynamic rope is stateful), rotation by apply_rotary_pos_emb. */
export function rotaryTables(config: LlamaConfig, positions: number[]): [Tensor, Tensor] {
  return new LlamaRotaryEmbedding(config).forward([positions]);
}

export const libraryRotary: RotaryFn = (config, q, k, positions) => {
  const D = config.head_dim;
  const T = positions.length;
  const [cos, sin] = rotaryTables(config, positions);
  const [qe, ke] = apply_rotary_pos_emb(
    new Tensor("float32", q, [1, 1, T, D]),
    new Tensor("float32", k, [1, 1, T, D]),
    cos,
    sin,
  );
  return [qe.data as Float32Array, ke.data as Float32Array];
};

/**
 * The factor HF multiplies cos and sin by (closed form from modeling_rope_utils.py): 1 except for yarn
 * (attention_factor, default 0.1 ln(factor) + 1) and longrope (attention_factor, default
 * sqrt(1 + ln(factor) / ln(original_max_position_embeddings)) when factor > 1).
 */
export function expectedAttentionScaling(config: LlamaConfig): number {
  const rs = config.rope_scaling;
  if (rs === null) return 1;
  const type = rs.rope_type ?? rs.type;
  if (type === "yarn") return rs.attention_factor ?? (rs.factor! <= 1 ? 1 : 0.1 * Math.log(rs.factor!) + 1);
  if (type === "longrope") {
    const factor = rs.factor ?? 1;
    return (
      rs.attention_factor ??
      (factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(config.max_position_embeddings)))
    );
  }
  return 1;
}

function norm2(x: ArrayLike<number>, o: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[o + i] * x[o + i];
  return Math.sqrt(s);
}

function dot(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
  return s;
}

const ropeConfig = llamaConfigArb();

/**
 * RoPE rotates each pair (i, i + D/2) by the angle position * inv_freq[i]: a rotation, so every row keeps its
 * norm, times the attention scaling HF folds into cos and sin (1 for all but yarn and longrope).
 */
export function rotaryPreservesNorm(rotary: RotaryFn = libraryRotary) {
  return fc.property(
    ropeConfig.chain((config) =>
      fc.record({
        config: fc.constant(config),
        positions: fc.array(fc.integer({ min: 0, max: 2 * config.max_position_embeddings }), {
          minLength: 1,
          maxLength: 4,
        }),
        seed: fc.nat(),
      }),
    ),
    ({ config, positions }) => {
      const D = config.head_dim;
      const T = positions.length;
      const q = Float32Array.from({ length: T * D }, (_, i) => Math.fround(Math.sin(1.7 * i + 0.3) * 2));
      const k = Float32Array.from({ length: T * D }, (_, i) => Math.fround(Math.cos(0.9 * i + 1.1) * 3));
      const [qr, kr] = rotary(config, q, k, positions);
      const s = expectedAttentionScaling(config);
      for (let t = 0; t < T; t++) {
        for (const [x, xr, name] of [
          [q, qr, "q"],
          [k, kr, "k"],
        ] as const) {
          const before = norm2(x, t * D, D);
          const after = norm2(xr, t * D, D);
          if (Math.abs(after - s * before) > 1e-5 * s * before + 1e-6) {
            violated(
              `|rot(${name})| = ${after} at position ${positions[t]}, expected ${s} * ${before} = ${s * before}`,
            );
          }
        }
      }
    },
  );
}

/**
 * q(m) . k(n) depends only on m - n: rotating q by m*theta and k by n*theta leaves their dot product a function
 * of (m - n) * theta. Checked by shifting both positions by the same amount. Tolerance: the angle
 * position * inv_freq is rounded to float32 (error <= P 2^-24 with inv_freq <= 1, P the largest position),
 * and each rotated component carries a few float32 roundings.
 */
export function rotaryRelativePosition(rotary: RotaryFn = libraryRotary) {
  return fc.property(
    ropeConfig.chain((config) => {
      const P = 2 * config.max_position_embeddings;
      const D = config.head_dim;
      return fc.record({
        config: fc.constant(config),
        m: fc.integer({ min: 0, max: P }),
        n: fc.integer({ min: 0, max: P }),
        shift: fc.integer({ min: 1, max: P }),
        q: float32ArrayArb(D, { min: -2, max: 2 }),
        k: float32ArrayArb(D, { min: -2, max: 2 }),
      });
    }),
    ({ config, m, n, shift, q, k }) => {
      const D = config.head_dim;
      const positions = [m, n, m + shift, n + shift];
      const qs = new Float32Array(4 * D);
      const ks = new Float32Array(4 * D);
      for (let t = 0; t < 4; t++) {
        qs.set(q, t * D);
        ks.set(k, t * D);
      }
      const [qr, kr] = rotary(config, qs, ks, positions);
      const before = dot(qr, 0, kr, D, D); // q at m, k at n
      const after = dot(qr, 2 * D, kr, 3 * D, D); // q at m + shift, k at n + shift
      const s = expectedAttentionScaling(config);
      const P = m + n + 2 * shift;
      const tol = s * s * norm2(q, 0, D) * norm2(k, 0, D) * (4 * P * ULP + 1e-5) + 1e-7;
      if (Math.abs(after - before) > tol) {
        violated(
          `q(${m}).k(${n}) = ${before} but q(${m + shift}).k(${n + shift}) = ${after} (|diff| ${Math.abs(after - before)} > ${tol})`,
        );
      }
    },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Softmax
// ---------------------------------------------------------------------------------------------------------------

export type SoftmaxFn = (out: Float32Array, x: Float32Array, rows: number, cols: number) => Float32Array;

/** Logit rows as attention sees them: ordinary scores, large magnitudes, and HF's float32-minimum mask value. */
const softmaxRowsArb = fc.integer({ min: 1, max: 40 }).chain((cols) =>
  fc.record({
    cols: fc.constant(cols),
    rows: fc.array(
      fc.array(
        fc.oneof(
          { weight: 6, arbitrary: fc.integer({ min: -2000, max: 2000 }).map((v) => Math.fround(v / 100)) },
          { weight: 2, arbitrary: fc.constantFrom(FLOAT32_MIN, -1e30, 88, 89, 100, 1e4, -1e4, 3e38) },
          { weight: 1, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }) },
        ),
        { minLength: cols, maxLength: cols },
      ),
      { minLength: 1, maxLength: 4 },
    ),
  }),
);

/**
 * Each softmax row is a probability distribution: every entry finite in [0, 1] and the row sums to 1 within
 * float32 rounding ((cols + 2) * 2^-24: each entry is rounded once, plus the reciprocal of the sum). A row that
 * is all float32-minimum (a fully masked query) is uniform, as in HF.
 */
export function softmaxRowsSumToOne(softmax: SoftmaxFn) {
  return fc.property(softmaxRowsArb, ({ cols, rows }) => {
    const x = Float32Array.from(rows.flat());
    const out = softmax(new Float32Array(x.length), x, rows.length, cols);
    for (let r = 0; r < rows.length; r++) {
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        const p = out[r * cols + j];
        if (!(p >= 0 && p <= 1)) violated(`row ${r} entry ${j} is ${p}, not a probability (input ${x[r * cols + j]})`);
        sum += p;
      }
      if (Math.abs(sum - 1) > (cols + 2) * ULP) violated(`row ${r} sums to ${sum}`);
      if (rows[r].every((v) => v === FLOAT32_MIN)) {
        for (let j = 0; j < cols; j++)
          if (Math.abs(out[r * cols + j] - 1 / cols) > 2 * ULP) violated(`fully masked row ${r} is not uniform`);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Matmul backends
// ---------------------------------------------------------------------------------------------------------------

/** IEEE binary16 bits -> value, written out from the format's definition (independent of src/tensor/dtypes.ts). */
function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

const bf16View = new DataView(new ArrayBuffer(4));
/** bfloat16 bits are the top half of a float32. */
function bfloat16Value(bits: number): number {
  bf16View.setUint32(0, bits << 16);
  return bf16View.getFloat32(0);
}

function weightValue(w: WeightView, i: number): number {
  if (w.dtype === "float32") return w.data[i];
  return w.dtype === "float16" ? float16Value(w.data[i]) : bfloat16Value(w.data[i]);
}

/**
 * Every backend computes out = x W^T + b within float32 rounding of the exact (float64) value:
 *   |out - exact| <= (K + 2) 2^-24 (sum_k |x_k w_k| + |b|)
 * which is the classic error bound of a float32 dot product summed in any order (a float64 accumulator is far
 * inside it). The exact value is a float64 loop here, decoding 2-byte weights from their bit definitions.
 */
export function matmulBackendsAgree(
  backends: readonly MatmulBackend[],
  problems: fc.Arbitrary<LinearProblem> = linearProblemArb(),
) {
  return fc.property(problems, ({ M, K, N, x, w, bias }) => {
    const exact = new Float64Array(M * N);
    const bound = new Float64Array(M * N);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        let a = 0;
        for (let k = 0; k < K; k++) {
          const p = x[m * K + k] * weightValue(w, n * K + k);
          s += p;
          a += Math.abs(p);
        }
        const b = bias === null ? 0 : bias[n];
        exact[m * N + n] = s + b;
        bound[m * N + n] = (K + 2) * ULP * (a + Math.abs(b)) + 1e-45;
      }
    }
    for (const backend of backends) {
      const out = new Float32Array(M * N).fill(NaN);
      backend.linear(out, x, w, bias, M, K, N);
      for (let i = 0; i < M * N; i++) {
        if (!(Math.abs(out[i] - exact[i]) <= bound[i])) {
          violated(
            `backend ${backend.name}: out[${Math.floor(i / N)}, ${i % N}] = ${out[i]}, exact ${exact[i]} (bound ${bound[i]}; M=${M} K=${K} N=${N}, ${w.dtype})`,
          );
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------------------------

type CausalLM = LlamaForCausalLM;
type ForwardArgs = Parameters<LlamaForCausalLM["forward"]>[0];
/** How a property calls the model; mutants change it (e.g. drop the attention mask). */
export type ForwardFn = (model: CausalLM, args: ForwardArgs) => ReturnType<LlamaForCausalLM["forward"]>;
const plainForward: ForwardFn = (model, args) => model.forward(args);

/** Logits of real tokens agree to this (masked keys get weight exactly 0, so differences are rounding only). */
const TIGHT: Tolerance = { atol: 1e-5, rtol: 1e-5 };

/** LlamaForCausalLM cases; `Model` lets a mutant subclass stand in. */
function causalCases(constraints: LlamaConfigArbConstraints = {}, Model: ModelClass<CausalLM> = LlamaForCausalLM) {
  return llamaModelArb(Model, llamaConfigArb(constraints));
}

/**
 * Causal masking: the logits at position t depend only on tokens 0..t, so replacing every token from position p
 * on leaves the logits before p unchanged (bit for bit here: masked keys get softmax weight exactly 0).
 */
export function causalMasking(forward: ForwardFn = plainForward, Model: ModelClass<CausalLM> = LlamaForCausalLM) {
  return fc.property(
    causalCases({}, Model).chain((mc) =>
      fc.record({
        mc: fc.constant(mc),
        ids: tokenIdsArb(mc.config.vocab_size, { length: { min: 2, max: 8 } }),
        p: fc.nat(),
        fresh: fc.array(tokenIdArb(mc.config.vocab_size), { minLength: 8, maxLength: 8 }),
      }),
    ),
    ({ mc, ids, p, fresh }) => {
      const T = ids[0].length;
      const cut = 1 + (p % (T - 1)); // 1..T-1
      const changed = ids.map((row) => row.map((id, t) => (t < cut ? id : fresh[t])));
      const a = forward(mc.model, { input_ids: ids }).logits;
      const b = forward(mc.model, { input_ids: changed }).logits;
      for (let bi = 0; bi < ids.length; bi++) {
        for (let t = 0; t < cut; t++)
          expectClose(
            logitsAt(b, bi, t),
            logitsAt(a, bi, t),
            { atol: 1e-6, rtol: 1e-6 },
            `logits[${bi}, ${t}] after changing tokens >= ${cut}`,
          );
      }
    },
  );
}

/**
 * Attention probabilities (output_attentions): every row sums to 1 and gives weight exactly 0 to future keys.
 */
export function attentionRowsCausal(forward: ForwardFn = plainForward) {
  return fc.property(
    causalCases().chain((mc) =>
      fc.record({ mc: fc.constant(mc), ids: tokenIdsArb(mc.config.vocab_size, { length: { min: 1, max: 8 } }) }),
    ),
    ({ mc, ids }) => {
      const out = forward(mc.model, { input_ids: ids, output_attentions: true });
      for (const [layer, w] of (out.attentions ?? []).entries()) {
        const [B, H, T, S] = w.shape;
        const d = w.data as Float32Array;
        for (let r = 0; r < B * H * T; r++) {
          const i = r % T;
          let sum = 0;
          for (let j = 0; j < S; j++) {
            sum += d[r * S + j];
            if (j > i && d[r * S + j] !== 0)
              violated(`layer ${layer}: query ${i} gives weight ${d[r * S + j]} to future key ${j}`);
          }
          if (Math.abs(sum - 1) > (S + 2) * ULP) violated(`layer ${layer}: attention row sums to ${sum}`);
        }
      }
    },
  );
}

/**
 * Padding: running a batch padded on either side, with its attention_mask and position_ids derived from the
 * mask as generate does (cumsum - 1), gives each real token the logits it gets when its sequence runs alone.
 */
export function paddingInvariance(forward: ForwardFn = plainForward) {
  return fc.property(
    causalCases().chain((mc) =>
      fc.record({
        mc: fc.constant(mc),
        batch: paddedBatchArb({
          vocab_size: mc.config.vocab_size,
          pad_token_id: mc.config.pad_token_id ?? 0,
          batch_size: { min: 1, max: 3 },
        }),
      }),
    ),
    ({ mc, batch }) => {
      const out = forward(mc.model, {
        input_ids: batch.input_ids,
        attention_mask: batch.attention_mask,
        position_ids: positionIdsFromAttentionMask(batch.attention_mask),
      }).logits;
      const T = batch.input_ids[0].length;
      batch.sequences.forEach((seq, b) => {
        const alone = forward(mc.model, { input_ids: [seq] }).logits;
        const offset = batch.padding_side === "left" ? T - seq.length : 0;
        for (let t = 0; t < seq.length; t++) {
          expectClose(
            logitsAt(out, b, offset + t),
            logitsAt(alone, 0, t),
            TIGHT,
            `${batch.padding_side}-padded row ${b}, token ${t}`,
          );
        }
      });
    },
  );
}

/**
 * Ids at masked positions contribute nothing: with any attention_mask, changing the ids where the mask is 0
 * leaves the logits where it is 1 unchanged (an unmasked query never attends to a masked key).
 */
export function maskedIdsContributeNothing(forward: ForwardFn = plainForward) {
  return fc.property(
    causalCases().chain((mc) => {
      const V = mc.config.vocab_size;
      return tokenIdsArb(V, { length: { min: 2, max: 8 } }).chain((ids) =>
        fc.record({
          mc: fc.constant(mc),
          ids: fc.constant(ids),
          mask: fc.array(fc.array(fc.constantFrom(0, 1, 1), { minLength: ids[0].length, maxLength: ids[0].length }), {
            minLength: ids.length,
            maxLength: ids.length,
          }),
          other: fc.array(tokenIdArb(V), { minLength: 8, maxLength: 8 }),
        }),
      );
    }),
    ({ mc, ids, mask, other }) => {
      const changed = ids.map((row, b) => row.map((id, t) => (mask[b][t] === 0 ? other[t] : id)));
      const a = forward(mc.model, { input_ids: ids, attention_mask: mask }).logits;
      const c = forward(mc.model, { input_ids: changed, attention_mask: mask }).logits;
      mask.forEach((row, b) =>
        row.forEach((m, t) => {
          if (m === 1)
            expectClose(logitsAt(c, b, t), logitsAt(a, b, t), TIGHT, `logits[${b}, ${t}] after changing masked ids`);
        }),
      );
    },
  );
}

/** padding_idx: HF's _init_weights zeroes the embedding row of pad_token_id, whatever the seed. */
export function paddingRowIsZero(Model: ModelClass<CausalLM> = LlamaForCausalLM) {
  return fc.property(causalCases({ pad_token: "always" }, Model), ({ config, model }) => {
    const emb = model.model.embed_tokens;
    const pad = emb.padding_idx!;
    const H = config.hidden_size;
    const row = emb.weight.toFloat32().subarray(pad * H, (pad + 1) * H);
    if (row.some((v) => v !== 0))
      violated(`embed_tokens.weight[${pad}] (the pad row) is [${Array.from(row)}], expected zeros`);
  });
}

/** What a KV-cache property feeds the model: a cache object to fill step by step. */
export type CacheFactory = () => DynamicCache;

/**
 * KV cache: prefilling a prompt and then decoding one token at a time with the cache gives the logits a single
 * full forward over the whole sequence gives (generate's way: left padding, attention_mask, position_ids from
 * the mask, cache_position). Lengths stay within max_position_embeddings, so dynamic RoPE never rescales.
 */
export function cacheDecodeEqualsFull(makeCache: CacheFactory = () => new DynamicCache()) {
  return fc.property(
    causalCases().chain((mc) => {
      const V = mc.config.vocab_size;
      return fc.record({
        mc: fc.constant(mc),
        batch: paddedBatchArb({
          vocab_size: V,
          pad_token_id: mc.config.pad_token_id ?? 0,
          padding_side: "left",
          length: { min: 1, max: 6 },
        }),
        steps: fc.array(tokenIdArb(V), { minLength: 1, maxLength: 4 }),
      });
    }),
    ({ mc, batch, steps }) => {
      const B = batch.input_ids.length;
      const P = batch.input_ids[0].length;
      const fullIds = batch.input_ids.map((row, b) => [...row, ...steps.map((s) => (s + b) % mc.config.vocab_size)]);
      const fullMask = batch.attention_mask.map((row) => [...row, ...steps.map(() => 1)]);
      const positions = positionIdsFromAttentionMask(fullMask);
      const full = mc.model.forward({
        input_ids: fullIds,
        attention_mask: fullMask,
        position_ids: positions,
        use_cache: false,
      }).logits;

      const cache = makeCache();
      const prefill = mc.model.forward({
        input_ids: batch.input_ids,
        attention_mask: batch.attention_mask,
        position_ids: positions.map((r) => r.slice(0, P)),
        past_key_values: cache,
        use_cache: true,
      }).logits;
      for (let b = 0; b < B; b++) {
        for (let t = P - batch.sequences[b].length; t < P; t++)
          expectClose(logitsAt(prefill, b, t), logitsAt(full, b, t), TIGHT, `prefill logits[${b}, ${t}]`);
      }
      for (let i = 0; i < steps.length; i++) {
        const t = P + i;
        const step = mc.model.forward({
          input_ids: fullIds.map((row) => [row[t]]),
          attention_mask: fullMask.map((row) => row.slice(0, t + 1)),
          position_ids: positions.map((row) => [row[t]]),
          past_key_values: cache,
          use_cache: true,
          cache_position: [t],
        }).logits;
        for (let b = 0; b < B; b++)
          expectClose(logitsAt(step, b, 0), logitsAt(full, b, t), TIGHT, `decode step ${i} (position ${t}) row ${b}`);
      }
      if (cache.get_seq_length() !== P + steps.length)
        violated(`cache holds ${cache.get_seq_length()} positions, expected ${P + steps.length}`);
    },
  );
}

/** Which kv head query head h reads: HF's repeat_kv (repeat_interleave) gives floor(h / n_rep). */
export type KvHeadOf = (h: number, num_heads: number, num_kv_heads: number) => number;
export const repeatInterleave: KvHeadOf = (h, nH, nKV) => Math.floor(h / (nH / nKV));

/** Copy every parameter of `from` into `to` (same names), except those `skip` names. */
function copyParameters(from: CausalLM, to: CausalLM, skip: (name: string) => boolean): void {
  for (const [name, t] of from.named_parameters()) {
    if (skip(name)) continue;
    if (!to.set_parameter(name, t)) throw new Error(`no parameter ${name} in the target model`);
  }
  to.tie_weights();
}

/**
 * Grouped-query attention is multi-head attention with each kv head's projection rows repeated for the query
 * heads that share it: a GQA model equals an MHA model (num_key_value_heads = num_attention_heads) whose k/v
 * rows for query head h are the GQA rows of kv head floor(h / n_rep).
 */
export function gqaEqualsExpandedMha(kvHeadOf: KvHeadOf = repeatInterleave) {
  return fc.property(
    causalCases({ pretraining_tp: [1] }).chain((mc) =>
      fc.record({ mc: fc.constant(mc), ids: tokenIdsArb(mc.config.vocab_size) }),
    ),
    ({ mc, ids }) => {
      const c = mc.config;
      const nH = c.num_attention_heads;
      const nKV = c.num_key_value_heads;
      const D = c.head_dim;
      const mhaConfig = new LlamaConfig({ ...c.to_dict(), num_key_value_heads: nH, head_dim: D });
      const mha = new LlamaForCausalLM(mhaConfig, { seed: mc.seed + 1 });
      const isKv = (name: string) => /self_attn\.[kv]_proj\.(weight|bias)$/.test(name);
      copyParameters(mc.model, mha, isKv);
      for (const [name, t] of mc.model.named_parameters()) {
        if (!isKv(name)) continue;
        const src = t.toFloat32();
        const width = t.shape.length === 2 ? t.shape[1] : 1; // weight rows [nKV*D, H] or bias [nKV*D]
        const out = new Float32Array(nH * D * width);
        for (let h = 0; h < nH; h++)
          out.set(
            src.subarray(kvHeadOf(h, nH, nKV) * D * width, (kvHeadOf(h, nH, nKV) + 1) * D * width),
            h * D * width,
          );
        mha.set_parameter(name, new Tensor("float32", out, t.shape.length === 2 ? [nH * D, width] : [nH * D]));
      }
      const a = mc.model.forward({ input_ids: ids }).logits;
      const b = mha.forward({ input_ids: ids }).logits;
      expectClose(
        b.data as Float32Array,
        a.data as Float32Array,
        TIGHT,
        `MHA(expanded) vs GQA logits (heads ${nH}, kv heads ${nKV})`,
      );
    },
  );
}

/** Builds the pretraining_tp model compared with the tp = 1 one; mutants alter it. */
export type TpModelHook = (model: CausalLM) => void;

/**
 * pretraining_tp > 1 splits every projection into tp slices and sums or concatenates the partial products
 * (HF's path for Llama-2-70B-style checkpoints); without biases (HF's tp path drops them) it is the same
 * function as tp = 1. The same seed gives the same weights whatever tp is, and the logits agree within float32
 * rounding of the re-associated sums (the reference tolerance).
 */
export function pretrainingTpEqualsTp1(hook: TpModelHook = () => {}) {
  return fc.property(
    causalCases({ pretraining_tp: [2, 4], biases: false }).chain((mc) =>
      fc.record({ mc: fc.constant(mc), ids: tokenIdsArb(mc.config.vocab_size) }),
    ),
    ({ mc, ids }) => {
      const tp1 = new LlamaForCausalLM(new LlamaConfig({ ...mc.config.to_dict(), pretraining_tp: 1 }), {
        seed: mc.seed,
      });
      const names = tp1.named_parameters();
      const tpParams = new Map(mc.model.named_parameters());
      for (const [name, t] of names) {
        const u = tpParams.get(name)!;
        const r = compareTensors(u, t, { atol: 0, rtol: 0 }, name);
        if (!r.ok)
          violated(`the seed gives different weights with pretraining_tp=${mc.config.pretraining_tp}: ${r.message}`);
      }
      hook(mc.model);
      const a = tp1.forward({ input_ids: ids }).logits;
      const b = mc.model.forward({ input_ids: ids }).logits;
      expectClose(
        b.data as Float32Array,
        a.data as Float32Array,
        { atol: 1e-4, rtol: 1e-4 },
        `pretraining_tp=${mc.config.pretraining_tp} vs 1`,
      );
    },
  );
}

/**
 * Tied embeddings share storage: with tie_word_embeddings, lm_head.weight is embed_tokens.weight (a write to
 * one is seen by the other, and state_dict stores it once); without, they are separate.
 */
export function tiedEmbeddingsShareStorage(Model: ModelClass<CausalLM> = LlamaForCausalLM) {
  return fc.property(causalCases({}, Model), fc.nat(), ({ config, model }, pick) => {
    const emb = model.model.embed_tokens.weight;
    const head = model.lm_head.weight;
    const i = pick % emb.size;
    const data = emb.data as Float32Array;
    const old = data[i];
    data[i] = old + 1;
    const seen = (head.data as Float32Array)[i] === data[i];
    data[i] = old;
    if (config.tie_word_embeddings !== seen) {
      violated(
        `tie_word_embeddings=${config.tie_word_embeddings} but a write to embed_tokens.weight[${i}] ${seen ? "is" : "is not"} seen by lm_head.weight`,
      );
    }
    const stored = model.state_dict().has("lm_head.weight");
    if (stored === config.tie_word_embeddings)
      violated(
        `state_dict ${stored ? "stores" : "lacks"} lm_head.weight with tie_word_embeddings=${config.tie_word_embeddings}`,
      );
  });
}

/**
 * The causal LM loss ignores -100: it is the mean, over the positions whose shifted label is not -100, of
 * logsumexp(logits) - logits[label], computed here in float64 from the returned logits; NaN (0/0, as torch)
 * when every label is ignored.
 */
export function lossIgnoresMinus100(Model: ModelClass<CausalLM> = LlamaForCausalLM) {
  return fc.property(
    causalCases({}, Model).chain((mc) => {
      const V = mc.config.vocab_size;
      return tokenIdsArb(V, { length: { min: 2, max: 8 } }).chain((ids) =>
        fc.record({
          mc: fc.constant(mc),
          ids: fc.constant(ids),
          labels: fc.array(
            fc.array(fc.oneof(tokenIdArb(V), fc.constant(-100)), {
              minLength: ids[0].length,
              maxLength: ids[0].length,
            }),
            { minLength: ids.length, maxLength: ids.length },
          ),
        }),
      );
    }),
    ({ mc, ids, labels }) => {
      const out = mc.model.forward({ input_ids: ids, labels });
      const [B, T] = out.logits.shape;
      let total = 0;
      let count = 0;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t + 1 < T; t++) {
          const y = labels[b][t + 1];
          if (y === -100) continue;
          const row = logitsAt(out.logits, b, t);
          let max = -Infinity;
          for (const v of row) max = Math.max(max, v);
          let s = 0;
          for (const v of row) s += Math.exp(v - max);
          total += max + Math.log(s) - row[y];
          count++;
        }
      }
      const loss = out.loss!.item();
      if (count === 0) {
        if (!Number.isNaN(loss)) violated(`every label is -100 but the loss is ${loss}, expected NaN`);
        return;
      }
      const expected = total / count;
      if (!(Math.abs(loss - expected) <= 1e-5 + 1e-5 * Math.abs(expected)))
        violated(`loss ${loss}, expected ${expected} over ${count} counted positions`);
    },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Sequence classification
// ---------------------------------------------------------------------------------------------------------------

/**
 * LlamaForSequenceClassification pools the last token that is not pad_token_id: logits[b] = score(h[b, i_b]),
 * with i_b = argmax_t(t * (ids[b, t] != pad)) (HF's formula, so an all-pad row pools position 0), computed here
 * as a float64 dot product of the final hidden state with score.weight.
 */
export function classificationPoolsLastNonPad(
  Model: ModelClass<LlamaForSequenceClassification> = LlamaForSequenceClassification,
) {
  const configs = llamaConfigArb({ pad_token: "always" }).chain((c) =>
    fc.integer({ min: 1, max: 3 }).map((n) => {
      const { id2label, label2id, ...rest } = c.to_dict();
      return new LlamaConfig({ ...rest, num_labels: n });
    }),
  );
  return fc.property(
    llamaModelArb(Model, configs).chain((mc) => {
      const V = mc.config.vocab_size;
      const pad = mc.config.pad_token_id!;
      const id = fc.oneof({ weight: 2, arbitrary: tokenIdArb(V) }, { weight: 1, arbitrary: fc.constant(pad) });
      return fc.record({
        mc: fc.constant(mc),
        ids: fc
          .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 8 }))
          .chain(([B, T]) => fc.array(fc.array(id, { minLength: T, maxLength: T }), { minLength: B, maxLength: B })),
      });
    }),
    ({ mc, ids }) => {
      const pad = mc.config.pad_token_id!;
      const H = mc.config.hidden_size;
      const L = mc.config.num_labels;
      const logits = mc.model.forward({ input_ids: ids }).logits.data as Float32Array;
      const hidden = mc.model.model.forward({ input_ids: ids }).last_hidden_state.data as Float32Array;
      const W = mc.model.score.weight.toFloat32();
      const T = ids[0].length;
      ids.forEach((row, b) => {
        let idx = 0;
        let best = -1;
        row.forEach((id, t) => {
          const v = t * (id !== pad ? 1 : 0);
          if (v > best) [best, idx] = [v, t];
        });
        const expected = Array.from({ length: L }, (_, l) => dot(hidden, (b * T + idx) * H, W, l * H, H));
        expectClose(
          logits.subarray(b * L, (b + 1) * L),
          expected,
          TIGHT,
          `pooled logits of row ${b} (ids ${JSON.stringify(row)}, pad ${pad}, pooled position ${idx})`,
        );
      });
    },
  );
}
