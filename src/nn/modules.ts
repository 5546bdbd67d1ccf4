/**
 * The few torch.nn pieces Llama is built from: `Module` (named parameters and sub-modules, as torch's
 * `named_parameters()` / `state_dict()` walk them), `Linear` and `Embedding`.
 *
 * Parameters are Tensors of dtype float32, float16 or bfloat16. 2-byte weights stay 2 bytes in memory and are
 * widened inside the kernels. Activations have the dtype torch would give them (src/nn/functional.ts).
 */
import { ShapeError } from "../errors.ts";
import { Tensor } from "../tensor/tensor.ts";
import * as F from "./functional.ts";

/** While > 0, module constructors create shape-only placeholders instead of allocating (HF's meta device). */
let metaDepth = 0;

export function isMetaInit(): boolean {
  return metaDepth > 0;
}

/** Build modules without allocating their weights; from_pretrained then puts the checkpoint's tensors in place. */
export function withMetaInit<T>(build: () => T): T {
  metaDepth++;
  try {
    return build();
  } finally {
    metaDepth--;
  }
}

/** A parameter of the right shape: zeros, or a storage-less placeholder under withMetaInit. */
export function newParameter(shape: number[], fill = 0): Tensor {
  if (metaDepth > 0) {
    const t = new Tensor("float32", new Float32Array(0), [0]);
    t.shape = [...shape];
    (t as any).is_meta = true;
    return t;
  }
  const t = Tensor.zeros("float32", shape);
  if (fill !== 0) (t.data as Float32Array).fill(fill);
  return t;
}

export abstract class Module {
  /** Names of this module's own parameter fields (e.g. ["weight", "bias"]), in state-dict order. */
  protected static readonly paramNames: readonly string[] = [];
  private readonly children: [string, Module][] = [];

  /** Register a sub-module under `name` (torch: attribute assignment of an nn.Module); returns it. */
  protected add<M extends Module>(name: string, module: M): M {
    this.children.push([name, module]);
    return module;
  }

  /** Replace a registered sub-module (e.g. resize_token_embeddings swapping the embedding). */
  protected replace<M extends Module>(name: string, module: M): M {
    const i = this.children.findIndex(([n]) => n === name);
    if (i < 0) throw new Error(`no sub-module ${name}`);
    this.children[i] = [name, module];
    return module;
  }

  /** (name, module) pairs, depth first, this module first with name "" (torch `named_modules`). */
  named_modules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, m] of this.children) out.push(...m.named_modules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** (name, tensor) pairs in torch's order; a tensor shared by two modules (tied weights) appears twice. */
  named_parameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, m] of this.named_modules(prefix)) {
      for (const p of (m.constructor as typeof Module).paramNames) {
        const t = (m as any)[p] as Tensor | null;
        if (t) out.push([name ? `${name}.${p}` : p, t]);
      }
    }
    return out;
  }

  /** Set the parameter at a dotted path (e.g. "layers.0.mlp.up_proj.weight"). Returns false if no such slot. */
  set_parameter(path: string, value: Tensor): boolean {
    const dot = path.lastIndexOf(".");
    const moduleName = dot < 0 ? "" : path.slice(0, dot);
    const paramName = dot < 0 ? path : path.slice(dot + 1);
    const found = this.named_modules().find(([n]) => n === moduleName);
    if (!found) return false;
    const m = found[1];
    if (!(m.constructor as typeof Module).paramNames.includes(paramName) || (m as any)[paramName] === null)
      return false;
    (m as any)[paramName] = value;
    return true;
  }
}

/** torch.nn.Linear: `y = x W^T + b`, W [out_features, in_features], b [out_features] or null. */
export class Linear extends Module {
  protected static override readonly paramNames = ["weight", "bias"];
  weight: Tensor;
  bias: Tensor | null;

  constructor(
    readonly in_features: number,
    readonly out_features: number,
    bias = true,
  ) {
    super();
    this.weight = newParameter([out_features, in_features]);
    this.bias = bias ? newParameter([out_features]) : null;
  }

  /** x [..., in_features] -> [..., out_features], in x's dtype. */
  forward(x: Tensor): Tensor {
    if (x.shape[x.shape.length - 1] !== this.in_features)
      throw new ShapeError("input", `Linear expects last dim ${this.in_features}, got [${x.shape}]`);
    return F.linear(x, this.weight, this.bias);
  }
}

/** torch.nn.Embedding with padding_idx: a lookup of rows of `weight` [num_embeddings, embedding_dim]. */
export class Embedding extends Module {
  protected static override readonly paramNames = ["weight"];
  weight: Tensor;
  /** Row kept at zero by init (and by torch's gradient, which never updates it). Negative counts from the end. */
  readonly padding_idx: number | null;

  constructor(
    readonly num_embeddings: number,
    readonly embedding_dim: number,
    padding_idx: number | null = null,
  ) {
    super();
    this.weight = newParameter([num_embeddings, embedding_dim]);
    this.padding_idx = padding_idx === null ? null : padding_idx < 0 ? num_embeddings + padding_idx : padding_idx;
  }

  /**
   * ids [B, T] -> [B, T, embedding_dim] in the weight's dtype (as torch: a 2-byte table gives 2-byte rows, copied
   * bit for bit). Throws ShapeError naming the first id outside the vocabulary.
   */
  forward(ids: number[][]): Tensor {
    const B = ids.length;
    const T = B ? ids[0].length : 0;
    const D = this.embedding_dim;
    const w = this.weight;
    const out = Tensor.zeros(w.dtype, [B, T, D]);
    const table = w.data as Float32Array | Uint16Array;
    const rows = out.data as Float32Array | Uint16Array;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const id = ids[b][t];
        if (!Number.isInteger(id) || id < 0 || id >= this.num_embeddings) {
          throw new ShapeError(
            "input_ids",
            `id ${id} at [${b}, ${t}] is outside the vocabulary [0, ${this.num_embeddings})`,
          );
        }
        rows.set(table.subarray(id * D, (id + 1) * D), (b * T + t) * D);
      }
    }
    return out;
  }
}
