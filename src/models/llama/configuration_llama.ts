/**
 * Tour (README "Read the code", step 7 of 18): the config every module reads; after configuration_utils.ts.
 *
 * LlamaConfig: mirrors HF `models/llama/configuration_llama.py` (v4.45, which added `head_dim`) plus the
 * PretrainedConfig behaviour a Llama user relies on (see `src/configuration_utils.ts`).
 *
 * Defaults are HF's (Llama-2-7B's shape). Unlike HF, invalid combinations that HF only discovers when it builds
 * the model (hidden_size not divisible by heads, heads not divisible by kv heads, an unknown rope type, a
 * pretraining_tp that does not divide the projections) throw a `ConfigError` naming the field at construction.
 * RoPE validation mirrors `modeling_rope_utils.rope_config_validation`: missing required keys raise (HF:
 * KeyError); what HF only warns about is collected in `config.warnings`.
 */
import { ConfigError } from "../../errors.ts";
import { PretrainedConfig, type PretrainedConfigFields, checkPositiveInt } from "../../configuration_utils.ts";
import type { RopeScaling, RopeType } from "../../modeling_rope_utils.ts";

export type { RopeScaling, RopeType };

/** Every LlamaConfig field (HF names). */
export interface LlamaConfigFields extends PretrainedConfigFields {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  hidden_act: string;
  max_position_embeddings: number;
  initializer_range: number;
  rms_norm_eps: number;
  use_cache: boolean;
  pad_token_id: number | null;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  pretraining_tp: number;
  tie_word_embeddings: boolean;
  rope_theta: number;
  rope_scaling: RopeScaling | null;
  attention_bias: boolean;
  attention_dropout: number;
  mlp_bias: boolean;
  head_dim: number;
}

/** The Llama-specific keys and their defaults, in HF's `__init__` order. */
const LLAMA_DEFAULTS = {
  vocab_size: 32000,
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: null as number | null,
  hidden_act: "silu",
  max_position_embeddings: 2048,
  initializer_range: 0.02,
  rms_norm_eps: 1e-6,
  use_cache: true,
  pad_token_id: null as number | null,
  bos_token_id: 1 as number | null,
  eos_token_id: 2 as number | number[] | null,
  pretraining_tp: 1,
  tie_word_embeddings: false,
  rope_theta: 10000.0,
  rope_scaling: null as RopeScaling | null,
  attention_bias: false,
  attention_dropout: 0.0,
  mlp_bias: false,
  head_dim: null as number | null,
};

/** Keys Python writes as floats (so `10000.0` stays `10000.0` in config.json), PretrainedConfig's included. */
const FLOAT_KEYS = new Set([
  ...PretrainedConfig.float_keys,
  "rope_theta",
  "rms_norm_eps",
  "attention_dropout",
  "initializer_range",
  "factor",
  "low_freq_factor",
  "high_freq_factor",
  "attention_factor",
  "beta_fast",
  "beta_slow",
  "short_factor",
  "long_factor",
]);

/** HF's ACT2FN names that our activation table implements (`src/ops/activations.ts`). */
export const SUPPORTED_ACTIVATIONS = [
  "silu",
  "swish",
  "gelu",
  "gelu_new",
  "gelu_pytorch_tanh",
  "gelu_fast",
  "quick_gelu",
  "relu",
  "relu6",
  "tanh",
  "sigmoid",
  "linear",
];

const ROPE_KEYS: Record<RopeType, { required: string[]; optional: string[] | null }> = {
  default: { required: ["rope_type"], optional: null },
  linear: { required: ["rope_type", "factor"], optional: null },
  dynamic: { required: ["rope_type", "factor"], optional: ["original_max_position_embeddings"] },
  yarn: { required: ["rope_type", "factor"], optional: ["attention_factor", "beta_fast", "beta_slow"] },
  longrope: {
    required: ["rope_type", "short_factor", "long_factor"],
    optional: ["attention_factor", "factor", "original_max_position_embeddings"],
  },
  llama3: {
    required: ["rope_type", "factor", "original_max_position_embeddings", "low_freq_factor", "high_freq_factor"],
    optional: null,
  },
};

export interface LlamaConfig extends LlamaConfigFields {}

export class LlamaConfig extends PretrainedConfig {
  static override readonly model_type = "llama";
  static override readonly float_keys: ReadonlySet<string> = FLOAT_KEYS;

  constructor(kwargs: Partial<LlamaConfigFields> & Record<string, unknown> = {}) {
    super(kwargs, LLAMA_DEFAULTS);
    if (this.num_key_value_heads === null || this.num_key_value_heads === undefined)
      this.num_key_value_heads = this.num_attention_heads;
    if (this.head_dim === null || this.head_dim === undefined) {
      checkPositiveInt("num_attention_heads", this.num_attention_heads);
      if (this.hidden_size % this.num_attention_heads !== 0) {
        throw new ConfigError(
          "hidden_size",
          `must be divisible by num_attention_heads when head_dim is not set (got hidden_size=${this.hidden_size}, num_attention_heads=${this.num_attention_heads})`,
        );
      }
      this.head_dim = Math.floor(this.hidden_size / this.num_attention_heads);
    }
    // BC: a 'type' key in rope_scaling is copied to 'rope_type' (HF does this in LlamaConfig.__init__).
    if (this.rope_scaling !== null && this.rope_scaling !== undefined) {
      if (typeof this.rope_scaling !== "object" || Array.isArray(this.rope_scaling)) {
        throw new ConfigError("rope_scaling", `expected an object or null, got ${JSON.stringify(this.rope_scaling)}`);
      }
      this.rope_scaling = { ...this.rope_scaling };
      if ("type" in this.rope_scaling) this.rope_scaling.rope_type = this.rope_scaling.type;
    } else {
      this.rope_scaling = null;
    }
    this.validate();
  }

  /** The rope type after the BC 'type' spelling is resolved ("default" when rope_scaling is null). */
  get rope_type(): RopeType {
    return (this.rope_scaling?.rope_type ?? "default") as RopeType;
  }

  /** Check every field; throws ConfigError naming the first bad one. Also run at construction. */
  override validate(): void {
    for (const f of [
      "vocab_size",
      "hidden_size",
      "intermediate_size",
      "num_hidden_layers",
      "num_attention_heads",
      "num_key_value_heads",
      "max_position_embeddings",
      "head_dim",
      "pretraining_tp",
    ]) {
      checkPositiveInt(f, this[f]);
    }
    if (this.head_dim % 2 !== 0) {
      // HF accepts it and fails at the first forward (rotate_half splits head_dim in two halves).
      throw new ConfigError(
        "head_dim",
        `must be even: rotary embeddings rotate pairs of dimensions, got ${this.head_dim} (hidden_size / num_attention_heads when head_dim is not set)`,
      );
    }
    if (this.num_attention_heads % this.num_key_value_heads !== 0) {
      throw new ConfigError(
        "num_key_value_heads",
        `num_attention_heads (${this.num_attention_heads}) must be divisible by num_key_value_heads (${this.num_key_value_heads})`,
      );
    }
    if (typeof this.hidden_act !== "string" || !SUPPORTED_ACTIVATIONS.includes(this.hidden_act)) {
      throw new ConfigError(
        "hidden_act",
        `unknown activation ${JSON.stringify(this.hidden_act)}; expected one of ${SUPPORTED_ACTIVATIONS.join(", ")}`,
      );
    }
    for (const f of ["rms_norm_eps", "initializer_range", "attention_dropout"]) {
      const v = this[f];
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
        throw new ConfigError(f, `expected a finite number >= 0, got ${JSON.stringify(v)}`);
    }
    if (typeof this.rope_theta !== "number" || !Number.isFinite(this.rope_theta) || this.rope_theta <= 0) {
      throw new ConfigError("rope_theta", `expected a positive number, got ${JSON.stringify(this.rope_theta)}`);
    }
    for (const f of ["use_cache", "tie_word_embeddings", "attention_bias", "mlp_bias"]) {
      if (typeof this[f] !== "boolean")
        throw new ConfigError(f, `expected true or false, got ${JSON.stringify(this[f])}`);
    }
    super.validate();
    if (this.pad_token_id !== null && (this.pad_token_id < -this.vocab_size || this.pad_token_id >= this.vocab_size)) {
      // nn.Embedding(padding_idx=...) asserts this; a negative id counts from the end as in torch.
      throw new ConfigError(
        "pad_token_id",
        `must be in [-vocab_size, vocab_size) = [${-this.vocab_size}, ${this.vocab_size}), got ${this.pad_token_id}`,
      );
    }
    const tp = this.pretraining_tp;
    if (tp > 1) {
      const sizes: [string, number][] = [
        ["num_attention_heads * head_dim", this.num_attention_heads * this.head_dim],
        ["num_key_value_heads * head_dim", this.num_key_value_heads * this.head_dim],
        ["hidden_size", this.hidden_size],
        ["intermediate_size", this.intermediate_size],
        ["vocab_size", this.vocab_size],
      ];
      for (const [name, n] of sizes) {
        if (n % tp !== 0)
          throw new ConfigError("pretraining_tp", `${name} (${n}) must be divisible by pretraining_tp (${tp})`);
      }
      // HF's sliced o_proj splits the attention output (num_attention_heads * head_dim wide) into hidden_size / tp
      // columns and sums range(tp) of them: with another width it raises IndexError or silently drops columns.
      if (this.num_attention_heads * this.head_dim !== this.hidden_size) {
        throw new ConfigError(
          "pretraining_tp",
          `pretraining_tp > 1 needs num_attention_heads * head_dim (${this.num_attention_heads * this.head_dim}) == hidden_size (${this.hidden_size}): HF's sliced o_proj assumes it`,
        );
      }
    }
    this.validateRope();
  }

  private validateRope(): void {
    const rs = this.rope_scaling;
    if (rs === null) return;
    const ropeType = (rs.rope_type ?? rs.type ?? "default") as RopeType;
    // Object.hasOwn: a rope type named "toString" or "__proto__" must not find Object.prototype's members.
    const spec = typeof ropeType === "string" && Object.hasOwn(ROPE_KEYS, ropeType) ? ROPE_KEYS[ropeType] : undefined;
    if (spec === undefined) {
      throw new ConfigError(
        "rope_scaling.rope_type",
        `unknown rope type ${JSON.stringify(ropeType)}; expected one of ${Object.keys(ROPE_KEYS).join(", ")}`,
      );
    }
    const received = new Set(Object.keys(rs));
    if (!received.has("rope_type") && received.has("type")) {
      received.delete("type");
      received.add("rope_type");
    }
    received.delete("type"); // both spellings present: 'type' is the BC copy
    const missing = spec.required.filter((key) => !received.has(key));
    if (missing.length)
      throw new ConfigError(
        `rope_scaling.${missing[0]}`,
        `missing required key for rope_type '${ropeType}' (required: ${spec.required.join(", ")})`,
      );
    const unused = [...received].filter((key) => !spec.required.includes(key) && !(spec.optional ?? []).includes(key));
    if (unused.length)
      this.warnings.push(`Unrecognized keys in rope_scaling for rope_type '${ropeType}': ${unused.join(", ")}`);

    const num = (key: string, v: unknown) => {
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new ConfigError(`rope_scaling.${key}`, `expected a finite number, got ${JSON.stringify(v)}`);
      return v;
    };
    if (
      spec.required.includes("factor") ||
      (ropeType === "longrope" && rs.factor !== undefined && rs.factor !== null)
    ) {
      const factor = num("factor", rs.factor);
      if (factor <= 0) throw new ConfigError("rope_scaling.factor", `expected a positive number, got ${factor}`);
      if (factor < 1) this.warnings.push(`rope_scaling's factor field must be a float >= 1, got ${factor}`);
    }
    if (ropeType === "llama3") {
      const low = num("low_freq_factor", rs.low_freq_factor);
      const high = num("high_freq_factor", rs.high_freq_factor);
      const orig = num("original_max_position_embeddings", rs.original_max_position_embeddings);
      // HF only warns here, but high == low divides by zero in the smoothing step: refuse it.
      if (high <= low)
        throw new ConfigError(
          "rope_scaling.high_freq_factor",
          `must be greater than low_freq_factor, got high_freq_factor=${high} and low_freq_factor=${low}`,
        );
      if (!Number.isSafeInteger(orig) || orig <= 0)
        throw new ConfigError(
          "rope_scaling.original_max_position_embeddings",
          `expected a positive integer, got ${orig}`,
        );
      if (orig >= this.max_position_embeddings)
        this.warnings.push(
          `rope_scaling's original_max_position_embeddings (${orig}) should be less than max_position_embeddings (${this.max_position_embeddings})`,
        );
    }
    if (ropeType === "longrope") {
      for (const key of ["short_factor", "long_factor"] as const) {
        const v = rs[key];
        if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isFinite(x)))
          throw new ConfigError(`rope_scaling.${key}`, "expected a list of numbers");
        if (v.length !== this.head_dim / 2)
          throw new ConfigError(
            `rope_scaling.${key}`,
            `expected length head_dim / 2 = ${this.head_dim / 2}, got ${v.length}`,
          );
      }
    }
    // Beyond HF's rope_config_validation: the domains its formulas need (HF computes NaN or Infinity instead).
    const positive = (key: string, v: unknown) => {
      const x = num(key, v);
      if (x <= 0) throw new ConfigError(`rope_scaling.${key}`, `expected a positive number, got ${x}`);
      return x;
    };
    const positiveInt = (field: string, v: unknown) => {
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0)
        throw new ConfigError(field, `expected a positive integer, got ${JSON.stringify(v)}`);
    };
    if (rs.original_max_position_embeddings !== undefined && rs.original_max_position_embeddings !== null)
      positiveInt("rope_scaling.original_max_position_embeddings", rs.original_max_position_embeddings);
    if (ropeType === "llama3") positive("low_freq_factor", rs.low_freq_factor);
    if (ropeType === "yarn") {
      for (const key of ["attention_factor", "beta_fast", "beta_slow"]) {
        if (rs[key] !== undefined && rs[key] !== null) positive(key, rs[key]);
      }
    }
    if (ropeType === "longrope") {
      // HF reads original_max_position_embeddings from the config itself for longrope (Phi-3's layout).
      const top = (this as Record<string, unknown>).original_max_position_embeddings;
      if (top !== undefined && top !== null) positiveInt("original_max_position_embeddings", top);
      if (rs.attention_factor !== undefined && rs.attention_factor !== null)
        positive("attention_factor", rs.attention_factor);
      for (const key of ["short_factor", "long_factor"] as const)
        (rs[key] as number[]).forEach((x, i) => {
          if (x <= 0) throw new ConfigError(`rope_scaling.${key}[${i}]`, `expected a positive number, got ${x}`);
        });
    }
  }
}
