/**
 * `llama-ts inspect --model DIR|ID`: what a checkpoint is. config.json (as llama-ts reads it), the parameters
 * grouped by module (decoder layers folded into one row per submodule, summed over the layers) with their dtype
 * as stored, the memory the weights take once loaded (`torch_dtype: "auto"` keeps the stored dtype) and the
 * float32 KV cache per token of context.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { PreTrainedModel } from "../modeling_utils.ts";
import { checkFolder, flagHelp, parseFlags, type FlagTable } from "./args.ts";
import { loadModelFor } from "./load.ts";

const INSPECT_FLAGS = {
  model: { type: "string", arg: "DIR|ID", required: true, help: "checkpoint folder or Hub id (org/name)" },
  json: { type: "boolean", help: "print one JSON object instead of the tables" },
} satisfies FlagTable;

export const INSPECT_HELP = `Print a checkpoint's config, its parameter counts per module and dtype, and the memory it needs.
The weights are loaded as stored (torch_dtype "auto"), so this takes as much memory as the weight files.

Usage: llama-ts inspect --model DIR|ID [--json]

${flagHelp(INSPECT_FLAGS)}`;

const BYTES: Record<string, number> = { float32: 4, float16: 2, bfloat16: 2 };

export async function runInspect(argv: string[]): Promise<void> {
  const flags = parseFlags("inspect", argv, INSPECT_FLAGS);
  checkFolder("model", flags.model!, { hubIds: true });
  const { model, config } = await loadModelFor<PreTrainedModel>("inspect", flags.model!, null, "auto");

  // Parameters by module, "layers.<i>." folded to "layers.*."; a tied output weight is the embedding's tensor.
  const groups = new Map<string, { params: number; dtypes: Set<string>; bytes: number; layers: Set<string> }>();
  const seen = new Set<object>();
  let total = 0;
  let bytes = 0;
  const byDtype: Record<string, number> = {};
  for (const [name, t] of model.named_parameters()) {
    const m = /\.layers\.(\d+)\./.exec(name);
    const key =
      name.replace(/\.layers\.\d+\./, ".layers.*.").replace(/\.(weight|bias)$/, "") +
      name.match(/\.(weight|bias)$/)![0];
    const g = groups.get(key) ?? { params: 0, dtypes: new Set(), bytes: 0, layers: new Set() };
    const tied = seen.has(t.data);
    seen.add(t.data);
    g.params += tied ? 0 : t.size;
    g.bytes += tied ? 0 : t.size * (BYTES[t.dtype] ?? 4);
    g.dtypes.add(tied ? `${t.dtype}, tied to the embedding` : t.dtype);
    if (m) g.layers.add(m[1]);
    groups.set(key, g);
    if (!tied) {
      total += t.size;
      bytes += t.size * (BYTES[t.dtype] ?? 4);
      byDtype[t.dtype] = (byDtype[t.dtype] ?? 0) + t.size;
    }
  }
  const kvPerToken = 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * 4;
  let onDisk = 0;
  try {
    const dir = flags.model!;
    for (const f of readdirSync(dir)) if (/\.(safetensors|bin|pth)$/.test(f)) onDisk += statSync(join(dir, f)).size;
  } catch {
    onDisk = NaN; // a Hub id: the files live in the cache
  }

  if (flags.json) {
    process.stdout.write(
      JSON.stringify({
        class: model.constructor.name,
        config: config.to_dict(),
        modules: Object.fromEntries(
          [...groups].map(([k, g]) => [k, { params: g.params, dtype: [...g.dtypes].join("/"), bytes: g.bytes }]),
        ),
        parameters: total,
        parameters_by_dtype: byDtype,
        weight_bytes: bytes,
        kv_cache_bytes_per_token: kvPerToken,
      }) + "\n",
    );
    return;
  }
  const out = (s = "") => process.stdout.write(s + "\n");
  const n = (x: number) => x.toLocaleString("en-US");
  const mb = (x: number) => `${(x / 2 ** 20).toFixed(2)} MiB`;
  out(
    `${flags.model}: ${model.constructor.name} (config.json architectures: ${(config.architectures ?? []).join(", ") || "none"})`,
  );
  out();
  out("config.json (as read, differences from the defaults):");
  out(config.to_json_string(true).trimEnd().replace(/^/gm, "  "));
  out();
  out("parameters by module (decoder layers summed over all layers):");
  const rows = [...groups].map(([k, g]) => [
    k,
    n(g.params),
    [...g.dtypes].join(", "),
    mb(g.bytes),
    g.layers.size ? `x${g.layers.size} layers` : "",
  ]);
  const header = ["module", "parameters", "dtype", "memory", ""];
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [header, ...rows])
    out(
      "  " +
        r
          .map((c, i) => (i === 1 || i === 3 ? c.padStart(w[i]) : c.padEnd(w[i])))
          .join("  ")
          .trimEnd(),
    );
  out();
  out(
    `total: ${n(total)} parameters (${Object.entries(byDtype)
      .map(([d, c]) => `${d} ${n(c)}`)
      .join(", ")})`,
  );
  out(`memory: weights ${mb(bytes)} as loaded with torch_dtype "auto"; float32 would take ${mb(total * 4)}`);
  out(
    `KV cache (float32): ${n(kvPerToken)} bytes per token of context, ${mb(kvPerToken * config.max_position_embeddings)} at max_position_embeddings ${n(config.max_position_embeddings)}`,
  );
  if (Number.isFinite(onDisk)) out(`weight files on disk: ${mb(onDisk)}`);
}
