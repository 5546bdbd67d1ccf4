/**
 * attn_implementation "eager" / "sdpa" / "flash_attention_2":
 *
 * 1. each attention function against an independent float64 attention written from the formula
 *    softmax(q k^T / sqrt(D) + mask) v (random problems: GQA, padding, fully masked rows, several tiles);
 * 2. every reference checkpoint's HF cases pass through sdpa and flash_attention_2 (tiles smaller than the
 *    sequences, so the online softmax crosses key blocks), and their outputs agree with eager's within 1e-5
 *    on the padded batches and on KV-cache decoding;
 * 3. output_attentions on a fused implementation falls back to eager with one warning, as HF's sdpa does.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DynamicCache } from "../../src/cache_utils.ts";
import { FLASH_ATTENTION_BLOCK, flash_attention_forward } from "../../src/integrations/flash_attention.ts";
import { SDPA_BLOCK, sdpa_attention_forward } from "../../src/integrations/sdpa_attention.ts";
import {
  LlamaForCausalLM,
  LlamaForSequenceClassification,
  eager_attention_forward,
} from "../../src/models/llama/modeling_llama.ts";
import { finfoMin } from "../../src/nn/functional.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { runReferenceCases } from "../../src/testing/reference_cases.ts";
import { Random } from "../../src/utils/random.ts";

const MODELS = resolve(process.cwd(), "../shared/reference/models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping reference checkpoints for attention implementations: ${MODELS} is absent`);
const names = present ? readdirSync(MODELS).filter((n) => existsSync(join(MODELS, n, "cases.json"))) : [];

const FUSED = ["sdpa", "flash_attention_2"] as const;
const IMPLS = { eager: eager_attention_forward, sdpa: sdpa_attention_forward, flash: flash_attention_forward };

// Tiles smaller than every sequence of the reference cases (T = 7, S up to 10).
let saved: { q: number; k: number; s: number };
beforeAll(() => {
  saved = { q: FLASH_ATTENTION_BLOCK.query, k: FLASH_ATTENTION_BLOCK.key, s: SDPA_BLOCK.query };
  FLASH_ATTENTION_BLOCK.query = 2;
  FLASH_ATTENTION_BLOCK.key = 3;
  SDPA_BLOCK.query = 3;
});
afterAll(() => {
  FLASH_ATTENTION_BLOCK.query = saved.q;
  FLASH_ATTENTION_BLOCK.key = saved.k;
  SDPA_BLOCK.query = saved.s;
});

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.toFloat32();
  const y = b.toFloat32();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** Independent float64 attention: softmax(q k^T / sqrt(D) + mask) v per head, kv head = floor(h / n_rep). */
function naiveAttention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  mask: Float64Array | null,
  [B, nH, nKV, T, S, D]: number[],
): Float64Array {
  const out = new Float64Array(B * T * nH * D); // [B, T, nH, D]
  for (let b = 0; b < B; b++)
    for (let h = 0; h < nH; h++) {
      const kh = Math.floor(h / (nH / nKV));
      for (let t = 0; t < T; t++) {
        const s = new Float64Array(S);
        for (let j = 0; j < S; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[((b * nH + h) * T + t) * D + d] * k[((b * nKV + kh) * S + j) * D + d];
          s[j] = dot / Math.sqrt(D) + (mask ? mask[(b * T + t) * S + j] : 0);
        }
        const max = Math.max(...s);
        const e = s.map((x) => Math.exp(x - max));
        const sum = e.reduce((p, x) => p + x, 0);
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < S; j++) acc += (e[j] / sum) * v[((b * nKV + kh) * S + j) * D + d];
          out[((b * T + t) * nH + h) * D + d] = acc;
        }
      }
    }
  return out;
}

describe("attention functions against a float64 attention", () => {
  const rng = new Random(7);
  const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 1.5);
  for (const [B, nH, nKV, T, S, D] of [
    [2, 4, 2, 5, 9, 8],
    [1, 6, 1, 1, 13, 4], // decode step, multi-query
    [3, 2, 2, 7, 7, 16],
  ]) {
    it(`B ${B}, heads ${nH}/${nKV}, T ${T}, S ${S}, D ${D}: causal + padding mask, a fully masked row`, () => {
      const q = randn(B * nH * T * D);
      const k = randn(B * nKV * S * D);
      const v = randn(B * nKV * S * D);
      const min = finfoMin("float32");
      const mask = new Float32Array(B * T * S);
      for (let b = 0; b < B; b++)
        for (let t = 0; t < T; t++)
          for (let j = 0; j < S; j++) {
            const future = j > S - T + t;
            const pad = j < b; // row b has b left-padded keys
            const fullyMasked = b === B - 1 && t === 0 && B > 1; // every key masked: uniform average in HF's eager
            mask[(b * T + t) * S + j] = future || pad || fullyMasked ? min : 0;
          }
      const expected = naiveAttention(
        Float64Array.from(q),
        Float64Array.from(k),
        Float64Array.from(v),
        Float64Array.from(mask, (x) => (x === min ? -1e300 : x)),
        [B, nH, nKV, T, S, D],
      );
      // A fully masked row: every score is float32's minimum, so the float64 reference sees equal scores too.
      if (B > 1)
        for (let h = 0; h < nH; h++)
          for (let d = 0; d < D; d++) {
            let mean = 0;
            for (let j = 0; j < S; j++) mean += v[(((B - 1) * nKV + Math.floor(h / (nH / nKV))) * S + j) * D + d] / S;
            expected[(((B - 1) * T + 0) * nH + h) * D + d] = mean;
          }
      const module = { num_key_value_groups: nH / nKV };
      for (const [name, fn] of Object.entries(IMPLS)) {
        const [out] = fn(
          module,
          new Tensor("float32", q, [B, nH, T, D]),
          new Tensor("float32", k, [B, nKV, S, D]),
          new Tensor("float32", v, [B, nKV, S, D]),
          new Tensor("float32", mask, [B, 1, T, S]),
          D ** -0.5,
        );
        expect(out.shape, name).toEqual([B, T, nH, D]);
        const got = out.toFloat32();
        let worst = 0;
        for (let i = 0; i < got.length; i++)
          worst = Math.max(worst, Math.abs(got[i] - expected[i]) / (1 + Math.abs(expected[i])));
        expect(worst, name).toBeLessThan(2e-6);
      }
    });
  }

  it("without a mask the fused functions are causal (torch's is_causal), aligned bottom-right", () => {
    const [B, nH, T, S, D] = [1, 2, 3, 5, 4];
    const q = new Tensor("float32", randn(B * nH * T * D), [B, nH, T, D]);
    const k = new Tensor("float32", randn(B * nH * S * D), [B, nH, S, D]);
    const v = new Tensor("float32", randn(B * nH * S * D), [B, nH, S, D]);
    const causal = new Float32Array(T * S).map((_, i) => (i % S > S - T + Math.floor(i / S) ? finfoMin("float32") : 0));
    const mask = new Tensor("float32", causal, [1, 1, T, S]);
    const module = { num_key_value_groups: 1 };
    const [expected] = eager_attention_forward(module, q, k, v, mask, D ** -0.5);
    for (const fn of [sdpa_attention_forward, flash_attention_forward])
      expect(maxAbsDiff(fn(module, q, k, v, null, D ** -0.5)[0], expected)).toBeLessThan(1e-6);
  });

  it("fused implementations round their bfloat16 output once; eager rounds scores and probabilities too", () => {
    const [B, nH, T, S, D] = [1, 2, 4, 4, 8];
    const q = new Tensor("float32", randn(B * nH * T * D), [B, nH, T, D]).to("bfloat16");
    const k = new Tensor("float32", randn(B * nH * S * D), [B, nH, S, D]).to("bfloat16");
    const v = new Tensor("float32", randn(B * nH * S * D), [B, nH, S, D]).to("bfloat16");
    const module = { num_key_value_groups: 1 };
    const none = new Tensor("float32", new Float32Array(T * S), [1, 1, T, S]).to("bfloat16"); // nothing masked
    const [fused] = sdpa_attention_forward(module, q, k, v, none, D ** -0.5);
    const [flash] = flash_attention_forward(module, q, k, v, none, D ** -0.5);
    const [eager] = eager_attention_forward(module, q, k, v, none, D ** -0.5);
    const [exact] = sdpa_attention_forward(module, q.float(), k.float(), v.float(), none.float(), D ** -0.5);
    expect(fused.dtype).toBe("bfloat16");
    expect(eager.dtype).toBe("bfloat16");
    // one rounding of the float32 result: exactly that result rounded to bfloat16
    expect(Array.from(fused.data as Uint16Array)).toEqual(Array.from(exact.to("bfloat16").data as Uint16Array));
    const [flashExact] = flash_attention_forward(module, q.float(), k.float(), v.float(), none.float(), D ** -0.5);
    expect(Array.from(flash.data as Uint16Array)).toEqual(Array.from(flashExact.to("bfloat16").data as Uint16Array));
    expect(maxAbsDiff(eager, fused)).toBeLessThan(0.1); // a few bfloat16 ulps apart, not more
  });
});

// First in the file: warning_once is per process, and the HF cases below trigger the same warning.
describe.skipIf(!present)("output_attentions with a fused implementation", () => {
  it("falls back to eager for that call, with one warning, and returns eager's attentions", async () => {
    const dir = join(MODELS, "llama-gqa");
    const ids = [[1, 5, 9, 3, 7]];
    const eager = (await LlamaForCausalLM.from_pretrained(dir)).forward({ input_ids: ids, output_attentions: true });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const sdpa = await LlamaForCausalLM.from_pretrained(dir, { attn_implementation: "sdpa" });
    const out = sdpa.forward({ input_ids: ids, output_attentions: true });
    sdpa.forward({ input_ids: ids, output_attentions: true });
    const messages = warn.mock.calls.map((c) => String(c[0]));
    warn.mockRestore();
    expect(messages.filter((m) => m.includes("falling back to the eager implementation")).length).toBe(1);
    expect(out.attentions!.length).toBe(eager.attentions!.length);
    out.attentions!.forEach((a, i) => expect(maxAbsDiff(a, eager.attentions![i])).toBe(0));
    expect(sdpa.forward({ input_ids: ids }).attentions).toBeUndefined();
  });
});

/** The padded batch of a checkpoint's cases: causal LM `batch_forward`, classification `cls_right_padded`. */
function paddedBatch(spec: any): any {
  const padded = spec.cases.find((c: any) => c.name === "batch_forward" || c.name === "cls_right_padded");
  if (padded) return padded.inputs;
  // llama-cls-nopad: no pad token, so batch 1 only (HF refuses more): the first row of its first case, unpadded
  return { input_ids: [spec.cases.find((c: any) => c.inputs?.input_ids).inputs.input_ids[0]] };
}

describe.skipIf(!present)("attn_implementation on the reference checkpoints", () => {
  for (const name of names) {
    const dir = join(MODELS, name);
    const spec = JSON.parse(readFileSync(join(dir, "cases.json"), "utf8"));
    const isCls = spec.model_class === "LlamaForSequenceClassification";
    const load = (attn_implementation: string) =>
      isCls
        ? LlamaForSequenceClassification.from_pretrained(dir, { attn_implementation: attn_implementation as any })
        : LlamaForCausalLM.from_pretrained(dir, { attn_implementation: attn_implementation as any });

    for (const impl of FUSED) {
      it(`${name}: every HF case passes with ${impl}`, async () => {
        const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
        const results = await runReferenceCases(dir, undefined, { attn_implementation: impl });
        warn.mockRestore();
        const failed = results.flatMap((r) => r.checks.filter((k) => !k.ok).map((k) => `${r.case}: ${k.message}`));
        expect(failed).toEqual([]);
      });
    }

    const batch = paddedBatch(spec);
    it(`${name}: sdpa and flash_attention_2 agree with eager within 1e-5 (${batch.attention_mask ? "padded " : ""}batch)`, async () => {
      const args = {
        input_ids: batch.input_ids,
        attention_mask: batch.attention_mask ?? null,
        position_ids: batch.position_ids ?? null,
        output_hidden_states: true,
      };
      const eager = (await load("eager")).forward(args);
      for (const impl of FUSED) {
        const out = (await load(impl)).forward(args);
        expect(maxAbsDiff(out.logits, eager.logits), `${impl} logits`).toBeLessThanOrEqual(1e-5);
        out.hidden_states!.forEach((h, i) =>
          expect(maxAbsDiff(h, eager.hidden_states![i]), `${impl} hidden_states[${i}]`).toBeLessThanOrEqual(1e-5),
        );
      }
    });

    const kv = spec.cases.find((c: any) => c.name === "kv_decode")?.inputs;
    // Classification checkpoints have no decoding case.
    if (kv)
      it(`${name}: sdpa and flash_attention_2 agree with eager within 1e-5 (KV-cache decode)`, async () => {
        const run = async (impl: string) => {
          const model = (await load(impl)) as LlamaForCausalLM;
          const cache = new DynamicCache();
          const logits = [model.forward({ input_ids: kv.prompt_ids, past_key_values: cache, use_cache: true }).logits];
          for (const ids of kv.step_input_ids)
            logits.push(model.forward({ input_ids: ids, past_key_values: cache, use_cache: true }).logits);
          return { logits, cache };
        };
        const eager = await run("eager");
        for (const impl of FUSED) {
          const out = await run(impl);
          out.logits.forEach((l, i) =>
            expect(maxAbsDiff(l, eager.logits[i]), `${impl} step ${i}`).toBeLessThanOrEqual(1e-5),
          );
          out.cache.key_cache.forEach((k, l) =>
            expect(maxAbsDiff(k, eager.cache.key_cache[l]), `${impl} keys ${l}`).toBeLessThanOrEqual(1e-5),
          );
        }
      });
  }
});
