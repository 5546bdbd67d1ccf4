// %% [markdown]
// # 5. End to end: generation and sequence classification
//
// `generate` (HF `generation/utils.py`) runs the model step by step with a KV cache; each step's logits pass
// through a list of logits processors, then one token is picked (argmax, or a draw). A tiny seeded model: the
// text is gibberish, the mechanics are real.

// %%
import {
  LlamaConfig,
  LlamaForCausalLM,
  LlamaForSequenceClassification,
  Tensor,
  loadDefaultTokenizer,
} from "../src/index.ts";
import { MinPLogitsWarper, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper } from "../src/index.ts";
import { TopKLogitsWarper, TopPLogitsWarper, softmax } from "../src/index.ts";
import { barChart, show } from "./lib/plot.ts";

const tok = loadDefaultTokenizer();
const base = {
  vocab_size: 32000,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
};
const model = new LlamaForCausalLM(new LlamaConfig(base), { seed: 0 });
const prompt = tok.encode("Once upon a time");

// %% [markdown]
// ## Greedy and sampling
// Greedy picks the argmax each step: the same output every run. Sampling draws from the softmax of the processed
// logits; llama-ts takes a `seed` (HF uses torch's global generator), so a seeded draw is reproducible too.

// %%
const greedy = model.generate([prompt], { max_new_tokens: 8, do_sample: false });
console.log("greedy:  ", JSON.stringify(tok.decode((greedy.tolist() as number[][])[0].slice(prompt.length))));
for (const seed of [1, 2]) {
  const sampled = model.generate([prompt], { max_new_tokens: 8, do_sample: true, temperature: 1.0, top_k: 0, seed });
  console.log(
    `sampled (seed ${seed}):`,
    JSON.stringify(tok.decode((sampled.tolist() as number[][])[0].slice(prompt.length))),
  );
}

// %% [markdown]
// ## Each logits processor on one distribution
// Eight made-up scores, with tokens 0 and 1 already in the sequence. Each processor rewrites the scores; the
// chart shows the softmax after each. Temperature < 1 sharpens, > 1 flattens; top-k keeps the k best; top-p the
// smallest set whose mass reaches p; min-p drops tokens below p times the top probability; the repetition
// penalty divides positive scores (multiplies negative ones) of tokens already seen.

// %%
const scores = () => new Tensor("float32", [2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -2.0], [1, 8]);
const seen = [[0, 1]];
const procs: [string, { call(ids: number[][], s: Tensor): Tensor } | null][] = [
  ["none", null],
  ["temperature 0.5", new TemperatureLogitsWarper(0.5)],
  ["temperature 2", new TemperatureLogitsWarper(2)],
  ["top_k 3", new TopKLogitsWarper(3)],
  ["top_p 0.8", new TopPLogitsWarper(0.8)],
  ["min_p 0.2", new MinPLogitsWarper(0.2)],
  ["repetition 2", new RepetitionPenaltyLogitsProcessor(2)],
];
const series = procs.map(([name, p]) => {
  const s = p ? p.call(seen, scores()) : scores();
  const probs = Array.from(softmax((s.tolist() as number[][])[0]));
  console.log(name.padEnd(16), probs.map((v) => v.toFixed(3)).join(" "));
  return { name, y: probs };
});
show(
  "05_logits_processors.svg",
  barChart(
    Array.from({ length: 8 }, (_, i) => `t${i}`),
    series,
    {
      title: "Next-token probabilities after each processor",
      xlabel: "token",
      ylabel: "probability",
    },
  ),
);

// %% [markdown]
// ## Sequence classification and its two pooling rules
// `LlamaForSequenceClassification` scores every position and keeps one per row: the last real token. Llama 2 has
// no pad token; the usual tip sets `pad_token_id` to `</s>` (2). HF 4.44 finds the last token as
// "index of the first pad, minus one" (`first_pad_minus_one`); newer HF takes the rightmost non-pad token
// (`last_non_pad`, the default here). They differ when the pad id also occurs *inside* a row, as `</s>` does
// between two segments. Left padding works with both (first pad at 0 → -1 → wraps to the last position).

// %%
const clsConfig = new LlamaConfig({ ...base, num_labels: 3, pad_token_id: tok.eos_token_id });
const pad = tok.eos_token_id!;
const a = tok.encode("good llama", { add_special_tokens: false });
const b = tok.encode("bad", { add_special_tokens: false });
const row0 = [tok.bos_token_id!, ...a, pad, ...b, pad, pad]; // two segments joined by </s>, right-padded
const T = row0.length;
const row1 = [...Array(T - 1 - a.length).fill(pad), tok.bos_token_id!, ...a]; // left-padded
const input_ids = [row0, row1];
for (const r of input_ids) console.log(tok.convert_ids_to_tokens(r).join(" "));
const perPosition = new LlamaForSequenceClassification(clsConfig, { seed: 3 });
const allLogits = perPosition.score
  .forward(perPosition.model.forward({ input_ids }).last_hidden_state)
  .tolist() as number[][][];
for (const pooling of ["last_non_pad", "first_pad_minus_one"] as const) {
  const clf = new LlamaForSequenceClassification(clsConfig, { seed: 3, pooling });
  const logits = clf.forward({ input_ids }).logits.tolist() as number[][];
  logits.forEach((row, i) => {
    const at = allLogits[i].findIndex((l) => l.every((v, j) => Math.abs(v - row[j]) < 1e-6));
    console.log(
      `${pooling.padEnd(19)} row ${i}: pooled position ${at} (${tok.convert_ids_to_tokens(input_ids[i][at])}), logits ${row.map((v) => v.toFixed(4)).join(" ")}`,
    );
  });
}
