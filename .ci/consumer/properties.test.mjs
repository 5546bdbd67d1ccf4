// vitest + fast-check in the consumer project: two properties through llama-ts/testing.
import fc from "fast-check";
import { LlamaConfig, LlamaForCausalLM } from "llama-ts";
import { assertClose, llamaConfigArb, llamaModelArb, paddedBatchArb } from "llama-ts/testing";
import { expect, it } from "vitest";

it("config.json round trip: from_json_string(to_json_string()) gives the same to_dict()", () => {
  fc.assert(
    fc.property(llamaConfigArb(), (config) => {
      expect(LlamaConfig.from_json_string(config.to_json_string()).to_dict()).toEqual(config.to_dict());
    }),
    { numRuns: 50, seed: 1 },
  );
});

it("right padding does not change the logits of the real tokens", () => {
  const cases = llamaModelArb(LlamaForCausalLM, llamaConfigArb({ pad_token: "always", max_layers: 1 }));
  fc.assert(
    fc.property(
      cases.chain((c) =>
        fc.record({
          c: fc.constant(c),
          batch: paddedBatchArb({
            vocab_size: c.config.vocab_size,
            pad_token_id: c.config.pad_token_id,
            padding_side: "right",
          }),
        }),
      ),
      ({ c, batch }) => {
        const padded = c.model.forward({ input_ids: batch.input_ids, attention_mask: batch.attention_mask }).logits;
        const [, T, V] = padded.shape;
        batch.sequences.forEach((seq, r) => {
          const alone = c.model.forward({ input_ids: [seq] }).logits.toFloat32();
          const row = padded.toFloat32().subarray(r * T * V, (r * T + seq.length) * V);
          assertClose(row, alone, { atol: 1e-4, rtol: 1e-4 }, `row ${r}`);
        });
      },
    ),
    { numRuns: 15, seed: 1 },
  );
});
