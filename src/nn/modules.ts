/**
 * The few torch.nn pieces Llama is built from: `Module` (named parameters and sub-modules, as torch's
 * `named_parameters()` / `state_dict()` walk them, and torch's forward hooks), `Linear` and `Embedding`.
 *
 * Hooks, as in torch: `module.register_forward_pre_hook((m, inputs) => ...)` and
 * `module.register_forward_hook((m, inputs, output) => ...)` run around every `module.forward(...)` call (here
 * `forward` is what torch's `module(...)` is); a returned value replaces the inputs / the output, and the returned
 * handle's `remove()` unregisters. Module paths for them are `named_modules()`'s, i.e. HF's state-dict prefixes:
 *
 *   const saved = new Map();
 *   for (const [path, m] of model.named_modules())
 *     m.register_forward_hook((_m, _inputs, out) => void saved.set(path, out));
 *
 * Parameters are Tensors of dtype float32, float16 or bfloat16. 2-byte weights stay 2 bytes in memory and are
 * widened inside the kernels. Activations have the dtype torch would give them (src/nn/functional.ts).
 */
import { allocFloat32 } from "../backends/kernel_memory.ts";
import { ShapeError, ValueError } from "../errors.ts";
import { Tensor, shapeSize } from "../tensor/tensor.ts";
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
  // in kernel memory (src/backends/kernel_memory.ts): the matmul kernels and workers read it in place
  let data: Float32Array;
  try {
    data = allocFloat32(shapeSize(shape));
  } catch {
    return Tensor.zeros("float32", shape); // the engine refused: Tensor.zeros throws the ShapeError naming the shape
  }
  const t = new Tensor("float32", data, shape);
  if (fill !== 0) (t.data as Float32Array).fill(fill);
  return t;
}

/**
 * torch `register_forward_hook` callback: `hook(module, inputs, output)`, after `forward`. `inputs` are the
 * positional arguments forward was called with (a Llama module that takes an options object receives it as one
 * argument). Returning anything but `undefined` replaces the output, and later hooks see the replacement.
 */
export type ForwardHook = (module: Module, inputs: unknown[], output: unknown) => unknown;

/**
 * torch `register_forward_pre_hook` callback: `hook(module, inputs)`, before `forward`. Returning an array
 * replaces the whole argument list (torch's tuple); any other value except `undefined` becomes the single
 * argument (torch wraps a non-tuple the same way).
 */
export type ForwardPreHook = (module: Module, inputs: unknown[]) => unknown;

/**
 * Called by modules at the steps HF computes without a sub-module (q/k after rotary, repeat_kv, the causal
 * mask), with the HF function or variable name and its value. Not a torch API: torch reaches these only by
 * patching functions; here the modules announce them.
 */
export type StepHook = (module: Module, name: string, value: unknown) => void;

let nextHookId = 0;

/** torch.utils.hooks.RemovableHandle: `remove()` unregisters the hook (a second call does nothing). */
export class RemovableHandle {
  readonly id = nextHookId++;
  constructor(private readonly registry: Map<number, unknown>) {}
  remove(): void {
    this.registry.delete(this.id);
  }
}

export abstract class Module {
  /** Names of this module's own parameter fields (e.g. ["weight", "bias"]), in state-dict order. */
  protected static readonly paramNames: readonly string[] = [];
  private readonly children: [string, Module][] = [];
  private readonly _forward_pre_hooks = new Map<number, ForwardPreHook>();
  private readonly _forward_hooks = new Map<number, ForwardHook>();
  private readonly _step_hooks = new Map<number, StepHook>();

  constructor() {
    // torch's nn.Module.__call__: every `module.forward(...)` call runs the pre-hooks, forward, then the hooks.
    // The subclass's forward (on its prototype) is wrapped once here, so no call site changes; with no hooks
    // registered the wrapper is one extra function call.
    const forward = (this as any).forward as ((...args: unknown[]) => unknown) | undefined;
    if (typeof forward === "function") {
      Object.defineProperty(this, "forward", {
        value: (...args: unknown[]) =>
          this._forward_pre_hooks.size === 0 && this._forward_hooks.size === 0
            ? forward.apply(this, args)
            : this._call_impl(forward, args),
        writable: true,
        configurable: true,
      });
    }
  }

  private _call_impl(forward: (...args: unknown[]) => unknown, args: unknown[]): unknown {
    for (const hook of [...this._forward_pre_hooks.values()]) {
      const result = hook(this, args);
      if (result !== undefined) args = Array.isArray(result) ? result : [result];
    }
    let output = forward.apply(this, args);
    for (const hook of [...this._forward_hooks.values()]) {
      const result = hook(this, args, output);
      if (result !== undefined) output = result;
    }
    return output;
  }

  /** torch `register_forward_hook(hook, prepend=False)`: see {@link ForwardHook}. */
  register_forward_hook(hook: ForwardHook, opts: { prepend?: boolean } = {}): RemovableHandle {
    return addHook(this._forward_hooks, hook, opts.prepend ?? false);
  }

  /** torch `register_forward_pre_hook(hook, prepend=False)`: see {@link ForwardPreHook}. */
  register_forward_pre_hook(hook: ForwardPreHook, opts: { prepend?: boolean } = {}): RemovableHandle {
    return addHook(this._forward_pre_hooks, hook, opts.prepend ?? false);
  }

  /** Observe this module's intermediate steps (see {@link StepHook}); golden fixtures use it for `step.<name>`. */
  register_step_hook(hook: StepHook): RemovableHandle {
    return addHook(this._step_hooks, hook, false);
  }

  /** Announce an intermediate value to the step hooks (a no-op without any); see `announceStep` (src/nn/modules.ts). */
  _step(name: string, value: unknown): void {
    if (this._step_hooks.size === 0) return;
    for (const hook of [...this._step_hooks.values()]) hook(this, name, value);
  }

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
    // Iterative pre-order walk: a recursive walk spreading each child's list into push() overflows the stack
    // for models with tens of thousands of modules.
    const out: [string, Module][] = [];
    const stack: [string, Module][] = [[prefix, this]];
    while (stack.length > 0) {
      const [name, m] = stack.pop()!;
      out.push([name, m]);
      for (let i = m.children.length - 1; i >= 0; i--) {
        const [child, sub] = m.children[i];
        stack.push([name ? `${name}.${child}` : child, sub]);
      }
    }
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

/**
 * Hand a step HF computes without a sub-module (HF's function or variable name: "apply_rotary_pos_emb",
 * "repeat_kv", "causal_mask") to `module`'s step hooks; functions that receive the module as a plain object
 * (the attention implementations) call this. A tuple is passed as an array.
 */
export function announceStep(module: unknown, name: string, value: unknown): void {
  if (module instanceof Module) module._step(name, value);
}

function addHook<H>(registry: Map<number, H>, hook: H, prepend: boolean): RemovableHandle {
  if (typeof hook !== "function") throw new ValueError(`hook: expected a function, got ${typeof hook}`);
  const handle = new RemovableHandle(registry as Map<number, unknown>);
  if (prepend) {
    const rest = [...registry];
    registry.clear();
    registry.set(handle.id, hook);
    for (const [id, h] of rest) registry.set(id, h);
  } else registry.set(handle.id, hook);
  return handle;
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
