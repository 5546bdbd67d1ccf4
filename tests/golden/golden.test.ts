/**
 * Golden fixtures: the writer's names and values (checked against independent computations: checkpoint rows,
 * float64 matmuls, closed-form softmax facts, HF's own invariants), and the verifier (it passes our outputs,
 * and catches perturbed tensors, Meta-layout q/k weights, a wrong rotary base and dropped position ids).
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { blockedBackend } from "../../src/backends/blocked.ts";
import { CheckpointError, LlamaError } from "../../src/errors.ts";
import { loadSafetensors, saveSafetensors } from "../../src/formats/safetensors.ts";
import {
  formatReport,
  parseRenameRules,
  readGolden,
  replayGolden,
  verifyTensors,
  writeGolden,
  type Golden,
} from "../../src/golden/index.ts";
import { permute } from "../../src/models/llama/convert_llama_weights_to_hf.ts";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";
import { getMatmulBackend, listMatmulBackends, setMatmulBackend } from "../../src/ops/matmul.ts";
import { Tensor } from "../../src/tensor/tensor.ts";

const BIN = resolve(process.cwd(), "bin/llama-ts.mjs");
let dir: string;
let golden: Golden;
let ours: Map<string, Tensor>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "golden-"));
  await writeGolden({ out: join(dir, "gqa"), config: "gqa", seed: 0 });
  golden = await readGolden(join(dir, "gqa"));
  // our own outputs through an independent path: the manifest replayed from the checkpoint on the fastest backend
  // registered by the package entry (WASM SIMD + worker pool where available: sums in another order, so the
  // values differ from the fixtures by float32 rounding and the tolerances are exercised)
  await import("../../src/index.ts");
  const prev = getMatmulBackend();
  setMatmulBackend(listMatmulBackends().at(-1) ?? blockedBackend);
  try {
    ours = await replayGolden(golden);
  } finally {
    setMatmulBackend(prev);
  }
}, 120_000);

const f32 = (name: string) => golden.fixtures.get(name)!.toFloat32();

describe("golden writer", () => {
  it("lists every fixture in the manifest, named by the rule, with HF module paths and the file's shapes", async () => {
    const model = await LlamaForCausalLM.from_pretrained(join(dir, "gqa", "checkpoint"));
    const paths = new Set(model.named_modules().map(([n]) => n));
    const names = golden.manifest.tensors.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    expect([...golden.fixtures.keys()].sort()).toEqual([...names].sort());
    const whole = /^(logits|loss|sequences|pooled_indices|hidden_states\.\d+|attentions\.\d+|past_key_values\.\d+\.(key|value))$/;
    for (const t of golden.manifest.tensors) {
      expect(golden.manifest.cases.some((c) => c.name === t.case), t.name).toBe(true);
      if (t.module === null) expect(t.slot, t.name).toMatch(whole);
      else {
        expect(paths.has(t.module), t.name).toBe(true);
        expect(t.slot, t.name).toMatch(/^(in\.[a-z_]+(\.\d+)?|out\.(\d+|[a-z_]+)|step\.[a-z_]+(\.\d+)?)$/);
      }
      expect(t.name).toBe(t.module === null ? `${t.case}/${t.slot}` : `${t.case}/${t.module}/${t.slot}`);
      expect(t.meaning.length, t.name).toBeGreaterThan(5);
    }
    // the slots HF's hooks would see on one layer of the single case
    for (const slot of [
      "model.embed_tokens/in.input",
      "model.embed_tokens/out.0",
      "model.rotary_emb/in.position_ids",
      "model.rotary_emb/out.0",
      "model.rotary_emb/out.1",
      "model.layers.1/in.hidden_states",
      "model.layers.1/in.attention_mask",
      "model.layers.1.self_attn/in.position_embeddings.0",
      "model.layers.1.self_attn/out.0",
      "model.layers.1.self_attn/out.1",
      "model.layers.1.self_attn.k_proj/out.0",
      "model.layers.1.mlp/in.x",
      "model.layers.1.mlp.down_proj/out.0",
      "model.norm/out.0",
      "lm_head/out.0",
    ])
      expect(names, slot).toContain(`single/${slot}`);
    const T = (golden.manifest.cases[0].inputs.input_ids as number[][])[0].length;
    expect(golden.fixtures.get("single/model.layers.1.self_attn/out.1")!.shape).toEqual([1, 4, T, T]);
    expect(golden.fixtures.get("single/model.layers.1.self_attn.k_proj/out.0")!.shape).toEqual([1, T, 16]);
    expect(golden.fixtures.get("single/model.embed_tokens/in.input")!.dtype).toBe("int64");
  });

  it("embedding outputs are the checkpoint's rows; logits are norm output x lm_head^T (float64 check)", async () => {
    const w = (await loadSafetensors(join(dir, "gqa", "checkpoint", "model.safetensors"))).tensors;
    const emb = w.get("model.embed_tokens.weight")!.toFloat32();
    const head = w.get("lm_head.weight")!.toFloat32();
    const ids = (golden.manifest.cases.find((c) => c.name === "single")!.inputs.input_ids as number[][])[0];
    const H = 32;
    const V = 256;
    const out = f32("single/model.embed_tokens/out.0");
    ids.forEach((id, t) => expect([...out.subarray(t * H, (t + 1) * H)]).toEqual([...emb.subarray(id * H, (id + 1) * H)]));
    const hidden = f32("single/hidden_states.2"); // after model.norm
    const logits = f32("single/logits");
    for (let t = 0; t < ids.length; t++)
      for (let v = 0; v < V; v++) {
        let acc = 0;
        for (let k = 0; k < H; k++) acc += hidden[t * H + k] * head[v * H + k];
        expect(Math.abs(logits[t * V + v] - acc)).toBeLessThan(1e-5);
      }
    expect([...f32("single/lm_head/out.0")]).toEqual([...logits]);
  });

  it("attention probabilities: causal zeros above the diagonal, rows summing to 1", () => {
    const p = f32("single/attentions.0");
    const [, nH, T] = golden.fixtures.get("single/attentions.0")!.shape;
    for (let h = 0; h < nH; h++)
      for (let i = 0; i < T; i++) {
        let sum = 0;
        for (let j = 0; j < T; j++) {
          const x = p[(h * T + i) * T + j];
          if (j > i) expect(x).toBe(0);
          sum += x;
        }
        expect(Math.abs(sum - 1)).toBeLessThan(1e-6);
      }
  });

  it("a left-padded row matches the same tokens alone at its real positions (HF's invariant)", () => {
    const c = golden.manifest.cases.find((x) => x.name === "padded_batch")!;
    expect(c.unpadded_counterparts).toEqual(["padded_batch_row0", "padded_batch_row1"]);
    expect(c.dont_care.query_positions).toEqual([
      [1, 0],
      [1, 1],
    ]);
    const batch = f32("padded_batch/logits");
    const alone = f32("padded_batch_row1/logits");
    const V = 256;
    const T = 7;
    for (let t = 0; t < 5; t++)
      for (let v = 0; v < V; v++)
        expect(Math.abs(batch[(T + 2 + t) * V + v] - alone[t * V + v])).toBeLessThan(1e-5);
  });

  it("decode steps continue the cache: the cache grows by one per step and the step's keys are its last slot", () => {
    const L0 = golden.fixtures.get("prefill/past_key_values.0.key")!.shape;
    const L3 = golden.fixtures.get("decode_3/past_key_values.0.key")!.shape;
    expect(L3[2]).toBe(L0[2] + 3);
    const c = golden.manifest.cases.find((x) => x.name === "decode_2")!;
    expect(c.continues).toBe("decode_1");
    expect(c.inputs.past_key_values).toEqual({ from_case: "decode_1" });
    // the rotated keys of step 3 (k after RoPE) are the last cache slot: [B, kv, S, D]
    const k = golden.fixtures.get("decode_3/past_key_values.1.key")!;
    const [B, nKV, S, D] = k.shape;
    const kd = k.toFloat32();
    const step = f32("decode_3/model.layers.1.self_attn.k_proj/out.0"); // before RoPE: differs (position > 0)
    expect(step.length).toBe(B * nKV * D);
    let same = true;
    for (let b = 0; b < B; b++)
      for (let h = 0; h < nKV; h++)
        for (let d = 0; d < D; d++) if (kd[((b * nKV + h) * S + S - 1) * D + d] !== step[(b * nKV + h) * D + d]) same = false;
    expect(same).toBe(false);
  });

  it("steps: keys after RoPE are what the cache stores, repeat_kv repeats each kv head, causal_mask slices the mask", () => {
    const k = golden.fixtures.get("prefill/model.layers.1.self_attn/step.apply_rotary_pos_emb.1")!;
    expect(k.shape).toEqual([2, 2, 7, 8]);
    expect([...k.toFloat32()]).toEqual([...f32("prefill/past_key_values.1.key")]);
    const rep = golden.fixtures.get("decode_2/model.layers.0.self_attn/step.repeat_kv.0")!;
    const cache = golden.fixtures.get("decode_2/past_key_values.0.key")!;
    const [B, nH, S, D] = rep.shape;
    expect([B, nH, S, D]).toEqual([2, 4, 9, 8]);
    const r = rep.toFloat32();
    const c = cache.toFloat32();
    for (let b = 0; b < B; b++)
      for (let h = 0; h < nH; h++)
        for (let i = 0; i < S * D; i++) expect(r[(b * nH + h) * S * D + i]).toBe(c[(b * 2 + (h >> 1)) * S * D + i]);
    // no attention_mask given: HF's mask has one extra column (past + T + 1), the attention slices it to S
    const full = golden.fixtures.get("single/model.layers.0.self_attn/in.attention_mask")!;
    const sliced = golden.fixtures.get("single/model.layers.0.self_attn/step.causal_mask")!;
    const T = sliced.shape[2];
    expect(full.shape).toEqual([1, 1, T, T + 1]);
    expect(sliced.shape).toEqual([1, 1, T, T]);
    const fm = full.toFloat32();
    const sm = sliced.toFloat32();
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) expect(sm[i * T + j]).toBe(fm[i * (T + 1) + j]);
  });

  it("Meta layout: HF's permute of the Meta weights gives back q_proj/k_proj; the permutation is written out", async () => {
    const meta = (await loadSafetensors(join(dir, "gqa", "meta_layout.safetensors"))).tensors;
    const w = (await loadSafetensors(join(dir, "gqa", "checkpoint", "model.safetensors"))).tensors;
    expect([...permute(meta.get("layers.0.attention.wq.weight")!, 4).toFloat32()]).toEqual([
      ...w.get("model.layers.0.self_attn.q_proj.weight")!.toFloat32(),
    ]);
    expect([...permute(meta.get("layers.1.attention.wk.weight")!, 2).toFloat32()]).toEqual([
      ...w.get("model.layers.1.self_attn.k_proj.weight")!.toFloat32(),
    ]);
    // head_dim 8: Meta rows 0..7 hold HF rows 0, 4, 1, 5, 2, 6, 3, 7
    const perm = meta.get("permutation.wq")!;
    expect(Array.from(perm.data as BigInt64Array, Number).slice(0, 8)).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
  });

  it("logits processors: top_k keeps k, temperature divides, sampling picks the inverse-CDF token of each draw", async () => {
    const doc = JSON.parse(readFileSync(join(dir, "gqa", "logits_processors.json"), "utf8"));
    const t = (await loadSafetensors(join(dir, "gqa", "logits_processors.safetensors"))).tensors;
    const V = doc.vocab_size;
    const topk = t.get("top_k/out")!.toFloat32();
    for (let b = 0; b < 2; b++) expect(topk.subarray(b * V, (b + 1) * V).filter(Number.isFinite).length).toBe(5);
    const inp = t.get("temperature/scores")!.toFloat32();
    const temp = t.get("temperature/out")!.toFloat32();
    for (let i = 0; i < inp.length; i++) expect(temp[i]).toBe(Math.fround(inp[i] / Math.fround(0.7)));
    const probs = t.get("sampling/probs")!.toFloat32();
    for (const { u, tokens } of doc.sampling.draws) {
      for (let b = 0; b < 2; b++) {
        const row = probs.subarray(b * V, (b + 1) * V);
        const total = row.reduce((a, x) => a + x, 0);
        let cum = 0;
        let pick = -1;
        for (let i = 0; i < V && pick < 0; i++) if ((cum += row[i]) > u * total) pick = i;
        expect(tokens[b]).toBe(pick);
      }
    }
  });

  it("is byte-identical when regenerated, whatever backend was selected before", async () => {
    const prev = getMatmulBackend();
    setMatmulBackend(blockedBackend);
    try {
      await writeGolden({ out: join(dir, "again"), config: "gqa", seed: 0 });
    } finally {
      setMatmulBackend(prev);
    }
    for (const f of ["fixtures.safetensors", "manifest.json", "checkpoint/model.safetensors", "meta_layout.safetensors"])
      expect(readFileSync(join(dir, "again", f)).equals(readFileSync(join(dir, "gqa", f))), f).toBe(true);
  }, 60_000);
});

describe("golden verify", () => {
  it("passes our own outputs (replayed from the checkpoint on another backend)", () => {
    const r = verifyTensors(golden, ours);
    console.log(`replay on ${listMatmulBackends().at(-1)?.name}: max |diff| ${Math.max(...r.rows.map((x) => x.max_abs))}`);
    expect(r.missing).toEqual([]);
    expect(r.unknown).toEqual([]);
    expect(r.rows.length).toBe(golden.manifest.tensors.length);
    expect(r.ok).toBe(true);
    expect(formatReport(r)).toMatch(/PASS\n$/);
  });

  it("catches a perturbed element, names its index, and ignores don't-care positions", () => {
    const name = "labels/model.layers.0.mlp/out.0";
    const t = ours.get(name)!;
    const bad = new Tensor("float32", t.toFloat32().slice(), t.shape);
    (bad.data as Float32Array)[7 * 32 + 5] += 0.01; // batch 1, position 0 is padding: don't care
    let r = verifyTensors(golden, new Map([...ours, [name, bad]]));
    expect(r.ok).toBe(true);
    (bad.data as Float32Array)[9 * 32 + 5] += 0.01; // batch 1, position 2: a real token
    r = verifyTensors(golden, new Map([...ours, [name, bad]]));
    expect(r.ok).toBe(false);
    const failing = r.rows.filter((x) => x.status !== "pass");
    expect(failing.map((x) => x.name)).toEqual([name]);
    expect(failing[0].first_bad).toEqual([1, 2, 5]);
    expect(failing[0].max_abs).toBeGreaterThan(0.009);
    expect(formatReport(r)).toContain(`${name}`);
    expect(r.hints[0]).toContain(`first divergence in call order: ${name}`);
  });

  it("catches q/k weights left in Meta's layout and says so", async () => {
    const ckpt = join(dir, "gqa", "checkpoint");
    const { unpermute } = await import("../../src/models/llama/convert_llama_weights_to_hf.ts");
    const actual = await replayGolden(golden, {
      cases: ["single"],
      load: async () => {
        const m = await LlamaForCausalLM.from_pretrained(ckpt);
        for (const layer of m.model.layers) {
          layer.self_attn.q_proj.weight = unpermute(layer.self_attn.q_proj.weight, 4);
          layer.self_attn.k_proj.weight = unpermute(layer.self_attn.k_proj.weight, 2);
        }
        return m;
      },
    });
    const r = verifyTensors(golden, actual);
    expect(r.ok).toBe(false);
    expect(r.hints.join("\n")).toMatch(/Meta's interleaved order/);
    expect(r.hints[0]).toContain("single/model.layers.0.self_attn.q_proj/out.0");
  });

  it("catches a wrong rotary base and points at the rotary embedding", async () => {
    const ckpt = join(dir, "wrong_theta");
    cpSync(join(dir, "gqa", "checkpoint"), ckpt, { recursive: true });
    const config = JSON.parse(readFileSync(join(ckpt, "config.json"), "utf8"));
    writeFileSync(join(ckpt, "config.json"), JSON.stringify({ ...config, rope_theta: 20000.0 }));
    const actual = await replayGolden(golden, {
      cases: ["single"],
      load: () => LlamaForCausalLM.from_pretrained(ckpt),
    });
    const r = verifyTensors(golden, actual);
    expect(r.ok).toBe(false);
    expect(r.hints[0]).toContain("single/model.rotary_emb/out.0");
    expect(r.hints.join("\n")).toMatch(/rotary embedding/);
    const cos = r.rows.find((x) => x.name === "single/model.rotary_emb/out.0")!;
    expect(cos.bad_queries[0]).toBeGreaterThan(0); // position 0 has cos = 1, sin = 0 for any base
  });

  it("ignoring the attention mask breaks only the padded batches, and the hint says so", async () => {
    const ckpt = join(dir, "gqa", "checkpoint");
    const actual = await replayGolden(golden, {
      load: async () => {
        const m = await LlamaForCausalLM.from_pretrained(ckpt);
        // a port without padding masks: a pre-hook drops the call's attention_mask
        m.register_forward_pre_hook((_m, [args]) => [{ ...(args as object), attention_mask: undefined }]);
        return m;
      },
    });
    const r = verifyTensors(golden, actual);
    expect(r.ok).toBe(false);
    const failedCases = new Set(r.rows.filter((x) => x.status !== "pass").map((x) => x.name.split("/")[0]));
    expect([...failedCases].sort()).toEqual(["decode_1", "decode_2", "decode_3", "labels", "padded_batch", "prefill"]);
    expect(r.hints.join("\n")).toMatch(/only padded batches differ/);
  });

  it("ignoring position_ids is reported as a position-id problem", async () => {
    const ckpt = join(dir, "gqa", "checkpoint");
    const actual = await replayGolden(golden, {
      cases: ["padded_batch"],
      load: async () => {
        const m = await LlamaForCausalLM.from_pretrained(ckpt);
        m.register_forward_pre_hook((_m, [args]) => [{ ...(args as object), position_ids: undefined }]);
        return m;
      },
    });
    const r = verifyTensors(golden, actual);
    expect(r.hints[0]).toContain("padded_batch/model.rotary_emb/in.position_ids");
    expect(r.hints.join("\n")).toMatch(/position ids reaching the rotary embedding differ/);
  });

  it("lists absent names, renames by rules, and refuses malformed rules with a typed error", () => {
    const renamed = new Map([...ours].filter(([n]) => n.startsWith("single/")).map(([n, t]) => [`port::${n}`, t]));
    let r = verifyTensors(golden, renamed);
    expect(r.rows.length).toBe(0);
    expect(r.ok).toBe(false);
    expect(formatReport(r)).toMatch(/nothing was compared/);
    r = verifyTensors(golden, renamed, parseRenameRules({ "^port::": "" }));
    expect(r.ok).toBe(true);
    expect(r.missing.length).toBe(golden.manifest.tensors.filter((t) => t.case !== "single").length);
    expect(() => parseRenameRules([["(", "x"]])).toThrow(CheckpointError);
    expect(() => parseRenameRules({ a: 1 })).toThrow(CheckpointError);
  });

  it("a malformed manifest is a typed error naming the file and entry", async () => {
    const bad = join(dir, "bad_manifest");
    cpSync(join(dir, "gqa"), bad, { recursive: true });
    const m = JSON.parse(readFileSync(join(bad, "manifest.json"), "utf8"));
    m.tensors[3].atol = "tiny";
    writeFileSync(join(bad, "manifest.json"), JSON.stringify(m));
    await expect(readGolden(bad)).rejects.toThrow(/manifest.json: tensors\[3\]: expected name, case and non-negative atol/);
    writeFileSync(join(bad, "manifest.json"), "{not json");
    await expect(readGolden(bad)).rejects.toBeInstanceOf(CheckpointError);
    m.tensors[3].atol = 1e-4;
    m.schema_version = 99;
    writeFileSync(join(bad, "manifest.json"), JSON.stringify(m));
    await expect(readGolden(bad)).rejects.toThrow(/schema_version: expected 1, got 99/);
  });

  it("the CLI exits 0 on a match, 1 on a failure (with the table), 2 on bad arguments", async () => {
    const good = join(dir, "ours.safetensors");
    await saveSafetensors(good, ours);
    const t = ours.get("single/logits")!;
    const bad = new Tensor("float32", t.toFloat32().map((x) => x + 1), t.shape);
    const badFile = join(dir, "bad.safetensors");
    await saveSafetensors(badFile, new Map([...ours, ["single/logits", bad]]));
    const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 120_000 });
    const ok = run("verify", "--golden", join(dir, "gqa"), "--actual", good);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/PASS/);
    const fail = run("verify", "--golden", join(dir, "gqa"), "--actual", badFile);
    expect(fail.status).toBe(1);
    expect(fail.stdout).toMatch(/single\/logits\s+1\.00e\+0\s/);
    expect(fail.stdout).toMatch(/max abs\s+max rel\s+first bad\s+result\s+tolerance/);
    expect(readdirSync(dir)).toContain("gqa");
  }, 120_000);
});

describe("golden command and sources", () => {
  const MODELS = resolve(process.cwd(), "../shared/reference/models");
  const present = readdirSync(resolve(process.cwd(), "..")).includes("shared");

  it("bad arguments are typed errors (the CLI's exit 2) raised before anything is written", async () => {
    const { runGolden, GOLDEN_HELP } = await import("../../src/cli/golden.ts");
    const { runVerify } = await import("../../src/cli/verify.ts");
    expect(GOLDEN_HELP).toContain("llama2_tokenizer");
    for (const args of [
      ["--config", "mha"],
      ["--out", join(dir, "x"), "--config", "mha", "--model", "m"],
      ["--out", join(dir, "x"), "--config", "mha", "--torch_dtype", "int8"],
      ["--out", join(dir, "x"), "--config", "mha", "--seed", "-1"],
      ["--out", join(dir, "x"), "--config", "mha", "--bogus"],
    ])
      await expect(runGolden(args), args.join(" ")).rejects.toBeInstanceOf(LlamaError);
    await expect(runGolden(["--out", join(dir, "x"), "--config", "no_such_preset"])).rejects.toThrow(/not a preset/);
    await expect(runVerify(["--golden", join(dir, "gqa")])).rejects.toBeInstanceOf(LlamaError);
    expect(readdirSync(dir)).not.toContain("x");
  });

  it("--prompt without a tokenizer is refused with a typed error", async () => {
    await expect(writeGolden({ out: join(dir, "p"), config: "mha", prompts: ["hi"] })).rejects.toThrow(/needs a tokenizer/);
  });

  it.skipIf(!present)("--model: fixtures from an existing checkpoint (a classifier) replay and verify", async () => {
    const out = join(dir, "from_model");
    await writeGolden({ out, model: join(MODELS, "llama-cls") });
    const g = await readGolden(out);
    expect(g.manifest.hf_equivalent.model_class).toBe("LlamaForSequenceClassification");
    expect(g.fixtures.get("right_padded/score/out.0")!.shape.slice(0, 2)).toEqual([2, 7]);
    const r = verifyTensors(g, await replayGolden(g));
    expect(r.ok).toBe(true);
  }, 60_000);
});

describe("committed classifier fixtures", () => {
  it("pooled logits are score's output at the pooled index; the losses are CE and BCE of them (float64 check)", async () => {
    const g = await readGolden(resolve(process.cwd(), "golden/classifier"));
    const get = (n: string) => g.fixtures.get(n)!;
    for (const name of ["right_padded", "right_padded_multi_label"]) {
      const c = g.manifest.cases.find((x) => x.name === name)!;
      const ids = c.inputs.input_ids as number[][];
      const T = ids[0].length;
      const idx = Array.from(get(`${name}/pooled_indices`).data as BigInt64Array, Number);
      // HF 4.44: (first pad - 1) mod T
      expect(idx).toEqual(ids.map((r) => (((r.indexOf(0) < 0 ? 0 : r.indexOf(0)) - 1 + T) % T)));
      const all = get(`${name}/score/out.0`).toFloat32();
      const pooled = get(`${name}/logits`).toFloat32();
      const n = 3;
      idx.forEach((t, b) => expect([...pooled.subarray(b * n, b * n + n)]).toEqual([...all.subarray((b * T + t) * n, (b * T + t + 1) * n)]));
      const loss = get(`${name}/loss`).toFloat32()[0];
      let want = 0;
      if (name === "right_padded") {
        (c.inputs.labels as number[]).forEach((y, b) => {
          const row = [...pooled.subarray(b * n, b * n + n)];
          const m = Math.max(...row);
          want += (m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[y]) / 2;
        });
      } else {
        const ys = (c.inputs.labels as number[][]).flat();
        ys.forEach((y, i) => {
          const x = pooled[i];
          want += (Math.max(x, 0) - x * y + Math.log1p(Math.exp(-Math.abs(x)))) / ys.length;
        });
      }
      expect(Math.abs(loss - want)).toBeLessThan(1e-6);
    }
  });
});
