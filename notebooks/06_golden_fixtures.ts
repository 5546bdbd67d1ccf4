// %% [markdown]
// # 6. Golden fixtures: catching a bug in a port
//
// A golden folder (see golden/README.md) holds a tiny checkpoint, a manifest of cases, and every module's inputs
// and outputs for those cases, named by HF state-dict paths. A port loads the checkpoint, runs the cases,
// dumps its own tensors under the same names, and `verify` points at the *first* module that disagrees.
// Here we produce a folder, then verify a correct run and a deliberately buggy one.

// %%
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlamaForCausalLM, Tensor, unpermute } from "../src/index.ts";
import { formatReport, readGolden, replayGolden, verifyTensors, writeGolden } from "../src/golden/index.ts";

// %% [markdown]
// ## Producing fixtures
// `writeGolden` (the `llama-ts golden` command) builds the preset's seeded model, saves it as an HF checkpoint,
// runs each case with forward hooks on every module, and writes the manifest and `fixtures.safetensors`.

// %%
const dir = mkdtempSync(join(tmpdir(), "golden-"));
const summary = await writeGolden({ out: dir, config: "gqa", seed: 0 });
const golden = await readGolden(dir);
console.log(`preset gqa: ${summary.cases} cases, ${summary.tensors} tensors`);
console.log("cases:", golden.manifest.cases.map((c) => c.name).join(", "));
console.log("some fixture names:");
for (const t of golden.manifest.tensors.slice(0, 6)) console.log(`  ${t.name} [${t.shape}] atol ${t.atol}`);

// %% [markdown]
// ## Verifying a correct port
// Replaying the cases on the checkpoint as HF would load it reproduces every tensor.

// %%
const checkpoint = join(dir, golden.manifest.checkpoint.dir);
const good = verifyTensors(golden, await replayGolden(golden));
console.log(formatReport(good, { only_failed: true }));

// %% [markdown]
// ## Verifying a buggy port
// The classic porting bug: loading Meta-layout q/k weights into HF's `rotate_half` RoPE (or the reverse) without
// the head permutation of `convert_llama_weights_to_hf`. We simulate it by un-permuting layer 1's `q_proj` and
// `k_proj`. Everything up to layer 1's attention still matches; the report names where it first goes wrong.

// %%
const buggy = async () => {
  const model = await LlamaForCausalLM.from_pretrained(checkpoint);
  const attn = model.model.layers[1].self_attn;
  attn.q_proj.weight = unpermute(attn.q_proj.weight, model.config.num_attention_heads) as Tensor;
  attn.k_proj.weight = unpermute(attn.k_proj.weight, model.config.num_key_value_heads) as Tensor;
  return model;
};
const bad = verifyTensors(golden, await replayGolden(golden, { load: buggy }));
const failing = bad.rows.filter((r) => r.status !== "pass").map((r) => r.name);
console.log(`${bad.rows.length - failing.length}/${bad.rows.length} tensors pass; first failing: ${failing[0]}`);
console.log("failing modules in the first case:");
const firstCase = failing[0].split("/")[0];
for (const n of failing.filter((n) => n.startsWith(firstCase + "/")).slice(0, 8)) console.log(`  ${n}`);
console.log("hints:", bad.hints.length ? bad.hints.join("\n") : "(none)");
rmSync(dir, { recursive: true, force: true });
