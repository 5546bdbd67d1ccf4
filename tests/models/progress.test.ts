/**
 * from_pretrained's progress_callback (transformers.js' events: { status, name, file, loaded, total, progress })
 * while the weight files are read. Expected sizes come from the file system and the shard list from the index
 * file, not from the loader.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSafetensors } from "../../src/formats/safetensors.ts";
import type { ProgressInfo } from "../../src/hub/hub.ts";
import { LlamaForCausalLM } from "../../src/models/llama/modeling_llama.ts";
import { referenceDir } from "../reference.ts";

const MODELS = referenceDir("models", "progress_callback tests");

function byFile(events: ProgressInfo[]): Map<string, ProgressInfo[]> {
  const out = new Map<string, ProgressInfo[]>();
  for (const e of events) out.set(e.file!, [...(out.get(e.file!) ?? []), e]);
  return out;
}

describe.skipIf(MODELS === null)("from_pretrained progress_callback", () => {
  for (const name of ["llama-sharded", "llama-gqa"]) {
    it(`${name}: initiate, progress, done per weight file, with the file's size`, async () => {
      const dir = join(MODELS!, name);
      const index = join(dir, "model.safetensors.index.json");
      const files =
        name === "llama-sharded"
          ? [
              ...new Set(Object.values(JSON.parse(readFileSync(index, "utf8")).weight_map as Record<string, string>)),
            ].sort()
          : ["model.safetensors"];
      const events: ProgressInfo[] = [];
      await LlamaForCausalLM.from_pretrained(dir, { progress_callback: (e) => events.push(e) });
      const groups = byFile(events);
      expect([...groups.keys()]).toEqual(files);
      for (const [file, evs] of groups) {
        const size = statSync(join(dir, file)).size;
        expect(
          evs.every((e) => e.name === dir && e.total === size),
          file,
        ).toBe(true);
        expect(evs[0]).toMatchObject({ status: "initiate", loaded: 0 });
        expect(evs.at(-1)).toMatchObject({ status: "done", loaded: size, progress: 100 });
        const loaded = evs.map((e) => e.loaded!);
        expect(loaded).toEqual([...loaded].sort((a, b) => a - b));
        expect(evs.slice(1, -1).every((e) => e.status === "progress")).toBe(true);
      }
    });
  }

  it("a safetensors file read tensor by tensor reports after the header and after each tensor", async () => {
    const path = join(MODELS!, "llama-gqa", "model.safetensors");
    const bytes = readFileSync(path);
    const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
    const calls: Array<[number, number]> = [];
    const { tensors } = await loadSafetensors(path, {
      single_read_limit: 0,
      on_progress: (l, t) => calls.push([l, t]),
    });
    expect(calls.length).toBe(tensors.size + 1);
    expect(calls[0]).toEqual([headerEnd, bytes.length]);
    expect(calls.at(-1)).toEqual([bytes.length, bytes.length]);
    for (let i = 1; i < calls.length; i++) expect(calls[i][0]).toBeGreaterThan(calls[i - 1][0]);
  });
});
