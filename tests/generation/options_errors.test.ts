/**
 * Bad generate options fail with a typed error naming the option, before any decoding; HF's option spellings
 * that have no JSON form (sequence_bias's dict) are accepted in their TS forms.
 */
import { describe, expect, it } from "vitest";
import { LlamaError } from "../../src/errors.ts";
import { generate } from "../../src/generation/utils.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { FakeModel } from "./fake_model.ts";

const V = 8;
const lm = () =>
  new FakeModel((tok, pos) => Array.from({ length: V }, (_, v) => ((tok * 3 + pos * 5 + v * 7) % 11) / 3), {
    vocab_size: V,
    eos_token_id: 7,
  });

describe("generate: bad options raise typed errors", () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["num_beams beyond the vocabulary", { num_beams: 100 }, /`num_beams` \(100\) must not exceed the vocabulary size/],
    ["contrastive top_k beyond the vocabulary", { penalty_alpha: 0.5, top_k: 99 }, /`top_k` \(99\)/],
    [
      "an assistant with another vocabulary",
      { assistant_model: new FakeModel(() => [0, 0], { vocab_size: 2 }) },
      /assistant_model/,
    ],
    ["negative dola layers", { dola_layers: [-1] }, /dola_layers/],
    ["stop_strings without a tokenizer", { stop_strings: ["ab"] }, /could not locate a tokenizer/],
    [
      "stop_strings with a non-tokenizer",
      { stop_strings: ["ab"], tokenizer: {} },
      /must be a tokenizer with `get_vocab`/,
    ],
    ["bad_words_ids not a list of lists", { bad_words_ids: [3] }, /`bad_words_ids` has to be a list of lists/],
    ["bad_words_ids outside the vocabulary", { bad_words_ids: [[30]] }, /vocabulary size is 8/],
    ["force_words_ids malformed", { num_beams: 2, force_words_ids: [[]] }, /`force_words_ids` has to either be/],
    ["a disjunctive constraint with a prefix word", { num_beams: 2, force_words_ids: [[[1], [1, 2]]] }, /subset/],
    ["early_stopping not bool/never", { num_beams: 2, early_stopping: "soon" }, /`early_stopping`/],
    ["typical_p out of range", { do_sample: true, typical_p: 0 }, /`typical_p` has to be a float > 0 and < 1/],
    ["no_repeat_ngram_size fractional", { no_repeat_ngram_size: 1.5 }, /`no_repeat_ngram_size` must be an integer/],
    ["sequence_bias malformed", { sequence_bias: [[1, 2]] }, /sequence_bias/],
    [
      "forced_bos_token_id outside the vocabulary",
      { forced_bos_token_id: 99, prompt: [[1]] },
      /outside the vocabulary/,
    ],
    ["beam sampling with too few candidates", { num_beams: 4, do_sample: true, top_k: 2 }, /fewer than 8 ids/],
    [
      "streamer with beams",
      { num_beams: 2, streamer: { put() {}, end() {} } },
      /`streamer` cannot be used with beam search/,
    ],
  ];
  for (const [what, { prompt, ...opts }, msg] of bad) {
    it(what, () => {
      let err: unknown = null;
      const model = lm();
      model.config = { ...model.config, num_hidden_layers: 2 } as typeof model.config;
      try {
        generate(model, (prompt as number[][]) ?? [[1, 2, 3]], { max_new_tokens: 3, ...opts } as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LlamaError);
      expect((err as Error).message).toMatch(msg);
    });
  }

  it("sequence_bias as pairs, a Map or an object keyed by ids gives the same ids", () => {
    const run = (sequence_bias: unknown) =>
      (generate(lm(), [[1, 2, 3]], { max_new_tokens: 5, sequence_bias } as never) as unknown as Tensor).tolist();
    const pairs = run([
      [[4], -5],
      [[2, 5], 3],
    ]);
    expect(
      run(
        new Map([
          [[4], -5],
          [[2, 5], 3],
        ]),
      ),
    ).toEqual(pairs);
    expect(run({ "4": -5, "2,5": 3 })).toEqual(pairs);
    expect(run({ "(4,)": -5, "(2, 5)": 3 })).toEqual(pairs);
    expect(pairs).not.toEqual(generate(lm(), [[1, 2, 3]], { max_new_tokens: 5 }).tolist());
  });
});
