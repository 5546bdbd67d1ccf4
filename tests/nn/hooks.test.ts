/**
 * Forward hooks with torch's semantics (nn.Module.register_forward_hook / register_forward_pre_hook): expected
 * values come from closed-form arithmetic on hand-set weights, or from calling the same modules without hooks.
 */
import { describe, expect, it } from "vitest";
import { LlamaConfig } from "../../src/models/llama/configuration_llama.ts";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";
import { Linear, type Module } from "../../src/nn/modules.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

function tinyLinear(): Linear {
  const lin = new Linear(2, 2, true);
  lin.weight = new Tensor("float32", [1, 2, 3, 4], [2, 2]); // y0 = x0 + 2 x1 + 10, y1 = 3 x0 + 4 x1 + 20
  lin.bias = new Tensor("float32", [10, 20], [2]);
  return lin;
}
const x = () => new Tensor("float32", [1, 1], [1, 2]);

describe("forward hooks (torch semantics)", () => {
  it("hook(module, inputs, output) sees the module, the positional inputs and the output", () => {
    const lin = tinyLinear();
    const seen: [Module, unknown[], unknown][] = [];
    lin.register_forward_hook((m, inputs, output) => void seen.push([m, inputs, output]));
    const input = x();
    const y = lin.forward(input);
    expect(seen.length).toBe(1);
    expect(seen[0][0]).toBe(lin);
    expect(seen[0][1]).toEqual([input]);
    expect(seen[0][2]).toBe(y);
    expect(y.tolist()).toEqual([[13, 27]]);
  });

  it("a returned value replaces the output, and later hooks see the replacement", () => {
    const lin = tinyLinear();
    const replacement = new Tensor("float32", [7, 8], [1, 2]);
    let secondSaw: unknown = null;
    lin.register_forward_hook(() => replacement);
    lin.register_forward_hook((_m, _i, out) => void (secondSaw = out));
    expect(lin.forward(x())).toBe(replacement);
    expect(secondSaw).toBe(replacement);
  });

  it("a pre-hook may replace the inputs (an array is the argument list; another value the single argument)", () => {
    const lin = tinyLinear();
    const h = lin.register_forward_pre_hook(() => [new Tensor("float32", [0, 0], [1, 2])]);
    expect(lin.forward(x()).tolist()).toEqual([[10, 20]]); // bias only
    h.remove();
    lin.register_forward_pre_hook(() => new Tensor("float32", [1, 0], [1, 2]));
    expect(lin.forward(x()).tolist()).toEqual([[11, 23]]);
  });

  it("the post-hook gets the inputs the pre-hook substituted", () => {
    const lin = tinyLinear();
    const z = new Tensor("float32", [2, 0], [1, 2]);
    lin.register_forward_pre_hook(() => [z]);
    let inputs: unknown[] = [];
    lin.register_forward_hook((_m, i) => void (inputs = i));
    lin.forward(x());
    expect(inputs[0]).toBe(z);
  });

  it("handle.remove() stops the hook; removing twice is harmless; prepend runs first", () => {
    const lin = tinyLinear();
    const order: string[] = [];
    const a = lin.register_forward_hook(() => void order.push("a"));
    lin.register_forward_hook(() => void order.push("b"));
    lin.register_forward_hook(() => void order.push("c"), { prepend: true });
    lin.forward(x());
    expect(order).toEqual(["c", "a", "b"]);
    a.remove();
    a.remove();
    order.length = 0;
    lin.forward(x());
    expect(order).toEqual(["c", "b"]);
  });

  it("rejects a non-function hook with a typed error", () => {
    expect(() => tinyLinear().register_forward_hook(42 as any)).toThrow(/hook: expected a function/);
  });
});

describe("hooks on a Llama model", () => {
  const config = new LlamaConfig({
    vocab_size: 16,
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
  });

  it("named_modules gives HF's module paths (state-dict prefixes, plus the buffer-only rotary_emb)", () => {
    const model = new LlamaForCausalLM(config, { seed: 0 });
    const layer = (i: number) =>
      ["", ".self_attn", ".self_attn.q_proj", ".self_attn.k_proj", ".self_attn.v_proj", ".self_attn.o_proj", ".mlp"]
        .concat([".mlp.gate_proj", ".mlp.up_proj", ".mlp.down_proj", ".input_layernorm", ".post_attention_layernorm"])
        .map((s) => `model.layers.${i}${s}`);
    expect(model.named_modules().map(([n]) => n)).toEqual([
      "",
      "model",
      "model.embed_tokens",
      ...layer(0),
      ...layer(1),
      "model.norm",
      "model.rotary_emb",
      "lm_head",
    ]);
  });

  it("every module's hook fires once per forward, in HF's call order", () => {
    const model = new LlamaForCausalLM(config, { seed: 0 });
    const calls: string[] = [];
    for (const [name, m] of model.named_modules()) m.register_forward_pre_hook(() => void calls.push(name));
    model.forward({ input_ids: [[1, 2, 3]] });
    const layer = (i: number) =>
      ["", ".input_layernorm", ".self_attn", ".self_attn.q_proj", ".self_attn.k_proj", ".self_attn.v_proj"]
        .concat([".self_attn.o_proj", ".post_attention_layernorm", ".mlp", ".mlp.gate_proj", ".mlp.up_proj"])
        .concat([".mlp.down_proj"])
        .map((s) => `model.layers.${i}${s}`);
    expect(calls).toEqual([
      "",
      "model",
      "model.embed_tokens",
      "model.rotary_emb",
      ...layer(0),
      ...layer(1),
      "model.norm",
      "lm_head",
    ]);
  });

  it("a hook's replacement propagates: layers that return their input give lm_head(norm(embed))", () => {
    const model = new LlamaForCausalLM(config, { seed: 3 });
    const ids = [[4, 5, 6]];
    const expected = model.lm_head.forward(model.model.norm.forward(model.model.embed_tokens.forward(ids)));
    const handles = model.model.layers.map((l) =>
      l.register_forward_hook((_m, inputs, out) => [inputs[0], (out as any)[1]]),
    );
    expect(model.forward({ input_ids: ids }).logits.tolist()).toEqual(expected.tolist());
    for (const h of handles) h.remove();
    expect(model.forward({ input_ids: ids }).logits.tolist()).not.toEqual(expected.tolist());
  });
});
