/**
 * generate() driven by hand-written fake models (tests/generation/fake_model.ts): every expected sequence, mask
 * and position below is worked out by hand from the tables written here or HF's formulas, and the left-padded
 * decode is compared with the masks/positions HF 4.44.2's own generate produced (shared/reference).
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { generate } from "../../src/generation/utils.ts";
import { GenerationConfig } from "../../src/generation/configuration_utils.ts";
import { ShapeError, ValueError } from "../../src/errors.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { Random } from "../../src/utils/random.ts";
import { FakeModel, peaks } from "./fake_model.ts";

const V = 8;
/** Token t is followed by SUCC[t]: 0->3, 1->4, 2->6, 3->5, 4->2, 5->7, 6->1, 7->0. */
const SUCC = [3, 4, 6, 5, 2, 7, 1, 0];

function chainModel(config: Partial<FakeModel["config"]> = {}, returnAllPositions = false): FakeModel {
  return new FakeModel((t) => peaks(V, { [SUCC[t]]: 1 }), { vocab_size: V, ...config }, returnAllPositions);
}

describe("greedy generate with a KV cache", () => {
  it("follows the successor table: 2 -> 6 -> 1 -> 4 -> 2", () => {
    const model = chainModel();
    const out = generate(model, [[1, 2]], { max_new_tokens: 4 });
    expect(out).toBeInstanceOf(Tensor);
    expect(out.dtype).toBe("int64");
    expect(out.shape).toEqual([1, 6]);
    expect(out.tolist()).toEqual([[1, 2, 6, 1, 4, 2]]);
  });

  it("prefills the prompt, then feeds one token per step with the growing mask, positions and the same cache", () => {
    const model = chainModel();
    generate(model, [[1, 2]], { max_new_tokens: 4 });
    const c = model.calls;
    expect(c.length).toBe(4);
    expect(c.map((k) => k.input_ids)).toEqual([[[1, 2]], [[6]], [[1]], [[4]]]);
    expect(c.map((k) => k.attention_mask)).toEqual([[[1, 1]], [[1, 1, 1]], [[1, 1, 1, 1]], [[1, 1, 1, 1, 1]]]);
    expect(c.map((k) => k.position_ids)).toEqual([[[0, 1]], [[2]], [[3]], [[4]]]);
    expect(c.map((k) => k.cache_position)).toEqual([[0, 1], [2], [3], [4]]);
    expect(c.map((k) => k.past_length)).toEqual([0, 2, 3, 4]);
    expect(c.every((k) => k.use_cache === true && k.num_logits_to_keep === 1)).toBe(true);
    expect(c[0].past_key_values).toBeDefined();
    expect(c.every((k) => k.past_key_values === c[0].past_key_values)).toBe(true);
  });

  it("takes the last position when the model returns logits for every position", () => {
    const model = chainModel({}, true);
    expect(generate(model, [[1, 2]], { max_new_tokens: 4 }).tolist()).toEqual([[1, 2, 6, 1, 4, 2]]);
  });

  it("accepts int Tensors (1-D or 2-D) as input_ids", () => {
    expect(generate(chainModel(), new Tensor("int64", [1, 2], [1, 2]), { max_new_tokens: 2 }).tolist()).toEqual([
      [1, 2, 6, 1],
    ]);
    expect(generate(chainModel(), new Tensor("int32", [1, 2], [2]), { max_new_tokens: 2 }).tolist()).toEqual([
      [1, 2, 6, 1],
    ]);
  });

  it("without a cache (use_cache=false) feeds the whole sequence every step and gives the same ids", () => {
    const model = chainModel();
    expect(generate(model, [[1, 2]], { max_new_tokens: 3, use_cache: false }).tolist()).toEqual([[1, 2, 6, 1, 4]]);
    const c = model.calls;
    expect(c.map((k) => k.input_ids)).toEqual([[[1, 2]], [[1, 2, 6]], [[1, 2, 6, 1]]]);
    expect(c.map((k) => k.position_ids)).toEqual([[[0, 1]], [[0, 1, 2]], [[0, 1, 2, 3]]]);
    expect(c.map((k) => k.cache_position)).toEqual([
      [0, 1],
      [0, 1, 2],
      [0, 1, 2, 3],
    ]);
    expect(c.every((k) => k.past_key_values === undefined && k.use_cache === false)).toBe(true);
  });

  it("reads use_cache from the model config as HF's from_model_config does", () => {
    const model = new FakeModel((t) => peaks(V, { [SUCC[t]]: 1 }), { vocab_size: V });
    (model.config as { use_cache?: boolean }).use_cache = false;
    generate(model, [[1, 2]], { max_new_tokens: 2 });
    expect(model.calls[1].input_ids).toEqual([[1, 2, 6]]);
  });
});

describe("lengths: max_length vs max_new_tokens", () => {
  it("max_length counts the prompt", () => {
    expect(generate(chainModel(), [[1, 2]], { max_length: 5 }).tolist()).toEqual([[1, 2, 6, 1, 4]]);
  });

  it("max_new_tokens takes precedence over max_length", () => {
    expect(generate(chainModel(), [[1, 2]], { max_new_tokens: 2, max_length: 10 }).tolist()).toEqual([[1, 2, 6, 1]]);
  });

  it("defaults to max_length = 20", () => {
    const out = generate(chainModel(), [[1, 2]]).tolist()[0] as number[];
    expect(out.length).toBe(20);
    for (let i = 2; i < 20; i++) expect(out[i]).toBe(SUCC[out[i - 1]]);
  });

  it("raises HF's ValueError when the prompt already reaches max_length", () => {
    const prompt = [Array.from({ length: 20 }, (_, i) => i % V)];
    expect(() => generate(chainModel(), prompt)).toThrow(
      /Input length of input_ids is 20, but `max_length` is set to 20/,
    );
    expect(() => generate(chainModel(), [[1, 2, 3]], { max_length: 3 })).toThrow(ValueError);
    expect(() => generate(chainModel(), [[1, 2]], { max_new_tokens: 0 })).toThrow(
      /`max_new_tokens` must be greater than 0/,
    );
  });
});

describe("eos stopping and pad fill", () => {
  it("a finished row gets pad_token_id while the others continue", () => {
    const model = chainModel({ eos_token_id: 5, pad_token_id: 0 });
    const out = generate(
      model,
      [
        [1, 3],
        [4, 4],
      ],
      { max_new_tokens: 4 },
    );
    expect(out.tolist()).toEqual([
      [1, 3, 5, 0, 0, 0],
      [4, 4, 2, 6, 1, 4],
    ]);
    // the finished row keeps being fed: its eos, then the pad token
    expect(model.calls.slice(1).map((k) => k.input_ids[0])).toEqual([[5], [0], [0]]);
  });

  it("stops as soon as every row is finished", () => {
    const model = chainModel({ eos_token_id: 5, pad_token_id: 7 });
    const out = generate(
      model,
      [
        [1, 3],
        [2, 0],
      ],
      { max_new_tokens: 10 },
    );
    expect(out.tolist()).toEqual([
      [1, 3, 5, 7],
      [2, 0, 3, 5],
    ]);
    expect(model.calls.length).toBe(2);
  });

  it("accepts a list of eos ids and pads with the first eos when pad_token_id is unset", () => {
    const model = chainModel({ eos_token_id: [5, 7] });
    expect(
      generate(
        model,
        [
          [1, 3],
          [1, 1],
        ],
        { max_new_tokens: 3 },
      ).tolist(),
    ).toEqual([
      [1, 3, 5, 5, 5],
      [1, 1, 4, 2, 6],
    ]);
  });

  it("an eos_token_id option overrides the model's; an explicit null disables stopping (HF quirk)", () => {
    const rows = [
      [1, 3],
      [1, 1],
    ];
    expect(
      generate(chainModel({ eos_token_id: [5, 7] }), rows, { max_new_tokens: 3, eos_token_id: 7 }).tolist(),
    ).toEqual([
      [1, 3, 5, 7, 7],
      [1, 1, 4, 2, 6],
    ]);
    const opts = { max_new_tokens: 3, eos_token_id: null } as unknown as { max_new_tokens: number };
    expect(generate(chainModel({ eos_token_id: 5 }), [[1, 3]], opts).tolist()).toEqual([[1, 3, 5, 7, 0]]);
  });

  it("a generation_config without special tokens falls back to the model's, and is not modified", () => {
    const gc = new GenerationConfig({ max_new_tokens: 3 });
    expect(generate(chainModel({ eos_token_id: 5 }), [[1, 3]], { generation_config: gc }).tolist()).toEqual([
      [1, 3, 5],
    ]);
    expect([gc.max_length, gc.eos_token_id, gc.pad_token_id]).toEqual([20, null, null]);
  });
});

describe("left padding: attention mask and position ids", () => {
  it("infers the mask from the pad id and derives positions as cumsum(mask) - 1 (1 at pads)", () => {
    const model = chainModel({ pad_token_id: 0, eos_token_id: 7 });
    const out = generate(
      model,
      [
        [0, 0, 3, 4],
        [1, 2, 3, 4],
      ],
      { max_new_tokens: 3 },
    );
    expect(out.tolist()).toEqual([
      [0, 0, 3, 4, 2, 6, 1],
      [1, 2, 3, 4, 2, 6, 1],
    ]);
    const c = model.calls;
    expect(c[0].attention_mask).toEqual([
      [0, 0, 1, 1],
      [1, 1, 1, 1],
    ]);
    expect(c[0].position_ids).toEqual([
      [1, 1, 0, 1],
      [0, 1, 2, 3],
    ]);
    expect(c[0].cache_position).toEqual([0, 1, 2, 3]);
    expect(c[1].attention_mask).toEqual([
      [0, 0, 1, 1, 1],
      [1, 1, 1, 1, 1],
    ]);
    expect(c[1].position_ids).toEqual([[2], [4]]);
    expect(c[2].position_ids).toEqual([[3], [5]]);
    expect(c[2].cache_position).toEqual([5]);
  });

  it("does not infer a mask when the pad id is absent from the inputs or equals an eos id", () => {
    const absent = chainModel({ pad_token_id: 6 });
    generate(absent, [[0, 0, 3, 4]], { max_new_tokens: 1 });
    expect(absent.calls[0].attention_mask).toEqual([[1, 1, 1, 1]]);
    const padIsEos = chainModel({ pad_token_id: 0, eos_token_id: [7, 0] });
    generate(padIsEos, [[0, 0, 3, 4]], { max_new_tokens: 1 });
    expect(padIsEos.calls[0].attention_mask).toEqual([[1, 1, 1, 1]]);
    expect(padIsEos.calls[0].position_ids).toEqual([[0, 1, 2, 3]]);
  });

  it("uses a given attention_mask (int Tensor) instead of inferring one", () => {
    const model = chainModel({ pad_token_id: 0 });
    generate(model, [[5, 5, 3, 4]], { max_new_tokens: 2, attention_mask: new Tensor("int64", [0, 1, 1, 1], [1, 4]) });
    expect(model.calls[0].position_ids).toEqual([[1, 0, 1, 2]]);
    expect(model.calls[1].position_ids).toEqual([[3]]);
    expect(model.calls[1].attention_mask).toEqual([[0, 1, 1, 1, 1]]);
  });

  const REF = path.resolve(process.cwd(), "../shared/reference");
  const CASES = path.join(REF, "models/llama-mha/cases.json");
  if (!existsSync(CASES)) console.warn(`skipping the HF kv_decode_padded comparison: ${CASES} not found`);

  describe.skipIf(!existsSync(CASES))("matches HF 4.44.2's generate-style decode (reference kv_decode_padded)", () => {
    it("passes the same input_ids, attention_mask and position_ids at every step", () => {
      type Step = { input_ids: number[][]; attention_mask: number[][]; position_ids: number[][] };
      const cases = JSON.parse(readFileSync(CASES, "utf8")).cases as {
        name: string;
        inputs: Record<string, unknown>;
      }[];
      const inputs = cases.find((c) => c.name === "kv_decode_padded")!.inputs as {
        prompt_ids: number[][];
        prompt_attention_mask: number[][];
        prompt_position_ids: number[][];
        steps: Step[];
      };
      // A scripted model: call k answers, per row, the token HF fed at step k (HF's own greedy choices).
      const script = inputs.steps.map((s) => s.input_ids.map((r) => r[0]));
      const vocab = 256;
      const model = new FakeModel((_t, _p, row, call) => peaks(vocab, { [script[call]?.[row] ?? 0]: 1 }), {
        vocab_size: vocab,
      });
      const out = generate(model, inputs.prompt_ids, {
        attention_mask: inputs.prompt_attention_mask,
        max_new_tokens: inputs.steps.length + 1,
      });

      expect(model.calls[0].input_ids).toEqual(inputs.prompt_ids);
      expect(model.calls[0].attention_mask).toEqual(inputs.prompt_attention_mask);
      expect(model.calls[0].position_ids).toEqual(inputs.prompt_position_ids);
      inputs.steps.forEach((step, k) => {
        const call = model.calls[k + 1];
        expect(call.input_ids).toEqual(step.input_ids);
        expect(call.attention_mask).toEqual(step.attention_mask);
        expect(call.position_ids).toEqual(step.position_ids);
      });
      const rows = out.tolist() as number[][];
      rows.forEach((r, b) => expect(r.slice(6, 9)).toEqual(script.map((s) => s[b])));
    });
  });
});

describe("logits processors inside generate", () => {
  it("min_new_tokens suppresses eos; the tie that remains goes to the first index (torch argmax)", () => {
    // last token 3 wants eos 5; with eos at -inf every other score is 0, so argmax picks token 0, then 0 -> 3 -> 5.
    expect(generate(chainModel({ eos_token_id: 5 }), [[1, 3]], { max_new_tokens: 10 }).tolist()).toEqual([[1, 3, 5]]);
    expect(
      generate(chainModel({ eos_token_id: 5 }), [[1, 3]], { max_new_tokens: 10, min_new_tokens: 2 }).tolist(),
    ).toEqual([[1, 3, 0, 3, 5]]);
    expect(generate(chainModel({ eos_token_id: 5 }), [[1, 3]], { max_new_tokens: 10, min_length: 4 }).tolist()).toEqual(
      [[1, 3, 0, 3, 5]],
    );
  });

  it("repetition_penalty turns the choice away from a token already in the sequence", () => {
    // after 6 the model prefers 1 (score 1.0) over 3 (0.8); 1 is in the prompt, so 1.0 / 1.5 = 0.667 < 0.8
    const model = () =>
      new FakeModel((t) => peaks(V, t === 6 ? { 1: 1.0, 3: 0.8 } : { [SUCC[t]]: 1 }), { vocab_size: V });
    expect(generate(model(), [[1]], { max_new_tokens: 4 }).tolist()).toEqual([[1, 4, 2, 6, 1]]);
    expect(generate(model(), [[1]], { max_new_tokens: 4, repetition_penalty: 1.5 }).tolist()).toEqual([
      [1, 4, 2, 6, 3],
    ]);
  });

  it("greedy ignores the sampling knobs (HF only warns), but still validates repetition_penalty", () => {
    expect(
      generate(chainModel(), [[1, 2]], { max_new_tokens: 2, temperature: 0, top_k: 1, top_p: 0.1 }).tolist(),
    ).toEqual([[1, 2, 6, 1]]);
    expect(() => generate(chainModel(), [[1, 2]], { max_new_tokens: 2, repetition_penalty: 0 })).toThrow(/`penalty`/);
  });
});

describe("multinomial sampling", () => {
  const P = [0.1, 0.2, 0.3, 0.4];
  const fixedModel = (p: number[] = P) => new FakeModel(() => p.map(Math.log), { vocab_size: p.length });

  /** Counts of each token among the generated positions, and the number of draws. */
  function counts(out: Tensor, promptLen: number, vocab: number): { n: number[]; total: number } {
    const n = new Array<number>(vocab).fill(0);
    let total = 0;
    for (const row of out.tolist() as number[][]) {
      for (const id of row.slice(promptLen)) {
        n[id]++;
        total++;
      }
    }
    return { n, total };
  }

  /** |count - N p| <= 4 sqrt(N p (1 - p)) for every token. */
  function expectWithin4Sigma(n: number[], total: number, p: number[]): void {
    p.forEach((pi, i) => {
      const sigma = Math.sqrt(total * pi * (1 - pi));
      expect(
        Math.abs(n[i] - total * pi),
        `token ${i}: ${n[i]} of ${total}, expected ${total * pi}`,
      ).toBeLessThanOrEqual(4 * sigma);
    });
  }

  const batch = Array.from({ length: 200 }, () => [0]);

  it("2,000 draws follow softmax(logits) within 4 sigma", () => {
    const { n, total } = counts(generate(fixedModel(), batch, { do_sample: true, max_new_tokens: 10, seed: 1 }), 1, 4);
    expect(total).toBe(2000);
    expectWithin4Sigma(n, total, P);
  });

  it("temperature 2 samples from p^(1/2) renormalised", () => {
    const sq = P.map(Math.sqrt);
    const z = sq.reduce((a, b) => a + b, 0);
    const { n, total } = counts(
      generate(fixedModel(), batch, { do_sample: true, max_new_tokens: 10, temperature: 2, seed: 2 }),
      1,
      4,
    );
    expectWithin4Sigma(
      n,
      total,
      sq.map((x) => x / z),
    );
  });

  it("top_k = 2 samples only the two most likely tokens, in proportion 3 : 4", () => {
    const { n, total } = counts(
      generate(fixedModel(), batch, { do_sample: true, max_new_tokens: 10, top_k: 2, seed: 3 }),
      1,
      4,
    );
    expect([n[0], n[1]]).toEqual([0, 0]);
    expectWithin4Sigma(n, total, [0, 0, 3 / 7, 4 / 7]);
  });

  it("applies HF's default top_k = 50 whenever sampling (top_k = 0 disables it)", () => {
    // 60 almost equal logits, increasing with the index: top-50 removes tokens 0..9
    const logits = Array.from({ length: 60 }, (_, i) => i * 1e-3);
    const model = () => new FakeModel(() => logits, { vocab_size: 60 });
    const def = counts(generate(model(), batch, { do_sample: true, max_new_tokens: 10 }), 1, 60).n;
    expect(def.slice(0, 10).every((c) => c === 0)).toBe(true);
    const off = counts(generate(model(), batch, { do_sample: true, max_new_tokens: 10, top_k: 0 }), 1, 60).n;
    expect(off.slice(0, 10).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it("draws one uniform per row and step from Random(seed), picking the token whose CDF interval holds it", () => {
    const CDF = [0.1, 0.3, 0.6, 1.0];
    const expected = (seed: number, rows: number, steps: number) => {
      const rng = new Random(seed);
      const out = Array.from({ length: rows }, () => [0]);
      for (let s = 0; s < steps; s++) {
        for (const row of out) {
          const u = rng.random();
          row.push(CDF.findIndex((c) => u < c));
        }
      }
      return out;
    };
    expect(generate(fixedModel(), [[0], [0], [0]], { do_sample: true, max_new_tokens: 6, seed: 7 }).tolist()).toEqual(
      expected(7, 3, 6),
    );
    expect(generate(fixedModel(), [[0], [0], [0]], { do_sample: true, max_new_tokens: 6 }).tolist()).toEqual(
      expected(0, 3, 6),
    );
  });

  it("is reproducible for a seed and differs between seeds", () => {
    const uniform = new Array<number>(8).fill(1 / 8);
    const run = (seed: number) =>
      generate(fixedModel(uniform), [[0]], { do_sample: true, max_new_tokens: 19, seed }).tolist();
    expect(run(11)).toEqual(run(11));
    expect(run(11)).not.toEqual(run(12)); // equal only with probability 8^-19
  });

  it("raises the warpers' ValueErrors for invalid sampling parameters", () => {
    const go = (o: object) => () => generate(fixedModel(), [[0]], { do_sample: true, max_new_tokens: 1, ...o });
    expect(go({ temperature: 0 })).toThrow(/`temperature` \(=0\) has to be a strictly positive float/);
    expect(go({ top_k: -1 })).toThrow(/`top_k` has to be a strictly positive integer/);
    expect(go({ top_p: -0.5 })).toThrow(/`top_p`/);
    expect(go({ min_p: 2 })).toThrow(/`min_p`/);
    expect(go({ seed: 1.5 })).toThrow(/`seed`/);
  });
});

describe("bad input raises typed errors naming the argument", () => {
  const m = () => chainModel();

  it.each([
    ["an empty batch", []],
    ["an empty row", [[]]],
    ["ragged rows", [[1, 2], [3]]],
    ["an id >= vocab_size", [[1, 8]]],
    ["a negative id", [[-1]]],
    ["a fractional id", [[1.5]]],
  ])("input_ids with %s -> ShapeError", (_name, ids) => {
    expect(() => generate(m(), ids as number[][], { max_new_tokens: 1 })).toThrow(ShapeError);
    expect(() => generate(m(), ids as number[][], { max_new_tokens: 1 })).toThrow(/input_ids/);
  });

  it("a float Tensor as input_ids -> ShapeError", () => {
    expect(() => generate(m(), new Tensor("float32", [1, 2], [1, 2]), { max_new_tokens: 1 })).toThrow(
      /input_ids: expected an int32 or int64 Tensor/,
    );
  });

  it("an attention_mask of the wrong shape or with values other than 0/1 -> ShapeError", () => {
    expect(() => generate(m(), [[1, 2]], { attention_mask: [[1, 1, 1]] })).toThrow(
      /attention_mask: expected shape \[1, 2\]/,
    );
    expect(() => generate(m(), [[1, 2]], { attention_mask: [[1], [1]] })).toThrow(ShapeError);
    expect(() => generate(m(), [[1, 2]], { attention_mask: [[1, 2]] })).toThrow(/attention_mask: expected 0 or 1/);
  });

  it("an unknown option -> HF's ValueError listing it", () => {
    expect(() => generate(m(), [[1]], { max_new_tokens: 1, max_new_token: 3 } as never)).toThrow(
      /The following `model_kwargs` are not used by the model: \['max_new_token'\]/,
    );
  });

  it("a model returning logits of the wrong shape -> ShapeError naming logits", () => {
    const bad = {
      config: { vocab_size: V },
      prepare_inputs_for_generation: (ids: number[][], kw: { cache_position: number[] }) => ({
        input_ids: ids,
        cache_position: kw.cache_position,
      }),
      forward: () => ({ logits: new Tensor("float32", new Float32Array(V), [1, V]) }),
    };
    expect(() => generate(bad, [[1]], { max_new_tokens: 1 })).toThrow(
      /logits: model.forward must return logits \[1, q_len >= 1, 8\]/,
    );
  });
});
