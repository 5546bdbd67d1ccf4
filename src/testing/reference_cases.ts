/**
 * Runs the cases of an HF reference checkpoint folder (the `cases.json` + `reference.safetensors` schema of
 * shared/reference/models, produced by HF transformers' own modeling code) through llama-ts and measures every
 * comparison: max |got - expected| per output tensor, checked with the README's tolerances, and exact
 * equality for ids, pooled indices, problem types and error messages.
 *
 * Used by the test suite (which asserts every check passes) and by `llama-ts parity` (which prints the
 * measured differences), so the two cannot drift apart.
 *
 * Half precision (`runHalfPrecisionCases`): "bfloat16" runs `cases_bf16.json` (HF's bfloat16-compute references)
 * on the model loaded with torch_dtype "bfloat16", with that file's two-part tolerances: an element bound per
 * tolerance kind, and a cap on the share of elements (per kind, over the whole file) that differ at all.
 * "float16" runs the float32 `cases.json` on a float16 model with the same element bounds (torch cannot run
 * float16 on the CPU, so there are no float16 references; a 2-byte mode is held to 2-byte tolerances).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { DynamicCache } from "../cache_utils.ts";
import { loadSafetensors } from "../formats/safetensors.ts";
import { argmax } from "../generation/sampling.ts";
import {
  LlamaForCausalLM,
  LlamaForSequenceClassification,
  _prepare_4d_causal_attention_mask_with_cache_position,
  apply_rotary_pos_emb,
  repeat_kv,
} from "../models/llama/modeling_llama.ts";
import type { FromPretrainedOptions } from "../modeling_utils.ts";
import * as F from "../nn/functional.ts";
import { Tensor } from "../tensor/tensor.ts";
import { HALF_TOLERANCES, REFERENCE_TOLERANCES as TOL, compareTensors, type Tolerance } from "./compare.ts";

export interface Check {
  /** What was compared, e.g. "hidden_states[2]" or "generated_ids". */
  name: string;
  ok: boolean;
  /** Largest |got - expected| for float checks; 0 or Infinity for exact checks. */
  max_abs_diff: number;
  tolerance: Tolerance | "exact";
  message: string;
}

export interface CaseResult {
  checkpoint: string;
  case: string;
  kind: string;
  checks: Check[];
}

export interface ReferenceSpec {
  name: string;
  model_class: string;
  reference_file: string;
  cases: any[];
  [key: string]: unknown;
}

export async function readReferenceSpec(dir: string, file = "cases.json"): Promise<ReferenceSpec> {
  return JSON.parse(await readFile(join(dir, file), "utf8"));
}

/** A 2-byte tolerance: element bound, optional cap on the share of differing elements, and its kind's name. */
export interface HalfTolerance extends Tolerance {
  max_mismatch_fraction?: number;
  kind?: string;
}

/** How a run compares: float32 (cases.json, README tolerances) or a 2-byte compute dtype. */
interface Mode {
  dtype: F.FloatDType;
  /** Tolerances by kind (logits, hidden_states, attentions, kv_cache, modules, loss, cls_loss); none in float32. */
  tolerances: Record<string, HalfTolerance> | null;
  /** Per kind, elements compared and elements that differ at all (for max_mismatch_fraction). */
  stats: Map<string, { compared: number; differing: number }>;
}

/** Per row, the argmax of the last position's logits [B, T, V] (HF/torch tie-break: first maximum). */
function argmaxLast(logits: Tensor): number[] {
  const [B, T, V] = logits.shape;
  const d = logits.data as Float32Array;
  return Array.from({ length: B }, (_, b) => argmax(d.subarray((b * T + T - 1) * V, (b * T + T) * V)));
}

/**
 * Run every case of the checkpoint folder `dir`; each case starts from a freshly loaded model, loaded with
 * `load_options` (e.g. `{ attn_implementation: "sdpa" }`) on top of what the case needs.
 */
export async function runReferenceCases(
  dir: string,
  only?: (caseName: string) => boolean,
  load_options: FromPretrainedOptions = {},
): Promise<CaseResult[]> {
  return runCases(dir, await readReferenceSpec(dir), only, load_options, {
    dtype: "float32",
    tolerances: null,
    stats: new Map(),
  });
}

/**
 * The half-precision runs (see the module header). "bfloat16" needs `cases_bf16.json` in `dir`; its results
 * end with a "mismatch fractions" pseudo-case holding one check per kind that has a max_mismatch_fraction.
 */
export async function runHalfPrecisionCases(
  dir: string,
  dtype: "bfloat16" | "float16",
  only?: (caseName: string) => boolean,
): Promise<CaseResult[]> {
  const spec = await readReferenceSpec(dir, dtype === "bfloat16" ? "cases_bf16.json" : "cases.json");
  const tolerances: Record<string, HalfTolerance> =
    dtype === "bfloat16" ? (spec.tolerances as Record<string, HalfTolerance>) : HALF_TOLERANCES;
  const mode: Mode = { dtype, tolerances, stats: new Map() };
  const results = await runCases(dir, spec, only, { torch_dtype: dtype }, mode);
  const checks: Check[] = [];
  for (const [kind, { compared, differing }] of mode.stats) {
    const cap = tolerances[kind]?.max_mismatch_fraction;
    if (cap === undefined || compared === 0) continue;
    const share = differing / compared;
    checks.push({
      name: `mismatch fraction (${kind})`,
      ok: share <= cap,
      max_abs_diff: share,
      tolerance: { atol: cap, rtol: 0 },
      message: `${kind}: ${differing} of ${compared} elements differ (${(100 * share).toFixed(1)}%, at most ${100 * cap}% allowed)`,
    });
  }
  if (checks.length) results.push({ checkpoint: spec.name, case: "mismatch fractions", kind: "summary", checks });
  return results;
}

async function runCases(
  dir: string,
  spec: ReferenceSpec,
  only: ((caseName: string) => boolean) | undefined,
  load_options: FromPretrainedOptions,
  mode: Mode,
): Promise<CaseResult[]> {
  const reference = (await loadSafetensors(join(dir, spec.reference_file))).tensors;
  const results: CaseResult[] = [];
  for (const c of spec.cases) {
    if (only && !only(c.name)) continue;
    results.push({
      checkpoint: spec.name,
      case: c.name,
      kind: c.kind,
      checks: await runCase(dir, spec, c, reference, load_options, mode),
    });
  }
  return results;
}

/** `t` (float32) with the rows of padded query positions (attention_mask[b][i] == 0 along queryDim) zeroed. */
function validQueryRows(t: Tensor, attention_mask: number[][], queryDim: number): Tensor {
  const out = Float32Array.from(t.toFloat32());
  const T = t.shape[queryDim];
  const inner = t.shape.slice(queryDim + 1).reduce((a, b) => a * b, 1);
  const perBatch = t.size / t.shape[0];
  for (let o = 0; o < t.size; o += inner) {
    const b = Math.floor(o / perBatch);
    const i = Math.floor(o / inner) % T;
    if (attention_mask[b][i] === 0) out.fill(0, o, o + inner);
  }
  return new Tensor("float32", out, t.shape);
}

/** The tolerance kind of an expected output (`tolerance_kinds` of cases_bf16.json; derived from the name else). */
function toleranceKind(c: any, key: string, isCls: boolean): string {
  if (c.tolerance_kinds?.[key]) return c.tolerance_kinds[key];
  if (c.kind === "modules") return "modules";
  if (key.includes("cache")) return "kv_cache";
  if (key.includes("attention")) return "attentions";
  if (key.includes("hidden")) return "hidden_states";
  if (key.includes("loss")) return isCls ? "cls_loss" : "loss";
  return "logits";
}

async function runCase(
  dir: string,
  spec: ReferenceSpec,
  c: any,
  reference: Map<string, Tensor>,
  load_options: FromPretrainedOptions,
  mode: Mode,
): Promise<Check[]> {
  const checks: Check[] = [];
  const ref = (key: string): Tensor => {
    const t = reference.get(key);
    if (!t) throw new Error(`${key} missing from ${spec.reference_file}`);
    return t;
  };
  const isCls = spec.model_class === "LlamaForSequenceClassification";
  const tolFor = (key: string, float32: Tolerance): HalfTolerance => {
    if (mode.tolerances === null) return float32;
    const kind = toleranceKind(c, key, isCls);
    return { ...mode.tolerances[kind], kind };
  };
  const close = (
    name: string,
    got: Tensor | ArrayLike<number>,
    expected: Tensor | ArrayLike<number>,
    tol: HalfTolerance,
  ) => {
    const r = compareTensors(got, expected, { atol: tol.atol, rtol: tol.rtol }, name);
    checks.push({ name, ok: r.ok, max_abs_diff: r.max_abs_diff, tolerance: tol, message: r.message });
    if (tol.kind !== undefined) {
      // Both sides hold 2-byte values: any difference at all counts toward the kind's mismatch share.
      const a = got instanceof Tensor ? got.toFloat32() : got;
      const b = expected instanceof Tensor ? expected.toFloat32() : expected;
      let differing = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) differing++;
      const st = mode.stats.get(tol.kind) ?? { compared: 0, differing: 0 };
      st.compared += a.length;
      st.differing += differing;
      mode.stats.set(tol.kind, st);
    }
  };
  const exact = (name: string, got: unknown, expected: unknown) => {
    const ok = JSON.stringify(got) === JSON.stringify(expected);
    checks.push({
      name,
      ok,
      max_abs_diff: ok ? 0 : Infinity,
      tolerance: "exact",
      message: ok ? `${name}: ok` : `${name}: got ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`,
    });
  };
  const load = (extra: Record<string, unknown> = {}) => {
    const opts = { ...load_options, ...extra };
    return isCls
      ? LlamaForSequenceClassification.from_pretrained(dir, opts)
      : LlamaForCausalLM.from_pretrained(dir, opts);
  };
  const inp = c.inputs;
  const tin: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(c.tensor_inputs ?? {})) tin[k] = ref(v as string).to(mode.dtype);
  if (tin.attention_mask_4d && mode.dtype === "float16") {
    // The float32 file's mask holds float32's minimum (-inf once rounded to float16): HF builds a float16 model's
    // mask with float16's minimum instead.
    const m = ref(c.tensor_inputs.attention_mask_4d)
      .toFloat32()
      .map((x) => (x < 0 ? F.finfoMin("float16") : x));
    tin.attention_mask_4d = new Tensor("float32", m, tin.attention_mask_4d.shape).to("float16");
  }
  const exp = c.expected ?? {};
  const ej = c.expected_json ?? {};

  if (c.kind === "modules") {
    const model = (await load()) as LlamaForCausalLM | LlamaForSequenceClassification;
    const base = model.model;
    const layer = base.layers[0];
    const x = tin.x;
    close(
      "input_layernorm",
      layer.input_layernorm.forward(x),
      ref(exp.input_layernorm),
      tolFor("input_layernorm", TOL.activations),
    );
    close(
      "post_attention_layernorm",
      layer.post_attention_layernorm.forward(x),
      ref(exp.post_attention_layernorm),
      tolFor("post_attention_layernorm", TOL.activations),
    );
    const [cos, sin] = base.rotary_emb.forward(inp.position_ids, x); // in x's dtype
    close("rotary cos", cos, ref(exp.rotary_cos), tolFor("rotary_cos", TOL.probabilities));
    close("rotary sin", sin, ref(exp.rotary_sin), tolFor("rotary_sin", TOL.probabilities));
    const [qe, ke] = apply_rotary_pos_emb(tin.q, tin.k, cos, sin);
    close("apply_rotary_pos_emb q", qe, ref(exp.apply_rotary_q), tolFor("apply_rotary_q", TOL.activations));
    close("apply_rotary_pos_emb k", ke, ref(exp.apply_rotary_k), tolFor("apply_rotary_k", TOL.activations));
    close("repeat_kv", repeat_kv(tin.k, inp.n_rep), ref(exp.repeat_kv), tolFor("repeat_kv", TOL.activations));
    close("mlp", layer.mlp.forward(x), ref(exp.mlp), tolFor("mlp", TOL.activations));
    const B = inp.attention_mask_2d.length;
    const T = inp.attention_mask_2d[0].length;
    const mask4d = _prepare_4d_causal_attention_mask_with_cache_position(
      inp.attention_mask_2d,
      T,
      T,
      F.finfoMin(mode.dtype),
      [...Array(T).keys()],
      B,
      mode.dtype,
    );
    close("4d causal mask", mask4d, tin.attention_mask_4d, { atol: 0, rtol: 0 });
    const args = {
      attention_mask: tin.attention_mask_4d,
      position_embeddings: [cos, sin] as [Tensor, Tensor],
      output_attentions: true,
    };
    const [attnOut, attnW] = layer.self_attn.forward(x, args);
    // float16 only: a padded query row has every key masked, and `score + (-65504)` rounds to -inf once
    // score <= -16, so HF's float16 softmax of that row is no longer uniform (the README's float16 note).
    // Those rows are compared in float32 and bfloat16 only.
    const q = (t: Tensor, queryDim: number) =>
      mode.dtype === "float16" ? validQueryRows(t, inp.attention_mask_2d, queryDim) : t;
    close("attention out", q(attnOut, 1), q(ref(exp.attention_out), 1), tolFor("attention_out", TOL.activations));
    close(
      "attention weights",
      q(attnW!, 2),
      q(ref(exp.attention_weights), 2),
      tolFor("attention_weights", TOL.probabilities),
    );
    close(
      "decoder layer",
      q(layer.forward(x, args)[0], 1),
      q(ref(exp.decoder_layer), 1),
      tolFor("decoder_layer", TOL.activations),
    );
    close(
      "embedding",
      base.embed_tokens.forward(inp.embedding_ids),
      ref(exp.embedding),
      tolFor("embedding", TOL.activations),
    );
    return checks;
  }

  if (c.name === "dynamic_long_then_short") {
    const model = (await load()) as LlamaForCausalLM;
    close(
      "first logits",
      model.forward({ input_ids: inp.first_input_ids, use_cache: false }).logits,
      ref(exp.first_logits),
      tolFor("first_logits", TOL.activations),
    );
    close(
      "second logits",
      model.forward({ input_ids: inp.second_input_ids, use_cache: false }).logits,
      ref(exp.second_logits),
      tolFor("second_logits", TOL.activations),
    );
    return checks;
  }

  if (c.kind === "causal_lm_forward" || c.kind === "causal_lm_loss") {
    const model = (await load()) as LlamaForCausalLM;
    const out = model.forward({
      input_ids: inp.input_ids ?? null,
      inputs_embeds: tin.inputs_embeds ?? null,
      attention_mask: inp.attention_mask ?? null,
      position_ids: inp.position_ids ?? null,
      labels: inp.labels ?? null,
      output_hidden_states: inp.output_hidden_states ?? false,
      output_attentions: inp.output_attentions ?? false,
      use_cache: inp.use_cache ?? false,
      num_logits_to_keep: inp.num_logits_to_keep ?? 0,
    });
    if (exp.logits) close("logits", out.logits, ref(exp.logits), tolFor("logits", TOL.activations));
    if (exp.hidden_states) {
      exact("hidden_states count", out.hidden_states?.length, exp.hidden_states.length);
      exp.hidden_states.forEach(
        (k: string, i: number) =>
          out.hidden_states?.[i] &&
          close(`hidden_states[${i}]`, out.hidden_states[i], ref(k), tolFor("hidden_states", TOL.activations)),
      );
    }
    if (exp.attentions) {
      exact("attentions count", out.attentions?.length, exp.attentions.length);
      exp.attentions.forEach(
        (k: string, i: number) =>
          out.attentions?.[i] &&
          close(`attentions[${i}]`, out.attentions[i], ref(k), tolFor("attentions", TOL.probabilities)),
      );
    }
    if (exp.last_hidden_state) {
      close(
        "last_hidden_state",
        model.model.forward({ inputs_embeds: tin.inputs_embeds, use_cache: false }).last_hidden_state,
        ref(exp.last_hidden_state),
        tolFor("last_hidden_state", TOL.activations),
      );
    }
    if (exp.loss) {
      exact("loss shape", out.loss?.shape, []);
      close("loss", [out.loss!.item()], ref(exp.loss).toFloat32(), tolFor("loss", TOL.loss));
      if (ej.loss !== undefined) close("loss (expected_json)", [out.loss!.item()], [ej.loss], tolFor("loss", TOL.loss));
    }
    return checks;
  }

  if (c.kind === "kv_cache_decode") {
    const model = (await load()) as LlamaForCausalLM;
    const padded = inp.steps !== undefined;
    const cache = new DynamicCache();
    const pre = model.forward({
      input_ids: inp.prompt_ids,
      attention_mask: padded ? inp.prompt_attention_mask : inp.attention_mask,
      position_ids: padded ? inp.prompt_position_ids : inp.position_ids,
      past_key_values: cache,
      use_cache: true,
    });
    close("prefill logits", pre.logits, ref(exp.prefill_logits), tolFor("prefill_logits", TOL.activations));
    (exp.prefill_cache_keys ?? []).forEach((k: string, l: number) => {
      close(`prefill key cache [${l}]`, cache.key_cache[l], ref(k), tolFor("prefill_cache_keys", TOL.activations));
      close(
        `prefill value cache [${l}]`,
        cache.value_cache[l],
        ref(exp.prefill_cache_values[l]),
        tolFor("prefill_cache_values", TOL.activations),
      );
    });
    let next = argmaxLast(pre.logits);
    const steps = padded ? inp.steps : inp.step_input_ids.map((ids: number[][]) => ({ input_ids: ids }));
    for (let s = 0; s < steps.length; s++) {
      exact(
        `step ${s} token (argmax of the previous logits)`,
        next,
        steps[s].input_ids.map((r: number[]) => r[0]),
      );
      const out = model.forward({
        input_ids: steps[s].input_ids,
        attention_mask: steps[s].attention_mask ?? null,
        position_ids: steps[s].position_ids ?? null,
        past_key_values: cache,
        use_cache: true,
      });
      close(`step ${s} logits`, out.logits, ref(exp.step_logits[s]), tolFor("step_logits", TOL.activations));
      next = argmaxLast(out.logits);
    }
    (exp.final_cache_keys ?? []).forEach((k: string, l: number) => {
      close(`final key cache [${l}]`, cache.key_cache[l], ref(k), tolFor("final_cache_keys", TOL.activations));
      close(
        `final value cache [${l}]`,
        cache.value_cache[l],
        ref(exp.final_cache_values[l]),
        tolFor("final_cache_values", TOL.activations),
      );
    });
    return checks;
  }

  if (c.kind === "greedy_generation") {
    const model = (await load()) as LlamaForCausalLM;
    // HF's reference loop never stops at eos: pass an eos id no token can take.
    const out = model.generate(inp.prompt_ids, {
      max_new_tokens: inp.max_new_tokens,
      do_sample: false,
      eos_token_id: -1,
      pad_token_id: 0,
    });
    exact("generated_ids", out.tolist(), ej.generated_ids);
    return checks;
  }

  if (c.kind === "sequence_classification" || c.kind === "sequence_classification_loss") {
    // cls_pooling_quirks was produced by HF 4.44.2, whose rule is (first pad - 1) mod T.
    const quirk = c.name === "cls_pooling_quirks";
    const model = (await load(quirk ? { pooling: "first_pad_minus_one" } : {})) as LlamaForSequenceClassification;
    if (c.name === "cls_nopad") {
      let message = "no error";
      try {
        model.forward({ input_ids: inp.input_ids });
      } catch (e) {
        message = (e as Error).message;
      }
      exact("batch error", message, ej.batch_error);
      inp.input_ids.forEach((row: number[], r: number) =>
        close(
          `row ${r} logits`,
          model.forward({ input_ids: [row] }).logits,
          ref(exp.row_logits[r]),
          tolFor("row_logits", TOL.activations),
        ),
      );
      return checks;
    }
    if (inp.config_problem_type !== undefined) model.config.problem_type = inp.config_problem_type;
    let labels: any = inp.labels ?? null;
    if (labels !== null && inp.labels_dtype === "float32") {
      labels = new Tensor(
        "float32",
        (labels as any[]).flat(),
        Array.isArray(labels[0]) ? [labels.length, labels[0].length] : [labels.length],
      );
    }
    const out = model.forward({
      input_ids: inp.input_ids ?? null,
      inputs_embeds: tin.inputs_embeds ?? null,
      attention_mask: inp.attention_mask ?? null,
      position_ids: inp.position_ids ?? null,
      labels,
    });
    if (exp.logits) close("pooled logits", out.logits, ref(exp.logits), tolFor("logits", TOL.activations));
    if (ej.pooled_index && inp.input_ids) {
      const T = inp.input_ids[0].length;
      exact("pooled_index", model.pooled_indices(inp.input_ids, inp.input_ids.length, T), ej.pooled_index);
      if (quirk && exp.token_logits) {
        // The default rule pools the rightmost non-pad position: recomputed here from the ids, and the logits
        // read from HF's per-token logits at those positions.
        const pad = model.config.pad_token_id;
        const rightmost = inp.input_ids.map((row: number[]) => {
          for (let t = row.length - 1; t >= 0; t--) if (row[t] !== pad) return t;
          return 0;
        });
        model.pooling = "last_non_pad";
        exact("default pooling index", model.pooled_indices(inp.input_ids, inp.input_ids.length, T), rightmost);
        const tokenLogits = ref(exp.token_logits);
        const nl = tokenLogits.shape[2];
        const tl = tokenLogits.toFloat32();
        const want = rightmost.flatMap((t: number, b: number) =>
          Array.from(tl.subarray((b * T + t) * nl, (b * T + t + 1) * nl)),
        );
        close(
          "default pooling logits",
          model.forward({ input_ids: inp.input_ids, attention_mask: inp.attention_mask }).logits.toFloat32(),
          want,
          tolFor("token_logits", TOL.activations),
        );
      }
    }
    if (exp.loss) {
      close("loss", [out.loss!.item()], ref(exp.loss).toFloat32(), tolFor("loss", TOL.loss));
      if (ej.loss !== undefined) close("loss (expected_json)", [out.loss!.item()], [ej.loss], tolFor("loss", TOL.loss));
      exact("resolved problem_type", model.config.problem_type, ej.resolved_problem_type);
    }
    return checks;
  }
  if (c.kind === "overflow_demo") {
    // The seed's warning ("training the model in float16 ... is known to produce nan"): layer 0's MLP weights
    // scaled up; bfloat16 must match HF, float16 must overflow as HF's own rounding (emulated there) does.
    const run = async (torch_dtype: "bfloat16" | "float16") => {
      const model = (await load({ torch_dtype })) as LlamaForCausalLM;
      const params = new Map(model.named_parameters());
      for (const [name, factor] of Object.entries(inp.weight_scale as Record<string, number>))
        model.set_parameter(name, F.mul(params.get(name)!, factor));
      return model.forward({
        input_ids: inp.input_ids,
        attention_mask: inp.attention_mask,
        position_ids: inp.position_ids,
        output_hidden_states: true,
        use_cache: false,
      });
    };
    const count = (t: Tensor, pred: (x: number) => boolean) => t.toFloat32().filter(pred).length;
    const bf = await run("bfloat16");
    close("bfloat16 logits", bf.logits, ref(exp.logits), tolFor("logits", TOL.activations));
    exp.hidden_states.forEach((k: string, i: number) =>
      close(`bfloat16 hidden_states[${i}]`, bf.hidden_states![i], ref(k), tolFor("hidden_states", TOL.activations)),
    );
    const bfFinite = [bf.logits, ...bf.hidden_states!].every((t) => count(t, (x) => !Number.isFinite(x)) === 0);
    exact("bfloat16 all finite", bfFinite, ej.bfloat16_all_finite);
    const fp = await run("float16");
    const emu = ej.EMULATED_by_half_emul.float16;
    exact("float16 NaN logits", count(fp.logits, Number.isNaN), emu.logits_nan_elements);
    exact(
      "float16 non-finite hidden_states elements",
      fp.hidden_states!.map((h) => count(h, (x) => !Number.isFinite(x))),
      emu.hidden_states_non_finite_elements,
    );
    return checks;
  }
  throw new Error(`unhandled case kind ${c.kind} (${c.name})`);
}
