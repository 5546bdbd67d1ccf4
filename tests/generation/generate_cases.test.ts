/**
 * Every case of ../shared/reference/models/<name>/generate_cases.json: HF 4.44.2's real `generate()` on the tiny
 * reference checkpoints, replayed through `model.generate(input_ids, { attention_mask, ...kwargs })` with HF's
 * option names, compared by the folder README's rules:
 *   - ids (`sequences`) and `beam_indices`: exact;
 *   - `sequences_scores`, `scores[t]`, `logits[t]`: atol 1e-4, rtol 1e-4, -inf where HF has -inf;
 *   - `rng_dependent` sampling traces (torch's generator cannot be replayed): teacher forcing. HF's sequences are
 *     fed back, the model's logits at each generated position must match HF's `logits[t]`, and the processors +
 *     warpers applied to HF's `logits[t]` with the ids `sequences[:, :input_length + t]` must give `scores[t]`;
 *   - error cases: generate must throw a LlamaError (HF raised ValueError).
 * JSON spellings (README): `sequence_bias` pairs, `exponential_decay_length_penalty` [start, factor],
 * `assistant_model` {"checkpoint"}, `tokenizer` {"class": "LlamaTokenizer", "vocab_file", "legacy"}.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LlamaError } from "../../src/errors.ts";
import { loadSafetensors } from "../../src/formats/safetensors.ts";
import { GenerationConfig } from "../../src/generation/configuration_utils.ts";
import { getLogitsProcessor, getLogitsWarper, type GenerateBeamDecoderOnlyOutput } from "../../src/generation/utils.ts";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";
import { LlamaTokenizer } from "../../src/models/llama/tokenization_llama.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { compareTensors } from "../../src/testing/compare.ts";

const MODELS = path.resolve(process.cwd(), "../shared/reference/models");
const TOL = { atol: 1e-4, rtol: 1e-4 };

interface GenCase {
  name: string;
  feature: string;
  inputs: { input_ids: number[][]; attention_mask: number[][] | null };
  kwargs: Record<string, any>;
  rng_dependent: boolean;
  expected: null | {
    sequences: number[][];
    input_length: number;
    sequences_scores?: number[];
    beam_indices?: number[][];
    scores?: string;
    logits?: string;
  };
  error: null | { type: string; message: string };
}

const checkpoints = existsSync(MODELS)
  ? readdirSync(MODELS).filter((n) => existsSync(path.join(MODELS, n, "generate_cases.json")))
  : [];
if (checkpoints.length === 0) console.warn(`skipping generate_cases tests: no generate_cases.json under ${MODELS}`);

/** [steps, rows, vocab] reference tensor -> one [rows, vocab] Tensor per step. */
function steps(t: Tensor): Tensor[] {
  const [S, R, V] = t.shape;
  const d = t.toFloat32();
  return Array.from({ length: S }, (_, s) => new Tensor("float32", d.slice(s * R * V, (s + 1) * R * V), [R, V]));
}

function expectClose(got: Tensor | number[], want: Tensor | number[], name: string): void {
  const r = compareTensors(got as Tensor, want as Tensor, TOL, name);
  expect(r.ok, r.message).toBe(true);
}

describe.skipIf(checkpoints.length === 0)("generate vs HF 4.44.2 generate_cases.json", () => {
  for (const name of checkpoints) {
    const dir = path.join(MODELS, name);
    const file = JSON.parse(readFileSync(path.join(dir, "generate_cases.json"), "utf8"));
    const cases = file.cases as GenCase[];
    let model: Promise<LlamaForCausalLM> | null = null;
    let ref: Promise<Map<string, Tensor>> | null = null;
    const assistants = new Map<string, Promise<LlamaForCausalLM>>();
    let tokenizer: LlamaTokenizer | null = null;
    const getModel = () => (model ??= LlamaForCausalLM.from_pretrained(dir));
    const getRef = () => (ref ??= loadSafetensors(path.join(dir, file.reference_file)).then((f) => f.tensors));

    async function kwargsFor(c: GenCase): Promise<Record<string, unknown>> {
      const kw: Record<string, unknown> = { ...c.kwargs };
      if (kw.assistant_model) {
        const ckpt = path.resolve(dir, (kw.assistant_model as { checkpoint: string }).checkpoint);
        if (!assistants.has(ckpt)) assistants.set(ckpt, LlamaForCausalLM.from_pretrained(ckpt));
        kw.assistant_model = await assistants.get(ckpt);
      }
      if (kw.tokenizer) {
        const t = kw.tokenizer as { vocab_file: string; legacy: boolean };
        tokenizer ??= new LlamaTokenizer({ vocab_file: path.resolve(dir, t.vocab_file), legacy: t.legacy });
        kw.tokenizer = tokenizer;
      }
      if (c.inputs.attention_mask !== null) kw.attention_mask = c.inputs.attention_mask;
      return kw;
    }

    for (const c of cases) {
      it(`${name} ${c.name} (${c.feature})`, async () => {
        const m = await getModel();
        const kw = await kwargsFor(c);
        if (c.error !== null) {
          let thrown: unknown = null;
          try {
            m.generate(c.inputs.input_ids, kw);
          } catch (e) {
            thrown = e;
          }
          expect(thrown, `HF raised ${c.error.type}: ${c.error.message}`).toBeInstanceOf(LlamaError);
          return;
        }
        const exp = c.expected!;
        if (c.rng_dependent) {
          await checkTrace(m, c, await getRef());
          return;
        }
        const out = m.generate(c.inputs.input_ids, {
          ...kw,
          return_dict_in_generate: true,
          output_scores: true,
          output_logits: true,
        }) as GenerateBeamDecoderOnlyOutput;
        expect(out.sequences.tolist()).toEqual(exp.sequences);
        if (exp.beam_indices) expect(out.beam_indices?.tolist()).toEqual(exp.beam_indices);
        if (exp.sequences_scores)
          expectClose(Array.from(out.sequences_scores!.toFloat32()), exp.sequences_scores, "sequences_scores");
        const tensors = exp.scores || exp.logits ? await getRef() : null;
        for (const key of ["scores", "logits"] as const) {
          if (!exp[key]) continue;
          const want = steps(tensors!.get(exp[key]!)!);
          const got = out[key]!;
          expect(got.length).toBe(want.length);
          want.forEach((w, t) => expectClose(got[t], w, `${key}[${t}]`));
        }
      });
    }
  }
});

/** Teacher-forced check of a sampling trace: the model's logits, then the processors and warpers on HF's logits. */
async function checkTrace(m: LlamaForCausalLM, c: GenCase, ref: Map<string, Tensor>): Promise<void> {
  const exp = c.expected!;
  const seqs = exp.sequences;
  const T = exp.input_length;
  const L = seqs[0].length;
  const mask0 = c.inputs.attention_mask ?? seqs.map(() => new Array(T).fill(1));
  const mask = mask0.map((r) => [...r, ...new Array(L - T).fill(1)]);
  const position_ids = mask.map((row) => {
    let s = 0;
    return row.map((v) => ((s += v), v === 0 ? 1 : s - 1));
  });
  const out = m.forward({ input_ids: seqs, attention_mask: mask, position_ids });
  const [B, , V] = out.logits.shape;
  const all = out.logits.toFloat32();
  const wantLogits = steps(ref.get(exp.logits!)!);
  const wantScores = steps(ref.get(exp.scores!)!);
  // the generate kwargs as a config, the way generate resolves them (max_new_tokens -> max_length, ...)
  const config = new GenerationConfig({
    ...GenerationConfig.from_model_config(m.config).to_dict(),
    ...Object.fromEntries(
      Object.entries(c.kwargs).filter(
        ([k]) => !["return_dict_in_generate", "output_scores", "output_logits"].includes(k),
      ),
    ),
  });
  if (config.max_new_tokens !== null) config.max_length = config.max_new_tokens + T;
  const eos = config.eos_token_id === null ? null : [config.eos_token_id].flat();
  const processors = getLogitsProcessor(config, {
    input_ids_seq_length: T,
    encoder_input_ids: c.inputs.input_ids,
    eos_token_id: eos,
  });
  const warpers = getLogitsWarper(config, eos);
  wantLogits.forEach((w, t) => {
    const got = new Float32Array(B * V);
    for (let b = 0; b < B; b++) got.set(all.subarray((b * L + T + t - 1) * V, (b * L + T + t) * V), b * V);
    expectClose(new Tensor("float32", got, [B, V]), w, `teacher-forced logits[${t}]`);
    const ids = seqs.map((r) => r.slice(0, T + t));
    const scores = warpers.call(ids, processors.call(ids, w));
    expectClose(scores, wantScores[t], `scores[${t}]`);
  });
}
