/**
 * The manifest.json schema of a golden folder (schema_version 1) and the tolerances fixtures carry. Read with
 * `readGolden` (verify.ts); written by `writeGolden` (writer.ts).
 */
import type { Tolerance } from "../testing/compare.ts";

export const GOLDEN_SCHEMA_VERSION = 1;

/**
 * How fixtures are computed and replayed: HF's default float32 results (`from_pretrained` without torch_dtype
 * upcasts 2-byte weights), with 2-byte weights kept 2 bytes in memory and widened exactly in the kernels, so a
 * 7B bfloat16 checkpoint needs 13 GB, not 26.
 */
export const FLOAT32_COMPUTE = { torch_dtype: "auto", compute_dtype: "float32" } as const;

/**
 * Tolerances a port should use: `|actual - expected| <= atol + rtol * |expected|`, element-wise. They are those
 * measured for the shared HF 4.44.2 reference checkpoints (float32 vs float64 and summation-order gaps of
 * 1e-6..2e-5 on activations, < 2e-6 on probabilities), with about 5x headroom.
 */
export const GOLDEN_TOLERANCES = {
  /** logits, hidden states, K/V cache, module inputs and outputs */
  activations: { atol: 1e-4, rtol: 1e-4 },
  /** attention probabilities, rotary cos/sin */
  probabilities: { atol: 1e-5, rtol: 0 },
  /** losses */
  loss: { atol: 1e-5, rtol: 1e-5 },
  /** ids, positions, pooled indices, additive masks (float32 min or 0): exact */
  exact: { atol: 0, rtol: 0 },
} as const satisfies Record<string, Tolerance>;

/** Which axes of a tensor index the batch, the query positions of the call, and the key positions. */
export interface TensorAxes {
  batch?: number;
  query?: number;
  key?: number;
}

export interface ManifestTensor {
  name: string;
  case: string;
  /** HF module path (state-dict prefix), or null for a whole-model result. */
  module: string | null;
  /** in.<param>, out.<index|field>, step.<name>, or the whole-model field (logits, hidden_states.2, ...). */
  slot: string;
  shape: number[];
  dtype: string;
  meaning: string;
  atol: number;
  rtol: number;
  axes: TensorAxes;
}

export interface ManifestCase {
  name: string;
  kind: "forward" | "generate";
  /** The HF call, e.g. "model(**inputs)" or "model.generate(**inputs)". */
  call: string;
  /** Exactly the arguments passed (absent = not passed). `past_key_values: {from_case}` continues that cache. */
  inputs: Record<string, unknown>;
  /** The case whose cache this one continues (decode steps), else null. */
  continues: string | null;
  /** Positions whose values nobody should compare: padded query rows and padded keys, per batch row. */
  dont_care: { query_positions: [number, number][]; key_positions: [number, number][] };
  /** The same rows run alone without padding (for a padded batch). */
  unpadded_counterparts?: string[];
  notes?: string;
}

export interface Manifest {
  schema_version: number;
  producer: { name: string; version: string; command: string; backend: string };
  hf_equivalent: { transformers: string; model_class: string; load: Record<string, unknown>; replay: string };
  /** How the weights were made. */
  init: string;
  preset: string | null;
  description: string | null;
  checkpoint: { dir: string; storage_dtype: string; tokenizer: boolean };
  naming_rule: string;
  fixtures: string;
  tolerances: Record<string, Tolerance>;
  cases: ManifestCase[];
  tensors: ManifestTensor[];
  tokenizer: null | { cases: string; llama_cpp_inp: string; llama_cpp_out: string; count: number };
  logits_processors: null | { file: string; tensors: string; count: number };
  meta_layout: null | Record<string, unknown>;
  greedy_min_top2_gap?: Record<string, number>;
}

export const NAMING_RULE =
  "<case>/<module path>/in.<forward parameter name>[.<i>] | <case>/<module path>/out.<index or field> | " +
  "<case>/<module path>/step.<HF function or variable>[.<i>] | <case>/logits | <case>/loss | <case>/hidden_states.<k> | " +
  "<case>/attentions.<k> | <case>/past_key_values.<layer>.key|value | <case>/sequences | <case>/pooled_indices; " +
  "module paths are HF state-dict prefixes, parameter names HF 4.44 forward signatures, tuples numbered from 0";

function numeric(v: unknown): boolean {
  return typeof v === "number" || (Array.isArray(v) && v.every(numeric));
}

/**
 * JSON with one key per line but numeric arrays (ids, shapes, masks, nested or not) kept on one line: readable
 * and a third of the size of a fully indented file. Deterministic: key order is insertion order.
 */
export function stringifyJson(value: unknown, indent = ""): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  const inner = indent + " ";
  if (Array.isArray(value)) {
    if (value.length === 0 || numeric(value)) return JSON.stringify(value);
    return `[\n${value.map((v) => inner + stringifyJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${stringifyJson(v, inner)}`).join(",\n")}\n${indent}}`;
}
