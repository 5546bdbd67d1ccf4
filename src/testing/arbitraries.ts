/**
 * fast-check arbitraries for property tests of llama-ts (and of anything written against it).
 *
 * What they generate:
 *   llamaConfigFieldsArb / llamaConfigArb   small valid LlamaConfigs: heads, kv heads (GQA), head_dim (derived or
 *                                           explicit), every rope_type (default, linear, dynamic, llama3, yarn,
 *                                           longrope), biases, tie_word_embeddings, pretraining_tp, pad_token_id
 *   llamaModelArb                           a model built from such a config with a seed: `new Model(config, { seed })`
 *   tokenIdsArb / paddedBatchArb            [batch, seq] token ids; padded batches with attention_mask, left or right
 *   unicodeTextArb                          text mixing ASCII words, runs of spaces, newlines, CJK, emoji (ZWJ
 *                                           sequences), combining marks, right-to-left scripts, special-token look-alikes
 *   float32ArrayArb / linearProblemArb      float32 data and `linear(out, x, W, b, M, K, N)` problems (src/ops/matmul.ts)
 *
 * Every value is small on purpose (hidden size <= 48, vocab <= 64, two layers): a forward pass costs about a
 * millisecond, so a property can afford dozens of runs inside the CI budget.
 *
 * One deliberate departure from HF's defaults: `initializer_range` is drawn from {0.2, 0.5} instead of 0.02.
 * With HF's 0.02 and hidden size 16 every activation is ~1e-3 and a broken mask or cache moves the logits by
 * less than float32 noise; a property with such weights passes whether the invariant holds or not.
 *
 * Counterexamples print compactly: a model case prints as its seed and config diff, not its weights.
 */
import fc, { type Arbitrary } from "fast-check";
import {
  LlamaConfig,
  type LlamaConfigFields,
  type RopeScaling,
  type RopeType,
} from "../models/llama/configuration_llama.ts";
import type { WeightView } from "../ops/matmul.ts";
import { float32ToHalf } from "../tensor/dtypes.ts";

/** Constraints of {@link llamaConfigFieldsArb}. Every option narrows what is drawn; the defaults draw everything. */
export interface LlamaConfigArbConstraints {
  /** Rope types to draw from (default: all six). "default" means rope_scaling = null. */
  rope_types?: readonly RopeType[];
  /** Draw attention_bias / mlp_bias (default true); false keeps both off. */
  biases?: boolean;
  /** pretraining_tp values to draw from (default [1, 1, 1, 2]: mostly 1). Every drawn size is divisible by 4. */
  pretraining_tp?: readonly number[];
  /** "either" (default), "always" (an id in [0, vocab)), or "never" (null). */
  pad_token?: "either" | "always" | "never";
  /** tie_word_embeddings: drawn (default) or fixed. */
  tie_word_embeddings?: boolean;
  /** Draw grouped-query attention (num_key_value_heads < num_attention_heads). Default true. */
  gqa?: boolean;
  /** Allow an explicit head_dim with hidden_size != heads * head_dim (HF >= 4.45). Default true. */
  explicit_head_dim?: boolean;
  /** Largest num_hidden_layers (default 2). */
  max_layers?: number;
  /** Range of max_position_embeddings (default 16..64). */
  max_position_embeddings?: { min: number; max: number };
  /** Fields set after drawing (e.g. { num_labels: 3 } or { use_cache: false }); they must keep the config valid. */
  fields?: Partial<LlamaConfigFields>;
}

const ALL_ROPE_TYPES: readonly RopeType[] = ["default", "linear", "dynamic", "llama3", "yarn", "longrope"];

/** rope_scaling for a type, with parameters drawn in HF's valid ranges. `half` = head_dim / 2 (longrope's list length). */
function ropeScalingArb(type: RopeType, half: number, maxPos: number): Arbitrary<RopeScaling | null> {
  const factor = fc.constantFrom(1, 1.5, 2, 4, 8);
  switch (type) {
    case "default":
      return fc.constant(null);
    case "linear":
    case "dynamic":
      // HF accepts the legacy spelling {"type": ...}; LlamaConfig copies it to rope_type.
      return fc
        .tuple(factor, fc.boolean())
        .map(([f, legacy]) => (legacy ? { type, factor: f } : { rope_type: type, factor: f }));
    case "llama3":
      return fc
        .record({
          factor,
          original_max_position_embeddings: fc.integer({ min: 2, max: Math.max(2, maxPos) }),
          low_freq_factor: fc.constantFrom(0.5, 1, 2),
          high_freq_delta: fc.constantFrom(1, 2, 3),
        })
        .map(({ high_freq_delta, ...r }) => ({
          rope_type: "llama3",
          ...r,
          high_freq_factor: r.low_freq_factor + high_freq_delta,
        }));
    case "yarn":
      return fc
        .record(
          {
            factor,
            attention_factor: fc.constantFrom(0.5, 1, 1.25),
            beta_fast: fc.constantFrom(16, 32),
            beta_slow: fc.constantFrom(1, 2),
          },
          { requiredKeys: ["factor"] },
        )
        .map((r) => ({ rope_type: "yarn", ...r }));
    case "longrope":
      return fc
        .record(
          {
            short_factor: fc.array(fc.constantFrom(1, 1.5, 2), { minLength: half, maxLength: half }),
            long_factor: fc.array(fc.constantFrom(1, 2, 4, 8), { minLength: half, maxLength: half }),
            factor,
          },
          { requiredKeys: ["short_factor", "long_factor"] },
        )
        .map((r) => ({ rope_type: "longrope", ...r }));
  }
}

/**
 * Plain LlamaConfig kwargs (JSON-serialisable) for a small valid config. Shapes:
 *   num_key_value_heads in {1, 2, 4}, num_attention_heads = kv * n_rep (n_rep in {1, 2, 3}), head_dim in {2, 4, 6, 8},
 *   hidden_size = heads * head_dim (head_dim left unset) or an explicit head_dim with another multiple of 4,
 *   intermediate_size and vocab_size multiples of 4 (so pretraining_tp in {1, 2, 4} divides everything).
 */
export function llamaConfigFieldsArb(c: LlamaConfigArbConstraints = {}): Arbitrary<Record<string, unknown>> {
  const ropeTypes = c.rope_types ?? ALL_ROPE_TYPES;
  const tps = c.pretraining_tp ?? [1, 1, 1, 2];
  const posRange = c.max_position_embeddings ?? { min: 16, max: 64 };
  const shape = fc.record({
    kv: fc.constantFrom(1, 2, 4),
    n_rep: c.gqa === false ? fc.constant(1) : fc.constantFrom(1, 1, 2, 3),
    head_dim: fc.constantFrom(2, 4, 6, 8),
    explicit_hidden:
      c.explicit_head_dim === false
        ? fc.constant(null)
        : fc.option(
            fc.integer({ min: 1, max: 10 }).map((k) => 4 * k),
            { freq: 4 },
          ),
    layers: fc.integer({ min: 1, max: c.max_layers ?? 2 }),
    intermediate: fc.integer({ min: 1, max: 12 }).map((k) => 4 * k),
    vocab: fc.integer({ min: 4, max: 16 }).map((k) => 4 * k),
    max_pos: fc.integer(posRange),
    tp: fc.constantFrom(...tps),
  });
  return shape
    .filter(({ kv, n_rep, head_dim, explicit_hidden, tp }) => {
      const hidden = explicit_hidden ?? kv * n_rep * head_dim;
      // small enough, and every projection splits into pretraining_tp slices
      // (and pretraining_tp > 1 needs heads * head_dim == hidden_size, as HF's sliced o_proj assumes)
      const tpOk = tp === 1 || (hidden === kv * n_rep * head_dim && (kv * head_dim) % tp === 0 && hidden % tp === 0);
      return kv * n_rep * head_dim <= 48 && tpOk;
    })
    .chain((s) => {
      const heads = s.kv * s.n_rep;
      const hidden = s.explicit_hidden ?? heads * s.head_dim;
      const padArb =
        c.pad_token === "never"
          ? fc.constant(null)
          : c.pad_token === "always"
            ? fc.integer({ min: 0, max: s.vocab - 1 })
            : fc.option(fc.integer({ min: 0, max: s.vocab - 1 }), { nil: null });
      return fc.record({
        vocab_size: fc.constant(s.vocab),
        hidden_size: fc.constant(hidden),
        intermediate_size: fc.constant(s.intermediate),
        num_hidden_layers: fc.constant(s.layers),
        num_attention_heads: fc.constant(heads),
        num_key_value_heads: fc.constant(s.kv),
        head_dim: fc.constant(s.explicit_hidden === null ? null : s.head_dim),
        max_position_embeddings: fc.constant(s.max_pos),
        pretraining_tp: fc.constant(s.tp),
        hidden_act: fc.constantFrom("silu", "silu", "gelu_pytorch_tanh", "relu"),
        initializer_range: fc.constantFrom(0.2, 0.5),
        rms_norm_eps: fc.constantFrom(1e-6, 1e-5),
        rope_theta: fc.constantFrom(10000, 500000, 100),
        rope_scaling: fc.constantFrom(...ropeTypes).chain((t) => ropeScalingArb(t, s.head_dim / 2, s.max_pos)),
        attention_bias: c.biases === false ? fc.constant(false) : fc.boolean(),
        mlp_bias: c.biases === false ? fc.constant(false) : fc.boolean(),
        tie_word_embeddings: c.tie_word_embeddings === undefined ? fc.boolean() : fc.constant(c.tie_word_embeddings),
        pad_token_id: padArb,
        bos_token_id: fc.constant(1),
        eos_token_id: fc.constant(2),
      });
    })
    .map((k) => {
      const out: Record<string, unknown> = { ...k, ...(c.fields ?? {}) };
      if (out.head_dim === null) delete out.head_dim;
      return out;
    });
}

/** A small valid {@link LlamaConfig} (see {@link llamaConfigFieldsArb} for what is drawn). */
export function llamaConfigArb(c: LlamaConfigArbConstraints = {}): Arbitrary<LlamaConfig> {
  return llamaConfigFieldsArb(c).map((k) =>
    withToString(new LlamaConfig(k), () => `LlamaConfig(${JSON.stringify(k)})`),
  );
}

/** A model, the config it was built from and its seed. The model is built fresh for every generated value. */
export interface ModelCase<M> {
  config: LlamaConfig;
  seed: number;
  model: M;
}

/** Any of llama-ts's model classes: `new Model(config, { seed })`. */
export type ModelClass<M> = new (config: LlamaConfig, opts?: { seed?: number }) => M;

/**
 * `new Model(config, { seed })` for a drawn config and seed (HF `_init_weights`, deterministic for the seed).
 * The model prints as `Model(seed, config)` in counterexamples.
 */
export function llamaModelArb<M>(
  Model: ModelClass<M>,
  configArb: Arbitrary<LlamaConfig> = llamaConfigArb(),
): Arbitrary<ModelCase<M>> {
  return fc.tuple(configArb, fc.nat({ max: 0xffff })).map(([config, seed]) => {
    // A config object is mutable (the classification loss writes problem_type back): each case gets its own copy.
    const own = new LlamaConfig(config.to_dict());
    const model = new Model(own, { seed });
    return withToString(
      { config: own, seed, model },
      () => `${Model.name}(seed=${seed}, ${JSON.stringify(own.to_diff_dict())})`,
    );
  });
}

/** Options for {@link tokenIdsArb}. */
export interface TokenIdsConstraints {
  batch_size?: { min: number; max: number };
  length?: { min: number; max: number };
  /** Ids never drawn (e.g. the pad id). */
  exclude?: readonly number[];
}

/** An id in [0, vocab_size) outside `exclude` (which must leave at least one id). */
export function tokenIdArb(vocab_size: number, exclude: readonly number[] = []): Arbitrary<number> {
  const allowed = Array.from({ length: vocab_size }, (_, i) => i).filter((i) => !exclude.includes(i));
  if (allowed.length === 0) throw new RangeError(`tokenIdArb: every id of [0, ${vocab_size}) is excluded`);
  return fc.integer({ min: 0, max: allowed.length - 1 }).map((i) => allowed[i]);
}

/** Token ids [batch, seq]: rows of equal length (defaults: batch 1..3, length 1..8). */
export function tokenIdsArb(vocab_size: number, c: TokenIdsConstraints = {}): Arbitrary<number[][]> {
  const batch = c.batch_size ?? { min: 1, max: 3 };
  const len = c.length ?? { min: 1, max: 8 };
  const id = tokenIdArb(vocab_size, c.exclude);
  return fc
    .tuple(fc.integer(batch), fc.integer(len))
    .chain(([B, T]) => fc.array(fc.array(id, { minLength: T, maxLength: T }), { minLength: B, maxLength: B }));
}

/** A batch of sequences of different lengths, padded to the longest, as a tokenizer's `call(..., { padding: true })`. */
export interface PaddedBatch {
  input_ids: number[][];
  /** 1 for real tokens, 0 for padding. */
  attention_mask: number[][];
  /** The real tokens of each row, unpadded. */
  sequences: number[][];
  padding_side: "left" | "right";
  pad_token_id: number;
}

export interface PaddedBatchConstraints {
  vocab_size: number;
  pad_token_id: number;
  /** "left", "right" or "either" (default). */
  padding_side?: "left" | "right" | "either";
  batch_size?: { min: number; max: number };
  /** Real tokens per row (default 1..8). */
  length?: { min: number; max: number };
  /** Let the pad id also appear among the real tokens (default false). */
  pad_in_content?: boolean;
}

/** Rows of real tokens padded with `pad_token_id` on one side; content avoids the pad id unless asked. */
export function paddedBatchArb(c: PaddedBatchConstraints): Arbitrary<PaddedBatch> {
  const side = c.padding_side ?? "either";
  const id = tokenIdArb(c.vocab_size, c.pad_in_content ? [] : [c.pad_token_id]);
  const len = c.length ?? { min: 1, max: 8 };
  return fc
    .tuple(
      fc.array(fc.array(id, { minLength: len.min, maxLength: len.max }), {
        minLength: c.batch_size?.min ?? 1,
        maxLength: c.batch_size?.max ?? 3,
      }),
      side === "either" ? fc.constantFrom<"left" | "right">("left", "right") : fc.constant(side),
    )
    .map(([sequences, padding_side]) => {
      const T = Math.max(...sequences.map((s) => s.length));
      const input_ids: number[][] = [];
      const attention_mask: number[][] = [];
      for (const s of sequences) {
        const pad = new Array<number>(T - s.length).fill(c.pad_token_id);
        const zeros = new Array<number>(T - s.length).fill(0);
        const ones = new Array<number>(s.length).fill(1);
        input_ids.push(padding_side === "left" ? [...pad, ...s] : [...s, ...pad]);
        attention_mask.push(padding_side === "left" ? [...zeros, ...ones] : [...ones, ...zeros]);
      }
      return { input_ids, attention_mask, sequences, padding_side, pad_token_id: c.pad_token_id };
    });
}

/** Options for {@link unicodeTextArb}. */
export interface UnicodeTextConstraints {
  /** Most pieces joined (default 12). */
  maxPieces?: number;
  /** Include texts that look like special tokens ("<s>", "</s>", "<unk>", "<0x41>") (default true). */
  special_lookalikes?: boolean;
  /** Include ASCII control characters other than \t \n \r (default false). */
  controls?: boolean;
}

/**
 * Text as tokenizers meet it: pieces drawn from ASCII words, runs of spaces (leading, trailing, doubled),
 * newlines and tabs, CJK, emoji (astral code points and ZWJ sequences), combining marks, right-to-left scripts,
 * the sentencepiece space symbol "\u2581", any printable grapheme, any code point, and special-token look-alikes.
 * Never a lone surrogate (UTF-8 cannot carry one, so no tokenizer can round-trip it).
 */
export function unicodeTextArb(c: UnicodeTextConstraints = {}): Arbitrary<string> {
  const word = fc.string({
    unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".split("")),
    minLength: 1,
    maxLength: 8,
  });
  const pieces: Arbitrary<string>[] = [
    word,
    word,
    fc.constantFrom(" ", "  ", "   ", "\n", "\n\n", "\t", " \n ", "\r\n"),
    fc.constantFrom(".", ",", "!", "?", "'", '"', "-", "(", ")", "...", "’", "“", "”"),
    fc.constantFrom("你好", "世界", "日本語", "한국어", "Привет", "Ελληνικά", "مرحبا", "שלום", "हिन्दी", "ไทย"),
    fc.constantFrom("😀", "🦙", "👍🏽", "👨‍👩‍👧", "🏳️‍🌈", "\u{1F600}\u{1F601}", "𝔘𝔫𝔦", "\u{1D11E}"),
    fc.constantFrom(
      "e\u0301",
      "a\u0300\u0316",
      "n\u0303",
      "\u0301",
      "ﬁ",
      "Å",
      "Ａ",
      "①",
      "\u00a0",
      "\u200b",
      "\u2581",
      "\u2581\u2581",
    ),
    fc.string({ unit: "grapheme", maxLength: 4 }),
    fc
      .string({ unit: "binary", maxLength: 3 })
      .filter((s) => c.controls === true || !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s)),
  ];
  if (c.special_lookalikes !== false)
    pieces.push(fc.constantFrom("<s>", "</s>", "<unk>", "<0x41>", "<pad>", "<", ">", "</", "[INST]"));
  return fc.array(fc.oneof(...pieces), { maxLength: c.maxPieces ?? 12 }).map((p) => p.join(""));
}

/**
 * Float32 values in [min, max] (default [-4, 4]), never NaN or infinite. By default drawn on an even grid of
 * 2^20 steps (fast-check's raw float generator picks bit patterns, so most of its values are denormal-tiny or
 * near the bounds); `edge: true` uses that raw generator instead, for tests that want those extremes.
 */
export function float32ArrayArb(
  length: number,
  range: { min?: number; max?: number; edge?: boolean } = {},
): Arbitrary<Float32Array> {
  const min = Math.fround(range.min ?? -4);
  const max = Math.fround(range.max ?? 4);
  if (range.edge)
    return fc.float32Array({ minLength: length, maxLength: length, min, max, noNaN: true, noDefaultInfinity: true });
  const steps = 1 << 20;
  const value = fc.integer({ min: 0, max: steps }).map((i) => Math.fround(min + ((max - min) * i) / steps));
  return fc.array(value, { minLength: length, maxLength: length }).map((v) => Float32Array.from(v));
}

/** One `linear(out, x, W, bias, M, K, N)` problem: x [M, K], W [N, K] (nn.Linear layout), bias [N] or null. */
export interface LinearProblem {
  M: number;
  K: number;
  N: number;
  x: Float32Array;
  w: WeightView;
  bias: Float32Array | null;
}

export interface LinearProblemConstraints {
  maxM?: number;
  maxK?: number;
  maxN?: number;
  /** Weight storage dtypes to draw (default all three). */
  dtypes?: readonly WeightView["dtype"][];
}

/** A random matmul problem; 2-byte weights are drawn as float32 and rounded to the dtype (round to nearest even). */
export function linearProblemArb(c: LinearProblemConstraints = {}): Arbitrary<LinearProblem> {
  const dims = fc.tuple(
    fc.integer({ min: 1, max: c.maxM ?? 9 }),
    fc.integer({ min: 1, max: c.maxK ?? 33 }),
    fc.integer({ min: 1, max: c.maxN ?? 9 }),
  );
  return fc
    .tuple(dims, fc.constantFrom(...(c.dtypes ?? (["float32", "float16", "bfloat16"] as const))), fc.boolean())
    .chain(([[M, K, N], dtype, hasBias]) =>
      fc.record({
        M: fc.constant(M),
        K: fc.constant(K),
        N: fc.constant(N),
        x: float32ArrayArb(M * K),
        w: float32ArrayArb(N * K).map((w): WeightView =>
          dtype === "float32" ? { dtype, data: w } : { dtype, data: float32ToHalf(w, dtype) },
        ),
        bias: hasBias ? float32ArrayArb(N) : fc.constant(null),
      }),
    );
}

/** Attach fast-check's pretty-printer to a value (kept non-enumerable so it never shows up in equality checks). */
function withToString<T extends object>(value: T, show: () => string): T {
  Object.defineProperty(value, fc.toStringMethod, { value: show, enumerable: false });
  return value;
}
