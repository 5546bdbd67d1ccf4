/**
 * The seed's pad-token tip (examples/pad_token.ts), checked. Expected values: closed-form ids (the Llama 2
 * vocabulary has 32,000 tokens and no pad, so "<pad>" is appended as id 32000), bit equality of the rows a
 * resize must keep, the zero row torch.nn.Embedding(padding_idx) initializes, and a left-padded batch against
 * the unpadded text (a control without the mask shows the check can fail).
 */
import { describe, expect, it } from "vitest";
import { padTokenTip, smallLlama2Config } from "../../examples/pad_token.ts";
import { loadDefaultTokenizer } from "../../src/models/llama/default_tokenizer.ts";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";

describe("the seed's pad-token tip", () => {
  it("runs as the example shows: id 32000, resized vocabulary, padding masked out", () => {
    const r = padTokenTip();
    expect(r.added).toBe(1);
    expect(r.pad_token_id).toBe(32000);
    expect(r.vocab_size).toBe(32001);
    // HF quirk: config.pad_token_id set after the model is built does not make the new row a zero padding row.
    expect(r.padRowAbsMaxAfterResize).toBeGreaterThan(0);
    // Built with the pad id (the tip's recommendation): padding_idx's row starts at zero.
    expect(r.padRowAbsMaxBuiltWithPad).toBe(0);
    expect(r.paddedVsAloneMaxDiff).toBeLessThan(1e-5);
    expect(r.unmaskedMaxDiff).toBeGreaterThan(1e-2);
  });

  it("resize_token_embeddings keeps every old row of embed_tokens and lm_head bit for bit", () => {
    const tokenizer = loadDefaultTokenizer();
    const model = new LlamaForCausalLM(smallLlama2Config(), { seed: 1 });
    const oldEmbed = model.model.embed_tokens.weight.toFloat32().slice();
    const oldHead = model.lm_head.weight.toFloat32().slice();
    tokenizer.add_special_tokens({ pad_token: "<pad>" });
    model.resize_token_embeddings(tokenizer.length);
    expect(model.model.embed_tokens.weight.shape).toEqual([32001, 8]);
    expect(model.lm_head.weight.shape).toEqual([32001, 8]);
    expect(model.model.embed_tokens.weight.toFloat32().subarray(0, oldEmbed.length)).toEqual(oldEmbed);
    expect(model.lm_head.weight.toFloat32().subarray(0, oldHead.length)).toEqual(oldHead);
    // The pad id is now a valid input; before the resize it was outside the vocabulary.
    expect(model.forward({ input_ids: [[1, 32000]] }).logits.shape).toEqual([1, 2, 32001]);
  });

  it("a model built with pad_token_id encodes the pad token as zeros (nn.Embedding padding_idx)", () => {
    const built = new LlamaForCausalLM(smallLlama2Config({ vocab_size: 32001, pad_token_id: 32000 }), { seed: 2 });
    expect(built.model.embed_tokens.padding_idx).toBe(32000);
    expect([...built.model.embed_tokens.forward([[32000]]).data].every((x) => x === 0)).toBe(true);
    expect([...built.model.embed_tokens.forward([[31999]]).data].some((x) => x !== 0)).toBe(true);
  });
});
