/**
 * Replay a golden folder's manifest cases on a model and collect the tensors under the fixture names: what a
 * TypeScript port's test does, and how `verify` is checked against our own outputs. `readGolden` reads a folder.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CheckpointError, ValueError } from "../errors.ts";
import { loadSafetensors } from "../formats/safetensors.ts";
import { LlamaForCausalLM, LlamaForSequenceClassification } from "../models/llama/modeling_llama.ts";
import { Tensor } from "../tensor/tensor.ts";
import { runCase, toTensor, type CaseModel } from "./capture.ts";
import { FLOAT32_COMPUTE, GOLDEN_SCHEMA_VERSION, type Manifest } from "./manifest.ts";

/** A golden folder's manifest and fixtures, checked against each other. */
export interface Golden {
  dir: string;
  manifest: Manifest;
  fixtures: Map<string, Tensor>;
}

export async function readGolden(dir: string): Promise<Golden> {
  const file = join(dir, "manifest.json");
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new CheckpointError(file, `cannot read the manifest (${(e as Error).message})`);
  }
  if (manifest?.schema_version !== GOLDEN_SCHEMA_VERSION)
    throw new CheckpointError(file, `schema_version: expected ${GOLDEN_SCHEMA_VERSION}, got ${manifest?.schema_version}`);
  if (!Array.isArray(manifest.tensors) || !Array.isArray(manifest.cases))
    throw new CheckpointError(file, "expected `cases` and `tensors` arrays");
  manifest.cases.forEach((c, i) => {
    const dc = c?.dont_care;
    if (typeof c?.name !== "string" || !Array.isArray(dc?.query_positions) || !Array.isArray(dc?.key_positions))
      throw new CheckpointError(file, `cases[${i}]: expected a name and dont_care.query_positions/key_positions`);
  });
  manifest.tensors.forEach((t, i) => {
    const num = (x: unknown) => typeof x === "number" && x >= 0;
    if (typeof t?.name !== "string" || typeof t.case !== "string" || !num(t.atol) || !num(t.rtol))
      throw new CheckpointError(file, `tensors[${i}]: expected name, case and non-negative atol/rtol`);
    if (t.axes !== undefined && (typeof t.axes !== "object" || t.axes === null))
      throw new CheckpointError(file, `tensors[${i}] (${t.name}): axes must be an object`);
  });
  const fixtures = (await loadSafetensors(join(dir, manifest.fixtures ?? "fixtures.safetensors"))).tensors;
  for (const t of manifest.tensors) {
    const f = fixtures.get(t.name);
    if (!f) throw new CheckpointError(file, `tensor ${t.name} is listed but absent from ${manifest.fixtures}`);
    if (f.shape.join() !== t.shape.join())
      throw new CheckpointError(file, `tensor ${t.name}: manifest shape [${t.shape}] != file shape [${f.shape}]`);
  }
  return { dir, manifest, fixtures };
}

type Model = LlamaForCausalLM | LlamaForSequenceClassification;

export interface ReplayOptions {
  /** Load a fresh model (default: from_pretrained of checkpoint/ with the manifest's class, float32). */
  load?: () => Promise<Model>;
  /** Only these cases (and the cases they continue). */
  cases?: string[];
}

/** Run every manifest case as its `inputs` say; returns fixture name -> tensor, named by the naming rule. */
export async function replayGolden(golden: Golden, opts: ReplayOptions = {}): Promise<Map<string, Tensor>> {
  const { manifest } = golden;
  const ckpt = join(golden.dir, manifest.checkpoint.dir);
  const load =
    opts.load ??
    (async (): Promise<Model> =>
      manifest.hf_equivalent.model_class === "LlamaForSequenceClassification"
        ? await LlamaForSequenceClassification.from_pretrained(ckpt, { ...FLOAT32_COMPUTE, pooling: "first_pad_minus_one" })
        : await LlamaForCausalLM.from_pretrained(ckpt, FLOAT32_COMPUTE));
  const out = new Map<string, Tensor>();
  const state = new Map<string, { model: Model; output: any }>();
  for (const c of manifest.cases) {
    if (opts.cases && !opts.cases.includes(c.name) && !manifest.cases.some((d) => d.continues === c.name)) continue;
    if (c.kind === "generate") {
      const model = (await load()) as LlamaForCausalLM;
      const inputs = c.inputs as { input_ids: number[][]; max_new_tokens: number; do_sample: boolean };
      const seq = model.generate(inputs.input_ids, { max_new_tokens: inputs.max_new_tokens, do_sample: false });
      out.set(`${c.name}/sequences`, toTensor((seq.tolist() as number[][]).map((r) => r.map(Number)))!);
      continue;
    }
    const args: Record<string, unknown> = { ...c.inputs };
    let model: Model;
    if (c.continues) {
      const prev = state.get(c.continues);
      if (!prev) throw new ValueError(`case ${c.name} continues ${c.continues}, which has not run`);
      model = prev.model;
      args.past_key_values = prev.output.past_key_values;
    } else model = await load();
    const { output, tensors } = runCase(model as CaseModel, args);
    state.set(c.name, { model, output });
    for (const t of tensors) out.set(t.module === null ? `${c.name}/${t.slot}` : `${c.name}/${t.module}/${t.slot}`, t.tensor);
  }
  return out;
}
