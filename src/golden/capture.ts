/**
 * Capture every module's inputs and outputs during one forward pass, with forward hooks, under the names a
 * PyTorch forward hook on HF's own modules would give them:
 *
 *   <case>/<module path>/in.<forward parameter name>[.<index>]     e.g. single/model.layers.0.self_attn/in.hidden_states
 *   <case>/<module path>/out.<index or field>                       e.g. single/model.rotary_emb/out.1 (sin)
 *   <case>/<module path>/step.<function or variable>[.<index>]      e.g. single/model.layers.0.self_attn/step.repeat_kv.0
 *
 * Module paths are HF's state-dict prefixes (`named_modules`); parameter names are those of HF 4.44's `forward`
 * signatures; tuple outputs are numbered from 0 (`self_attn`'s out.1 is its attention weights).
 */
import { DynamicCache } from "../cache_utils.ts";
import { ValueError } from "../errors.ts";
import type { Module, RemovableHandle } from "../nn/modules.ts";
import { Tensor } from "../tensor/tensor.ts";

/**
 * HF 4.44 forward parameter names of each module's positional arguments, by class. Arguments our modules take
 * as one options object are named by its keys (`attention_mask`, `position_embeddings`, ...), which are HF's.
 * LlamaRotaryEmbedding's HF signature is `forward(x, position_ids)`; `x` only carries dtype and device, so a
 * module called with position_ids alone names that single argument `position_ids`.
 */
const FORWARD_PARAMS: Record<string, string[]> = {
  Linear: ["input"],
  Embedding: ["input"],
  LlamaRMSNorm: ["hidden_states"],
  LlamaRotaryEmbedding: ["x", "position_ids"],
  LlamaMLP: ["x"],
  LlamaAttention: ["hidden_states"],
  LlamaDecoderLayer: ["hidden_states"],
  LlamaModel: [],
};

/** Option keys that are not tensors in HF (flags, the cache object) and are never written. */
const SKIPPED_KEYS = new Set(["past_key_value", "past_key_values", "output_attentions", "use_cache", "output_hidden_states"]);

/** One captured value: the tensor and where it came from. */
export interface Captured {
  module: string;
  slot: string;
  /** The module's class (e.g. "LlamaAttention"), for the manifest's one-line meaning. */
  module_class: string;
  tensor: Tensor;
}

/**
 * Ids and positions given as nested arrays become int64 tensors (torch.long); float tensors are copied, 2-byte
 * ones widened to float32 (exact): fixtures hold HF's float32-compute values, where an embedding of 2-byte weights
 * kept in memory (compute_dtype "float32") is float32 in HF's upcast model.
 */
export function toTensor(v: unknown): Tensor | null {
  if (v instanceof Tensor && (v.dtype === "float16" || v.dtype === "bfloat16"))
    return new Tensor("float32", v.toFloat32().slice(), [...v.shape]);
  if (v instanceof Tensor) {
    const data = v.data.slice() as Tensor["data"];
    return new Tensor(v.dtype, data, [...v.shape]);
  }
  if (Array.isArray(v) && v.length > 0) {
    const shape: number[] = [];
    let x: unknown = v;
    while (Array.isArray(x)) {
      shape.push(x.length);
      x = x[0];
    }
    if (typeof x !== "number") return null;
    const flat = (v as unknown[]).flat(shape.length) as number[];
    if (!flat.every((n) => Number.isInteger(n))) return null;
    return new Tensor("int64", BigInt64Array.from(flat, (n) => BigInt(n)), shape);
  }
  return null;
}

/** Flatten a value into (suffix, tensor) pairs: a tensor is "", an array or tuple numbers its items. */
function flatten(v: unknown, out: [string, Tensor][], suffix = ""): void {
  if (v === null || v === undefined || typeof v === "boolean" || v instanceof DynamicCache) return;
  const t = toTensor(v);
  if (t !== null) {
    out.push([suffix, t]);
    return;
  }
  if (Array.isArray(v)) v.forEach((item, i) => flatten(item, out, `${suffix}.${i}`));
}

/** in.<name> pairs for one call. */
export function namedInputs(module: Module, inputs: unknown[]): [string, Tensor][] {
  const cls = module.constructor.name;
  const names = FORWARD_PARAMS[cls] ?? [];
  const out: [string, Tensor][] = [];
  if (cls === "LlamaRotaryEmbedding") {
    // HF forward(x, position_ids); ours may take them in either order or position_ids alone: name by content
    for (const arg of inputs) {
      const t = toTensor(arg);
      if (t !== null) out.push([t.dtype === "int64" || t.dtype === "int32" ? "in.position_ids" : "in.x", t]);
    }
    return out.sort(([a], [b]) => (a === "in.x" ? -1 : b === "in.x" ? 1 : 0));
  }
  // positional arguments are aligned from the end of HF's list when fewer are passed (rotary: position_ids only)
  const positional = inputs.filter((a) => !isOptions(a));
  const offset = Math.max(0, names.length - positional.length);
  let p = 0;
  for (const arg of inputs) {
    if (isOptions(arg)) {
      for (const [key, value] of Object.entries(arg as Record<string, unknown>)) {
        if (SKIPPED_KEYS.has(key)) continue;
        const pairs: [string, Tensor][] = [];
        flatten(value, pairs);
        for (const [suffix, t] of pairs) out.push([`in.${key}${suffix}`, t]);
      }
      continue;
    }
    const name = names[offset + p] ?? `${p}`;
    p++;
    const pairs: [string, Tensor][] = [];
    flatten(arg, pairs);
    for (const [suffix, t] of pairs) out.push([`in.${name}${suffix}`, t]);
  }
  return out;
}

function isOptions(v: unknown): boolean {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Tensor) && !(v instanceof DynamicCache);
}

/** out.<index or field> pairs: a tensor is out.0, a tuple out.i, a ModelOutput its tensor fields by name. */
export function namedOutputs(output: unknown): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  if (output instanceof Tensor) return [["out.0", toTensor(output)!]];
  if (Array.isArray(output)) {
    output.forEach((item, i) => {
      const pairs: [string, Tensor][] = [];
      flatten(item, pairs);
      for (const [suffix, t] of pairs) out.push([`out.${i}${suffix}`, t]);
    });
    return out;
  }
  if (isOptions(output)) {
    for (const [key, value] of Object.entries(output as Record<string, unknown>)) {
      if (value instanceof Tensor) out.push([`out.${key}`, toTensor(value)!]);
    }
  }
  return out;
}

/**
 * Hook every sub-module of `model` (not the root: its inputs are the case's inputs and its outputs the
 * whole-model results) and collect `<module path>/<slot>` -> Captured. Returns the collected map and a
 * function removing the hooks.
 */
export function captureModules(model: Module): { captured: Map<string, Captured>; remove: () => void } {
  const captured = new Map<string, Captured>();
  const handles: RemovableHandle[] = [];
  const put = (path: string, m: Module, slot: string, tensor: Tensor) => {
    const key = `${path}/${slot}`;
    if (captured.has(key)) throw new ValueError(`golden capture: ${key} was produced twice in one forward call`);
    captured.set(key, { module: path, slot, module_class: m.constructor.name, tensor });
  };
  for (const [path, m] of model.named_modules()) {
    if (path === "") continue;
    handles.push(
      m.register_forward_hook((mod, inputs, output) => {
        // LlamaModel's inputs are the case's inputs (and ours carries the head's labels too): not repeated
        if (mod.constructor.name !== "LlamaModel") for (const [slot, t] of namedInputs(mod, inputs)) put(path, mod, slot, t);
        for (const [slot, t] of namedOutputs(output)) {
          // LlamaModel's output is the whole-model result (written as <case>/hidden_states.k etc.): keep its
          // last_hidden_state only
          if (mod.constructor.name === "LlamaModel" && slot !== "out.last_hidden_state") continue;
          put(path, mod, slot, t);
        }
      }),
    );
    handles.push(
      m.register_step_hook((mod, name, value) => {
        const pairs: [string, Tensor][] = [];
        flatten(value, pairs);
        for (const [suffix, t] of pairs) put(path, mod, `step.${name}${suffix}`, t);
      }),
    );
  }
  return { captured, remove: () => handles.forEach((h) => h.remove()) };
}

/** One tensor of a case: a module slot (module set) or a whole-model result (module null). */
export interface CaseTensor {
  module: string | null;
  slot: string;
  module_class: string | null;
  tensor: Tensor;
}

/** What `runCase` needs of a model: forward, and for classifiers the pooling rule. */
export interface CaseModel extends Module {
  forward(args: any): any;
  pooled_indices?(input_ids: number[][] | null, batch_size: number, T: number): number[];
}

/**
 * Run `model.forward(args)` with every module hooked; return the output and the case's tensors in call order:
 * module slots first, then logits, pooled_indices (classifiers), loss, hidden_states.k, attentions.k and, when
 * use_cache, past_key_values.<layer>.key|value.
 */
export function runCase(model: CaseModel, args: Record<string, unknown>): { output: any; tensors: CaseTensor[] } {
  const { captured, remove } = captureModules(model);
  let output: any;
  try {
    output = model.forward(args);
  } finally {
    remove();
  }
  const tensors: CaseTensor[] = [...captured.values()].map((c) => ({ ...c }));
  const whole = (slot: string, t: Tensor) => tensors.push({ module: null, slot, module_class: null, tensor: t });
  whole("logits", toTensor(output.logits)!);
  if (typeof model.pooled_indices === "function" && Array.isArray(args.input_ids)) {
    const ids = args.input_ids as number[][];
    const pooled = model.pooled_indices(ids, ids.length, ids[0].length);
    whole("pooled_indices", new Tensor("int64", BigInt64Array.from(pooled, BigInt), [pooled.length]));
  }
  if (output.loss) whole("loss", toTensor(output.loss)!);
  (output.hidden_states ?? []).forEach((h: Tensor, k: number) => whole(`hidden_states.${k}`, toTensor(h)!));
  (output.attentions ?? []).forEach((a: Tensor, k: number) => whole(`attentions.${k}`, toTensor(a)!));
  const cache: DynamicCache | undefined = output.past_key_values;
  if (cache && args.use_cache) {
    cache.key_cache.forEach((k, l) => whole(`past_key_values.${l}.key`, toTensor(k)!));
    cache.value_cache.forEach((v, l) => whole(`past_key_values.${l}.value`, toTensor(v)!));
  }
  return { output, tensors };
}
