/**
 * RoPE inverse frequencies for each `rope_type`: mirrors HF `modeling_rope_utils.py` (`ROPE_INIT_FUNCTIONS`).
 *
 * Each function returns `[inv_freq, attention_factor]`, with `inv_freq` a float32 array of `dim / 2` values
 * (dim = head_dim). The default is `inv_freq[i] = 1 / theta^(2i / dim)`; the variants rescale it:
 *   linear:   inv_freq / factor
 *   dynamic:  theta' = theta * (factor * seq_len / max_pos - (factor - 1))^(dim / (dim - 2)) once seq_len > max_pos
 *   llama3:   long wavelengths (> original_max / low_freq_factor) divided by factor, short ones (< original_max /
 *             high_freq_factor) kept, the band between blended linearly in original_max / wavelength
 *   yarn:     interpolation/extrapolation blend over a linear ramp of dims, attention_factor 0.1 ln(factor) + 1
 *   longrope: inv_freq / ext_factors (long_factor when the expanded context exceeds the original)
 * Every step is rounded to float32, as torch evaluates these on float32 tensors (Math.fround).
 */
/** HF's `ROPE_INIT_FUNCTIONS` keys. */
export type RopeType = "default" | "linear" | "dynamic" | "yarn" | "longrope" | "llama3";

/** A config's `rope_scaling` (HF keys; validated by the model's config class). */
export interface RopeScaling {
  rope_type?: RopeType;
  /** BC spelling of rope_type (HF copies it to rope_type). */
  type?: RopeType;
  factor?: number;
  original_max_position_embeddings?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  attention_factor?: number;
  beta_fast?: number;
  beta_slow?: number;
  short_factor?: number[];
  long_factor?: number[];
  [key: string]: unknown;
}

/** The config fields the RoPE functions read (any model config with RoPE has them). */
export interface RopeConfig {
  rope_theta: number;
  rope_scaling: RopeScaling | null;
  head_dim?: number | null;
  hidden_size: number;
  num_attention_heads: number;
  max_position_embeddings: number;
}

export type RopeInitFn = (config: RopeConfig, seq_len?: number) => [Float32Array, number];

/** `torch.arange(0, dim, 2).float() / dim` as float32. */
function exponents(dim: number): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < out.length; i++) out[i] = Math.fround((2 * i) / dim);
  return out;
}

function ropeDim(config: RopeConfig): number {
  return config.head_dim ?? Math.floor(config.hidden_size / config.num_attention_heads);
}

/** `1.0 / (base ** (arange(0, dim, 2).float() / dim))` in float32. */
function invFreqFor(base: number, dim: number): Float32Array {
  const e = exponents(dim);
  const out = new Float32Array(e.length);
  for (let i = 0; i < e.length; i++) out[i] = Math.fround(1 / Math.fround(Math.pow(base, e[i])));
  return out;
}

export function _compute_default_rope_parameters(config: RopeConfig): [Float32Array, number] {
  return [invFreqFor(config.rope_theta, ropeDim(config)), 1.0];
}

export function _compute_linear_scaling_rope_parameters(config: RopeConfig): [Float32Array, number] {
  const factor = config.rope_scaling!.factor!;
  const [inv, att] = _compute_default_rope_parameters(config);
  for (let i = 0; i < inv.length; i++) inv[i] = Math.fround(inv[i] / factor);
  return [inv, att];
}

/**
 * Dynamic NTK. `seq_len` is `max(position_ids) + 1` (a torch tensor in HF, so the base update runs in float32);
 * at init (`seq_len` unset or <= max_position_embeddings) the base is theta itself.
 */
export function _compute_dynamic_ntk_parameters(config: RopeConfig, seq_len?: number): [Float32Array, number] {
  const dim = ropeDim(config);
  const maxPos = config.max_position_embeddings;
  const factor = config.rope_scaling!.factor!;
  if (seq_len === undefined || seq_len <= maxPos) return [invFreqFor(config.rope_theta, dim), 1.0];
  const scaled = Math.fround(Math.fround(Math.fround(Math.fround(factor * seq_len) / maxPos) - (factor - 1)));
  const base = Math.fround(config.rope_theta * Math.fround(Math.pow(scaled, dim / (dim - 2))));
  return [invFreqFor(base, dim), 1.0];
}

export function _compute_yarn_parameters(config: RopeConfig): [Float32Array, number] {
  const rs = config.rope_scaling!;
  const base = config.rope_theta;
  const dim = ropeDim(config);
  const maxPos = config.max_position_embeddings;
  const factor = rs.factor!;
  const attention_factor = rs.attention_factor ?? 0.1 * Math.log(factor) + 1.0;
  const beta_fast = rs.beta_fast || 32;
  const beta_slow = rs.beta_slow || 1;
  const findCorrectionDim = (numRotations: number) =>
    (dim * Math.log(maxPos / (numRotations * 2 * Math.PI))) / (2 * Math.log(base));
  const low = Math.max(Math.floor(findCorrectionDim(beta_fast)), 0);
  let high = Math.min(Math.ceil(findCorrectionDim(beta_slow)), dim - 1);
  if (low === high) high += 0.001; // HF: prevent singularity
  const e = exponents(dim);
  const inv = new Float32Array(dim / 2);
  for (let i = 0; i < inv.length; i++) {
    const pos_freq = Math.fround(Math.pow(base, e[i]));
    const extrapolation = Math.fround(1 / pos_freq);
    const interpolation = Math.fround(1 / Math.fround(factor * pos_freq));
    const ramp = Math.min(Math.max(Math.fround(Math.fround(i - low) / Math.fround(high - low)), 0), 1);
    const extrapolation_factor = Math.fround(1 - ramp);
    inv[i] = Math.fround(
      Math.fround(interpolation * Math.fround(1 - extrapolation_factor)) +
        Math.fround(extrapolation * extrapolation_factor),
    );
  }
  return [inv, attention_factor];
}

export function _compute_longrope_parameters(config: RopeConfig): [Float32Array, number] {
  const rs = config.rope_scaling!;
  const base = config.rope_theta;
  const dim = ropeDim(config);
  let factor = rs.factor ?? 1;
  let maxPos: number;
  let expanded: number;
  const originalMax = (config as any).original_max_position_embeddings as number | undefined;
  if (originalMax !== undefined && originalMax !== null) {
    maxPos = originalMax;
    expanded = config.max_position_embeddings;
    factor = expanded / maxPos;
  } else {
    maxPos = config.max_position_embeddings;
    expanded = maxPos * factor;
  }
  let attention_factor = rs.attention_factor;
  if (attention_factor === undefined || attention_factor === null) {
    attention_factor = factor <= 1.0 ? 1.0 : Math.sqrt(1 + Math.log(factor) / Math.log(maxPos));
  }
  const ext = expanded > maxPos ? rs.long_factor! : rs.short_factor!;
  const e = exponents(dim);
  const inv = new Float32Array(dim / 2);
  for (let i = 0; i < inv.length; i++)
    inv[i] = Math.fround(1 / Math.fround(Math.fround(ext[i]) * Math.fround(Math.pow(base, e[i]))));
  return [inv, attention_factor];
}

export function _compute_llama3_parameters(config: RopeConfig): [Float32Array, number] {
  const [inv, attention_factor] = _compute_default_rope_parameters(config);
  const rs = config.rope_scaling!;
  const factor = rs.factor!;
  const low_freq_factor = rs.low_freq_factor!;
  const high_freq_factor = rs.high_freq_factor!;
  const old_context_len = rs.original_max_position_embeddings!;
  const low_freq_wavelen = old_context_len / low_freq_factor;
  const high_freq_wavelen = old_context_len / high_freq_factor;
  const out = new Float32Array(inv.length);
  for (let i = 0; i < inv.length; i++) {
    const wavelen = Math.fround((2 * Math.PI) / inv[i]);
    // wavelen < high_freq_wavelen: keep; wavelen > low_freq_wavelen: divide by factor; between: blend.
    const inv_freq_llama = wavelen > low_freq_wavelen ? Math.fround(inv[i] / factor) : inv[i];
    const is_medium_freq = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
    if (is_medium_freq) {
      const smooth = Math.fround(
        Math.fround(Math.fround(old_context_len / wavelen) - low_freq_factor) / (high_freq_factor - low_freq_factor),
      );
      out[i] = Math.fround(
        Math.fround(Math.fround(Math.fround(1 - smooth) * inv_freq_llama) / factor) +
          Math.fround(smooth * inv_freq_llama),
      );
    } else {
      out[i] = inv_freq_llama;
    }
  }
  return [out, attention_factor];
}

export const ROPE_INIT_FUNCTIONS: Readonly<Record<string, RopeInitFn>> = {
  default: _compute_default_rope_parameters,
  linear: _compute_linear_scaling_rope_parameters,
  dynamic: _compute_dynamic_ntk_parameters,
  yarn: _compute_yarn_parameters,
  longrope: _compute_longrope_parameters,
  llama3: _compute_llama3_parameters,
};
