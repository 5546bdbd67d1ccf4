/**
 * `writeGolden`: build (or load) a model, save it as an HF checkpoint folder, replay a fixed set of cases on it
 * through forward hooks and write every captured tensor to fixtures.safetensors with a manifest.json that says
 * what each tensor is and how closely a port must match it. See golden/README.md for the layout.
 *
 * Every case runs on a model freshly loaded from the written checkpoint (as a replay in HF would: dynamic RoPE is
 * stateful), except decode steps, which continue the previous case's model and cache. All matrix products run on
 * the reference backend and nothing depends on time, paths or thread count, so the bytes are reproducible.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DynamicCache } from "../cache_utils.ts";
import { ConfigError, ValueError } from "../errors.ts";
import { saveSafetensors } from "../formats/safetensors.ts";
import { argmax } from "../generation/sampling.ts";
import { positionIdsFromAttentionMask } from "../generation/utils.ts";
import { LlamaConfig } from "../models/llama/configuration_llama.ts";
import { loadDefaultTokenizer } from "../models/llama/default_tokenizer.ts";
import { LlamaForCausalLM, LlamaForSequenceClassification } from "../models/llama/modeling_llama.ts";
import { LlamaTokenizerFast } from "../models/llama/tokenization_llama_fast.ts";
import { getMatmulBackend, referenceBackend, setMatmulBackend } from "../ops/matmul.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { PreTrainedTokenizerBase } from "../tokenization_utils_base.ts";
import { Random } from "../utils/random.ts";
import { runCase, toTensor, type CaseTensor } from "./capture.ts";
import {
  FLOAT32_COMPUTE,
  GOLDEN_SCHEMA_VERSION,
  GOLDEN_TOLERANCES,
  NAMING_RULE,
  stringifyJson,
  type Manifest,
  type ManifestCase,
  type ManifestTensor,
  type TensorAxes,
} from "./manifest.ts";
import { writeMetaLayout } from "./meta_layout.ts";
import { writeProcessorCases } from "./processors.ts";
import { GOLDEN_PRESETS, type GoldenHead, type WeightsDType } from "./presets.ts";
import { writeTokenizerCases } from "./tokenizer_cases.ts";

export interface GoldenOptions {
  /** Output folder (created). */
  out: string;
  /** A preset name (GOLDEN_PRESETS) or a config.json path; with `seed`, a random model from the seeded init. */
  config?: string;
  seed?: number;
  /** An existing HF checkpoint folder instead of `config`. */
  model?: string;
  /** Prompts (need a tokenizer): each becomes a row of the cases instead of seeded random ids. */
  prompts?: string[];
  max_new_tokens?: number;
  /** Storage dtype of the written checkpoint (default: the preset's, else float32). Compute stays float32. */
  torch_dtype?: WeightsDType;
  /** The command line recorded in the manifest. */
  command?: string;
  /** Progress lines (stderr in the CLI). */
  progress?: (line: string) => void;
}

export interface GoldenSummary {
  cases: number;
  tensors: number;
  bytes: number;
}

type Model = LlamaForCausalLM | LlamaForSequenceClassification;

async function packageVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8"));
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

/** Resolve what to build: preset, config file or checkpoint folder. */
async function resolveSource(opts: GoldenOptions): Promise<{
  model: Model;
  head: GoldenHead;
  weights: WeightsDType;
  tokenizer: PreTrainedTokenizerBase | null;
  preset: string | null;
  description: string | null;
  /** Only the single-prompt and greedy cases (a vocab-32000 preset kept small for git). */
  light: boolean;
}> {
  if ((opts.config === undefined) === (opts.model === undefined))
    throw new ValueError("golden: give either --config FILE|PRESET (with --seed) or --model DIR");
  const seed = opts.seed ?? 0;
  if (opts.model !== undefined) {
    const config = await LlamaConfig.from_pretrained(opts.model);
    const head = headOf(config, join(opts.model, "config.json"));
    const model =
      head === "LlamaForSequenceClassification"
        ? await LlamaForSequenceClassification.from_pretrained(opts.model, { ...FLOAT32_COMPUTE, pooling: "first_pad_minus_one" })
        : await LlamaForCausalLM.from_pretrained(opts.model, FLOAT32_COMPUTE);
    const stored = (config.torch_dtype ?? "float32") as WeightsDType;
    const hasTok = existsSync(join(opts.model, "tokenizer.json")) || existsSync(join(opts.model, "tokenizer.model"));
    const tokenizer = hasTok ? await LlamaTokenizerFast.from_pretrained(opts.model) : null;
    return { model, head, weights: opts.torch_dtype ?? stored, tokenizer, preset: null, description: null, light: false };
  }
  const name = opts.config!;
  const preset = GOLDEN_PRESETS[name];
  let config: LlamaConfig;
  let head: GoldenHead;
  let weights: WeightsDType;
  let useTokenizer: boolean;
  if (preset !== undefined) {
    config = new LlamaConfig(structuredClone(preset.config));
    head = preset.head;
    weights = opts.torch_dtype ?? preset.weights_dtype;
    useTokenizer = preset.tokenizer;
  } else {
    if (!existsSync(name))
      throw new ConfigError(
        name,
        `not a preset (${Object.keys(GOLDEN_PRESETS).join(", ")}) and no such config.json file`,
      );
    let fields: Record<string, unknown>;
    try {
      fields = JSON.parse(await readFile(name, "utf8"));
    } catch (e) {
      throw new ConfigError(name, `cannot parse JSON (${(e as Error).message})`);
    }
    config = new LlamaConfig(fields as any);
    head = headOf(config, name);
    weights = opts.torch_dtype ?? "float32";
    useTokenizer = config.vocab_size === 32000;
  }
  const model =
    head === "LlamaForSequenceClassification"
      ? new LlamaForSequenceClassification(config, { seed, pooling: "first_pad_minus_one" })
      : new LlamaForCausalLM(config, { seed });
  const tokenizer = useTokenizer ? loadDefaultTokenizer() : null;
  return {
    model,
    head,
    weights,
    tokenizer,
    preset: preset !== undefined ? name : null,
    description: preset?.description ?? null,
    light: preset?.light ?? false,
  };
}

function headOf(config: LlamaConfig, file: string): GoldenHead {
  const arch = config.architectures?.[0] ?? "LlamaForCausalLM";
  if (arch === "LlamaForCausalLM" || arch === "LlamaForSequenceClassification") return arch;
  throw new ConfigError(file, `architectures: golden supports LlamaForCausalLM and LlamaForSequenceClassification, got ${arch}`);
}

/**
 * HF's _init_weights zeroes every bias, which would leave attention_bias/mlp_bias untested: draw them from
 * N(0, initializer_range) instead (seeded; a random init, not HF's, is recorded in the manifest).
 */
function randomizeBiases(model: Model, seed: number): boolean {
  const rng = new Random(seed + 31337);
  let any = false;
  for (const [name, t] of model.named_parameters()) {
    if (!name.endsWith(".bias")) continue;
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] = Math.fround(model.config.initializer_range * rng.normal());
    any = true;
  }
  return any;
}

/** Round every parameter to the storage dtype (the model then holds exactly what the checkpoint stores). */
function castWeights(model: Model, dtype: WeightsDType): void {
  for (const [name, t] of model.named_parameters()) {
    if (t.dtype !== dtype) model.set_parameter(name, t.to(dtype));
  }
  model.tie_weights();
  model.config.torch_dtype = dtype;
}

/** A left-padded batch and the generate()-style position ids. */
function leftPad(rows: number[][], pad: number): { ids: number[][]; mask: number[][]; positions: number[][] } {
  const T = Math.max(...rows.map((r) => r.length));
  const ids = rows.map((r) => [...new Array(T - r.length).fill(pad), ...r]);
  const mask = rows.map((r) => [...new Array(T - r.length).fill(0), ...r.map(() => 1)]);
  return { ids, mask, positions: positionIdsFromAttentionMask(mask) };
}

function dontCare(mask: number[][] | null, past: number, T: number): ManifestCase["dont_care"] {
  const query_positions: [number, number][] = [];
  const key_positions: [number, number][] = [];
  if (mask !== null) {
    mask.forEach((row, b) => {
      row.forEach((m, s) => {
        if (m !== 0) return;
        key_positions.push([b, s]);
        if (s >= past && s < past + T) query_positions.push([b, s - past]);
      });
    });
  }
  return { query_positions, key_positions };
}

/** One-line meaning of a captured slot or whole-model result. */
function meaningOf(c: CaseTensor, L: number): string {
  if (c.module === null) return wholeMeaning(c.slot, L);
  const what: Record<string, string> = {
    "Embedding/in.input": "token ids fed to the embedding",
    "Embedding/out.0": "token embeddings",
    "LlamaRMSNorm/in.hidden_states": "RMSNorm input",
    "LlamaRMSNorm/out.0": "RMSNorm output: weight * x / sqrt(mean(x^2) + eps)",
    "LlamaRotaryEmbedding/in.position_ids": "position ids the rotary tables are built for",
    "LlamaRotaryEmbedding/out.0": "rotary cos table, cat(freqs, freqs) layout, times attention_scaling",
    "LlamaRotaryEmbedding/out.1": "rotary sin table, cat(freqs, freqs) layout, times attention_scaling",
    "LlamaAttention/in.hidden_states": "attention input (after input_layernorm)",
    "LlamaAttention/in.attention_mask": "additive 4D mask [B, 1, T, target]: 0 or float32 min",
    "LlamaAttention/in.position_embeddings.0": "cos passed to the attention",
    "LlamaAttention/in.position_embeddings.1": "sin passed to the attention",
    "LlamaAttention/out.0": "attention output after o_proj",
    "LlamaAttention/out.1": "attention probabilities softmax(q k^T / sqrt(d) + mask) [B, heads, T, S]",
    "LlamaAttention/step.apply_rotary_pos_emb.0": "queries after RoPE [B, heads, T, head_dim]",
    "LlamaAttention/step.apply_rotary_pos_emb.1": "keys after RoPE, before the cache [B, kv_heads, T, head_dim]",
    "LlamaAttention/step.repeat_kv.0": "keys (cache included) after repeat_kv [B, heads, S, head_dim]",
    "LlamaAttention/step.repeat_kv.1": "values (cache included) after repeat_kv [B, heads, S, head_dim]",
    "LlamaAttention/step.causal_mask": "attention_mask[:, :, :, :S] as added to the scores",
    "LlamaDecoderLayer/in.hidden_states": "decoder layer input (residual stream)",
    "LlamaDecoderLayer/in.attention_mask": "additive 4D mask given to the layer",
    "LlamaDecoderLayer/in.position_embeddings.0": "cos given to the layer",
    "LlamaDecoderLayer/in.position_embeddings.1": "sin given to the layer",
    "LlamaDecoderLayer/out.0": "decoder layer output (residual stream)",
    "LlamaDecoderLayer/out.1": "the layer's attention probabilities",
    "LlamaMLP/in.x": "MLP input (after post_attention_layernorm)",
    "LlamaMLP/out.0": "MLP output down_proj(silu(gate_proj(x)) * up_proj(x))",
    "LlamaModel/out.last_hidden_state": "final hidden states after model.norm",
    "LlamaModel/step.causal_mask": "the 4D additive mask _update_causal_mask built",
  };
  const key = `${c.module_class}/${c.slot}`;
  if (what[key]) return what[key];
  const leaf = c.module.split(".").pop();
  if (c.module_class === "Linear") return `${leaf} ${c.slot === "in.input" ? "input" : "output (x W^T + b)"}`;
  return `${c.module_class} ${c.slot}`;
}

function wholeMeaning(slot: string, L: number): string {
  const [field, a, b] = slot.split(".");
  switch (field) {
    case "logits":
      return "logits, float32: [B, T, vocab] (causal LM) or pooled [B, num_labels] (classifier)";
    case "pooled_indices":
      return "HF 4.44 sequence_lengths: (index of the first pad - 1) mod T, the position pooled per row";
    case "loss":
      return "mean loss, scalar";
    case "hidden_states": {
      const k = Number(a);
      if (k === 0) return "hidden_states[0]: embeddings";
      if (k === L) return "hidden_states[-1]: last layer output AFTER model.norm (HF quirk)";
      return `hidden_states[${k}]: output of decoder layer ${k - 1}`;
    }
    case "attentions":
      return `attention probabilities of layer ${a}`;
    case "past_key_values":
      return b === "key" ? `cached keys of layer ${a} (after RoPE, before repeat_kv)` : `cached values of layer ${a}`;
    case "sequences":
      return "prompt + greedy ids, int64 [1, prompt + new]";
  }
  return slot;
}

function toleranceOf(slot: string, module_class: string | null, dtype: string): { atol: number; rtol: number } {
  if (dtype === "int64" || dtype === "int32") return GOLDEN_TOLERANCES.exact;
  if (slot === "loss") return GOLDEN_TOLERANCES.loss;
  if (slot.endsWith("attention_mask") || slot === "step.causal_mask") return GOLDEN_TOLERANCES.exact;
  if (slot.startsWith("attentions.")) return GOLDEN_TOLERANCES.probabilities;
  if (module_class === "LlamaAttention" && slot === "out.1") return GOLDEN_TOLERANCES.probabilities;
  if (module_class === "LlamaDecoderLayer" && slot === "out.1") return GOLDEN_TOLERANCES.probabilities;
  if (module_class === "LlamaRotaryEmbedding" || slot.startsWith("in.position_embeddings"))
    return GOLDEN_TOLERANCES.probabilities;
  return GOLDEN_TOLERANCES.activations;
}

function axesOf(slot: string, module_class: string | null, shape: number[], B: number, T: number): TensorAxes {
  const attnWeights =
    slot.startsWith("attentions.") ||
    ((module_class === "LlamaAttention" || module_class === "LlamaDecoderLayer") && slot === "out.1");
  if (attnWeights || slot.endsWith("attention_mask") || slot === "step.causal_mask")
    return shape[0] === B ? { batch: 0, query: 2, key: 3 } : { query: 2, key: 3 };
  if (slot.startsWith("past_key_values.") || slot.startsWith("step.repeat_kv")) return { batch: 0, key: 2 };
  if (slot.startsWith("step.apply_rotary_pos_emb")) return { batch: 0, query: 2 };
  if (shape.length >= 2 && shape[0] === B && shape[1] === T) return { batch: 0, query: 1 };
  return {};
}

class FixtureSink {
  readonly tensors = new Map<string, Tensor>();
  readonly entries: ManifestTensor[] = [];

  add(
    caseName: string,
    module: string | null,
    slot: string,
    module_class: string | null,
    t: Tensor,
    meaning: string,
    B: number,
    T: number,
  ): void {
    const name = module === null ? `${caseName}/${slot}` : `${caseName}/${module}/${slot}`;
    if (this.tensors.has(name)) throw new ValueError(`golden: fixture ${name} written twice`);
    this.tensors.set(name, t);
    const tol = toleranceOf(slot, module_class, t.dtype);
    this.entries.push({
      name,
      case: caseName,
      module,
      slot,
      shape: [...t.shape],
      dtype: t.dtype,
      meaning,
      atol: tol.atol,
      rtol: tol.rtol,
      axes: axesOf(slot, module_class, t.shape, B, T),
    });
  }
}

interface ForwardCase {
  name: string;
  inputs: Record<string, unknown>;
  continues?: string | null;
  cache?: DynamicCache;
  mask: number[][] | null;
  unpadded_counterparts?: string[];
  notes?: string;
}

/** Run one forward case with capture; returns the output (for decode steps to continue). */
function runForward(model: Model, c: ForwardCase, sink: FixtureSink, cases: ManifestCase[]): any {
  const args: Record<string, unknown> = { ...c.inputs };
  if (c.cache) args.past_key_values = c.cache;
  const ids = c.inputs.input_ids as number[][];
  const B = ids.length;
  const T = ids[0].length;
  const past = c.cache ? c.cache.get_seq_length() : 0;
  const { output, tensors } = runCase(model, args);
  const manifestInputs: Record<string, unknown> = { ...c.inputs };
  if (c.continues) manifestInputs.past_key_values = { from_case: c.continues };
  cases.push({
    name: c.name,
    kind: "forward",
    call: "model(**inputs)",
    inputs: manifestInputs,
    continues: c.continues ?? null,
    dont_care: dontCare(c.mask, past, T),
    ...(c.unpadded_counterparts ? { unpadded_counterparts: c.unpadded_counterparts } : {}),
    ...(c.notes ? { notes: c.notes } : {}),
  });
  const L = model.config.num_hidden_layers;
  for (const t of tensors) sink.add(c.name, t.module, t.slot, t.module_class, t.tensor, meaningOf(t, L), B, T);
  return output;
}

/** Seeded random prompt rows (ids in [3, vocab) minus the pad id) when no text prompts are given. */
function randomRows(config: LlamaConfig, seed: number, lengths: number[]): number[][] {
  const rng = new Random(seed + 7919);
  const pad = config.pad_token_id;
  return lengths.map((n) =>
    Array.from({ length: n }, () => {
      for (;;) {
        const id = 3 + (rng.nextUint32() % (config.vocab_size - 3));
        if (id !== pad) return id;
      }
    }),
  );
}

export async function writeGolden(opts: GoldenOptions): Promise<GoldenSummary> {
  const progress = opts.progress ?? (() => {});
  const src = await resolveSource(opts);
  const config = src.model.config;
  const out = opts.out;
  const ckpt = join(out, "checkpoint");
  await mkdir(ckpt, { recursive: true });

  const previousBackend = getMatmulBackend();
  setMatmulBackend(referenceBackend);
  try {
    const biasesDrawn = opts.model === undefined && randomizeBiases(src.model, opts.seed ?? 0);
    castWeights(src.model, src.weights);
    progress(`golden: writing checkpoint (${src.head}, ${src.weights} weights)`);
    await src.model.save_pretrained(ckpt);
    if (src.tokenizer) await src.tokenizer.save_pretrained(ckpt);

    // a deep model takes a while per case: report each decoder layer as it finishes
    const L = config.num_hidden_layers;
    // Each case needs a model as freshly loaded. Only two things in a model change during a call: dynamic RoPE's
    // frequencies and a classifier's inferred config.problem_type; without them one loaded model serves every
    // case (a real checkpoint then loads once instead of once per case).
    const stateful = src.head === "LlamaForSequenceClassification" || config.rope_type.includes("dynamic");
    let loaded: Model | null = null;
    const load = async (): Promise<Model> => {
      if (loaded !== null && !stateful) return loaded;
      const m =
        src.head === "LlamaForSequenceClassification"
          ? await LlamaForSequenceClassification.from_pretrained(ckpt, { ...FLOAT32_COMPUTE, pooling: "first_pad_minus_one" })
          : await LlamaForCausalLM.from_pretrained(ckpt, FLOAT32_COMPUTE);
      if (L >= 8)
        m.model.layers.forEach((layer, i) => layer.register_forward_hook(() => progress(`golden:   layer ${i + 1}/${L}`)));
      loaded = m;
      return m;
    };

    const sink = new FixtureSink();
    const cases: ManifestCase[] = [];
    const greedyGaps: Record<string, number> = {};
    const seed = opts.seed ?? 0;
    const pad = config.pad_token_id;

    let rows: number[][];
    if (opts.prompts && opts.prompts.length > 0) {
      if (!src.tokenizer)
        throw new ValueError("golden: --prompt needs a tokenizer (a vocab-32000 config, or --model with tokenizer files)");
      rows = opts.prompts.map((p) => src.tokenizer!.encode(p));
    } else if (src.tokenizer) {
      rows = ["Hello this is a test", "The capital of France is"].map((p) => src.tokenizer!.encode(p));
    } else {
      rows = randomRows(config, seed, [7, 5]);
    }
    const flags = { output_attentions: true, output_hidden_states: true };
    const light = src.light;
    const batched = pad !== null && rows.length > 1 && !light;
    const total = src.head === "LlamaForCausalLM" ? (light ? 2 : 8 + (batched ? 3 : 0)) : config.num_labels > 1 ? 3 : 2;
    let done = 0;
    const step = (name: string) => progress(`golden: case ${++done}/${total} ${name}`);

    if (src.head === "LlamaForSequenceClassification") {
      step("single");
      runForward(await load(), { name: "single", inputs: { input_ids: [rows[0]], use_cache: false, ...flags }, mask: null }, sink, cases);
      if (pad === null) throw new ValueError("golden: a classification model needs pad_token_id for its batch case");
      const r1 = rows[1] ?? rows[0].slice(0, -2);
      const T = Math.max(rows[0].length, r1.length);
      const padRight = (r: number[]) => [...r, ...new Array(T - r.length).fill(pad)];
      const mask = [rows[0], r1].map((r) => [...r.map(() => 1), ...new Array(T - r.length).fill(0)]);
      step("right_padded");
      runForward(
        await load(),
        {
          name: "right_padded",
          inputs: {
            input_ids: [padRight(rows[0]), padRight(r1)],
            attention_mask: mask,
            labels: [2 % config.num_labels, 1 % config.num_labels],
            use_cache: false,
            ...flags,
          },
          mask,
          notes: "right padding: HF 4.44 pools (first pad - 1) mod T; labels are class indices -> cross-entropy",
        },
        sink,
        cases,
      );
      if (config.num_labels > 1) {
        // float targets (non-integral, so that JSON keeps them floats): BCEWithLogits, problem_type inferred anew
        const soft = [0, 1].map((b) => Array.from({ length: config.num_labels }, (_, j) => ((b + j) % 3) * 0.375));
        step("right_padded_multi_label");
        runForward(
          await load(),
          {
            name: "right_padded_multi_label",
            inputs: {
              input_ids: [padRight(rows[0]), padRight(r1)],
              attention_mask: mask,
              labels: soft,
              use_cache: false,
              ...flags,
            },
            mask,
            notes: "float labels [B, num_labels] (a float tensor in HF): multi_label_classification, BCEWithLogitsLoss",
          },
          sink,
          cases,
        );
      }
    } else {
      step("single");
      runForward(await load(), { name: "single", inputs: { input_ids: [rows[0]], use_cache: false, ...flags }, mask: null }, sink, cases);

      if (batched) {
        const pb = leftPad(rows.slice(0, 2), pad!);
        step("padded_batch");
        runForward(
          await load(),
          {
            name: "padded_batch",
            inputs: { input_ids: pb.ids, attention_mask: pb.mask, position_ids: pb.positions, use_cache: false, ...flags },
            mask: pb.mask,
            unpadded_counterparts: ["padded_batch_row0", "padded_batch_row1"],
            notes: "left padding with generate()'s position ids (cumsum(mask) - 1, 1 at pads)",
          },
          sink,
          cases,
        );
        for (const r of [0, 1]) {
          step(`padded_batch_row${r}`);
          runForward(
            await load(),
            { name: `padded_batch_row${r}`, inputs: { input_ids: [rows[r]], use_cache: false, ...flags }, mask: null },
            sink,
            cases,
          );
        }
      }

      // labels: the batch again, pads and one real token ignored (-100)
      if (!light) {
        const lb = batched ? leftPad(rows.slice(0, 2), pad!) : { ids: [rows[0]], mask: null, positions: null };
        const labels = lb.ids.map((r, b) => r.map((id, t) => (lb.mask && lb.mask[b][t] === 0 ? -100 : id)));
        labels[0][Math.min(2, labels[0].length - 1)] = -100;
        const inputs: Record<string, unknown> = { input_ids: lb.ids, labels, use_cache: false, ...flags };
        if (lb.mask) Object.assign(inputs, { attention_mask: lb.mask, position_ids: lb.positions });
        step("labels");
        runForward(
          await load(),
          { name: "labels", inputs, mask: lb.mask, notes: "loss = mean CE of logits[:, :-1] vs labels[:, 1:], -100 ignored" },
          sink,
          cases,
        );
      }

      // KV cache: prefill, then greedy decode steps driven as generate() does
      if (!light) {
        const pb = batched ? leftPad(rows.slice(0, 2), pad!) : { ids: [rows[0]], mask: [rows[0].map(() => 1)], positions: null };
        const model = await load();
        let mask = pb.mask.map((r) => [...r]);
        const inputs: Record<string, unknown> = { input_ids: pb.ids, attention_mask: mask.map((r) => [...r]), use_cache: true, ...flags };
        let positions = positionIdsFromAttentionMask(mask);
        inputs.position_ids = positions;
        step("prefill");
        let outp = runForward(model, { name: "prefill", inputs, mask }, sink, cases);
        let cache: DynamicCache = outp.past_key_values;
        let prev = "prefill";
        for (let s = 1; s <= 3; s++) {
          const V = config.vocab_size;
          const logits = outp.logits.data as Float32Array;
          const Tn = outp.logits.shape[1];
          const next = pb.ids.map((_, b) => [argmax(logits.subarray((b * Tn + Tn - 1) * V, (b * Tn + Tn) * V))]);
          mask = mask.map((r) => [...r, 1]);
          positions = positions.map((r) => [r[r.length - 1] + 1]);
          const name = `decode_${s}`;
          step(name);
          outp = runForward(
            model,
            {
              name,
              inputs: { input_ids: next, attention_mask: mask.map((r) => [...r]), position_ids: positions, use_cache: true, ...flags },
              cache,
              continues: prev,
              mask,
              notes: `one token per row (the argmax of ${prev}'s last logits), continuing ${prev}'s cache`,
            },
            sink,
            cases,
          );
          cache = outp.past_key_values;
          prev = name;
        }
      }

      // positions well past the first few (and past max_position_embeddings: dynamic RoPE rescales)
      if (!light) {
        const start = config.max_position_embeddings + 36;
        const positions = [rows[0].map((_, t) => start + t)];
        step("long_positions");
        runForward(
          await load(),
          {
            name: "long_positions",
            inputs: { input_ids: [rows[0]], position_ids: positions, use_cache: false, ...flags },
            mask: null,
            notes: `explicit position_ids from ${start} (max_position_embeddings + 36)`,
          },
          sink,
          cases,
        );
      }

      // greedy generation
      {
        const max_new_tokens = opts.max_new_tokens ?? 6;
        step("greedy");
        const model = (await load()) as LlamaForCausalLM;
        const seq = model.generate([rows[0]], { max_new_tokens, do_sample: false });
        const seqRows = (seq.tolist() as number[][]).map((r) => r.map(Number));
        sink.add("greedy", null, "sequences", null, toTensor(seqRows)!, "prompt + greedy ids, int64 [1, prompt + new]", 1, rows[0].length);
        cases.push({
          name: "greedy",
          kind: "generate",
          call: "model.generate(**inputs)",
          inputs: { input_ids: [rows[0]], max_new_tokens, do_sample: false },
          continues: null,
          dont_care: { query_positions: [], key_positions: [] },
          notes: "generation stops early if eos_token_id is produced; see greedy_min_top2_gap for the decision margin",
        });
        greedyGaps.greedy = minTop2Gap(await load(), seqRows[0], rows[0].length);
      }
    }

    const tensorFile = join(out, "fixtures.safetensors");
    await saveSafetensors(tensorFile, sink.tensors, { format: "pt" });

    const tok = src.tokenizer ? await writeTokenizerCases(src.tokenizer, out) : null;
    const proc = src.head === "LlamaForCausalLM" ? await writeProcessorCases(out, config.vocab_size > 64 ? 64 : config.vocab_size, seed) : null;
    const meta = await writeMetaLayout(src.model, out);

    const manifest: Manifest = {
      schema_version: GOLDEN_SCHEMA_VERSION,
      producer: {
        name: "llama-ts",
        version: await packageVersion(),
        command: opts.command ?? "",
        backend: referenceBackend.name,
      },
      hf_equivalent: {
        transformers: "4.44.2",
        model_class: src.head,
        load: { torch_dtype: "float32", attn_implementation: "eager" },
        replay:
          "load checkpoint/ with from_pretrained(torch_dtype=float32, attn_implementation='eager'); run each case on a freshly loaded model, in order; a case with `continues` runs on the same model as that case and passes its DynamicCache as past_key_values",
      },
      init:
        opts.model !== undefined
          ? `loaded from ${opts.model}`
          : `llama-ts seeded init (seed ${opts.seed ?? 0}): weights N(0, initializer_range), RMSNorm weights 1${biasesDrawn ? ", biases N(0, initializer_range) (HF would zero them)" : ""}`,
      preset: src.preset,
      description: src.description,
      checkpoint: { dir: "checkpoint", storage_dtype: src.weights, tokenizer: src.tokenizer !== null },
      naming_rule: NAMING_RULE,
      fixtures: "fixtures.safetensors",
      tolerances: GOLDEN_TOLERANCES,
      cases,
      tensors: sink.entries,
      tokenizer: tok,
      logits_processors: proc,
      meta_layout: meta,
      ...(Object.keys(greedyGaps).length ? { greedy_min_top2_gap: greedyGaps } : {}),
    };
    await writeFile(join(out, "manifest.json"), stringifyJson(manifest) + "\n");
    let bytes = 0;
    for (const t of sink.tensors.values()) bytes += t.data.byteLength;
    progress(`golden: ${cases.length} cases, ${sink.entries.length} tensors written to ${out}`);
    return { cases: cases.length, tensors: sink.entries.length, bytes };
  } finally {
    setMatmulBackend(previousBackend);
  }
}

/** Smallest top-1 minus top-2 logit gap over the generated positions (a full forward over the sequence). */
function minTop2Gap(model: Model, seq: number[], promptLen: number): number {
  const out = model.forward({ input_ids: [seq], use_cache: false });
  const V = out.logits.shape[2];
  const d = out.logits.data as Float32Array;
  let gap = Infinity;
  for (let t = promptLen - 1; t < seq.length - 1; t++) {
    const row = d.subarray(t * V, (t + 1) * V);
    let a = -Infinity;
    let b = -Infinity;
    for (const v of row) {
      if (v > a) [a, b] = [v, a];
      else if (v > b) b = v;
    }
    gap = Math.min(gap, a - b);
  }
  return Math.fround(gap);
}
