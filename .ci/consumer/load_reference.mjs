// Plain Node ESM, no TypeScript, no fast-check: load a reference checkpoint and the reference tokenizer from the
// installed package and check the logits against HF 4.44.2's (../shared/reference/models/llama-vocab32000).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LlamaForCausalLM, LlamaTokenizerFast, loadSafetensors } from "llama-ts";

const ref = process.argv[2];
const model = await LlamaForCausalLM.from_pretrained(join(ref, "models", "llama-vocab32000"));
const tokenizer = await LlamaTokenizerFast.from_pretrained(join(ref, "tokenizer"));

// Row 0 of the case batch_forward_default_positions is "<s>" + this text, unpadded, positions 0..6.
const ids = tokenizer.encode("The quick brown fox j");
const expectedIds = [1, 450, 4996, 17354, 1701, 29916, 432];
if (JSON.stringify(ids) !== JSON.stringify(expectedIds)) throw new Error(`ids ${ids} != ${expectedIds}`);

const logits = model.forward({ input_ids: [ids] }).logits; // [1, 7, 32000]
const expected = (await loadSafetensors(join(ref, "models", "llama-vocab32000", "reference.safetensors"))).tensors.get(
  "batch_forward_default_positions.logits",
); // [2, 7, 32000]: row 0 is this sequence
const got = logits.toFloat32();
const want = expected.toFloat32().subarray(0, got.length);
let maxDiff = 0;
for (let i = 0; i < got.length; i++)
  maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]) / (1e-4 + 1e-4 * Math.abs(want[i])));
if (!(maxDiff <= 1)) throw new Error(`logits differ from HF beyond atol=rtol=1e-4 (worst ratio ${maxDiff})`);
const golden = await import("llama-ts/golden");
if (typeof golden.readGolden !== "function") throw new Error("llama-ts/golden does not export readGolden");
if (existsSync(new URL("./node_modules/fast-check", import.meta.url)))
  throw new Error("fast-check is installed: this check must run without it");
console.log(
  `plain .mjs: ${logits.shape} logits within atol=rtol=1e-4 of HF (worst |diff|/tol ${maxDiff.toFixed(3)}), fast-check absent, llama-ts/golden loads`,
);
