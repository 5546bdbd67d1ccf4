/**
 * `llama-ts bench --attention`: peak memory of the three attention implementations as the sequence grows.
 *
 * Each (implementation, sequence length) runs once in a fresh process (src/bench/attention_child.ts), a prefill
 * of S tokens over H heads, and reports the process' peak RSS above a baseline process that only allocates the
 * same inputs. Eager materializes [H, S, S] scores and probabilities (plus the [1, 1, S, S] causal mask), so its
 * extra memory grows as S^2; sdpa keeps SDPA_BLOCK.query x S scores at a time and flash_attention_2 a few
 * fixed-size tiles, so theirs stays flat (a float32 copy of their inputs aside). Peak RSS is coarse (pages, the
 * allocator's pools): differences of a few MB are noise; the growth is the signal.
 */
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { fmt } from "./measure.ts";

export const ATTENTION_IMPLS = ["eager", "sdpa", "flash_attention_2"] as const;

export interface AttentionMemoryRow {
  S: number;
  /** Peak RSS above the baseline per head, MB, by implementation. */
  mbPerHead: Record<string, number>;
  seconds: Record<string, number>;
}

function runChild(impl: string, S: number, H: number, D: number): { peakKb: number; seconds: number } {
  const tsxCli = createRequire(import.meta.url).resolve("tsx/cli");
  const child = fileURLToPath(new URL("./attention_child.ts", import.meta.url));
  const r = spawnSync(process.execPath, [tsxCli, child, impl, String(S), String(H), String(D)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`attention bench child (${impl}, S=${S}) failed: ${r.stderr || r.error}`);
  const j = JSON.parse(r.stdout.trim().split("\n").pop()!);
  return { peakKb: j.after_kb, seconds: j.seconds };
}

export function benchAttentionMemory(opts: {
  seqs: number[];
  heads: number;
  head_dim: number;
  log: (s: string) => void;
}): AttentionMemoryRow[] {
  const rows: AttentionMemoryRow[] = [];
  for (const S of opts.seqs) {
    opts.log(`attention memory: S = ${S} (baseline, ${ATTENTION_IMPLS.join(", ")}) ...`);
    const base = runChild("none", S, opts.heads, opts.head_dim).peakKb;
    const row: AttentionMemoryRow = { S, mbPerHead: {}, seconds: {} };
    for (const impl of ATTENTION_IMPLS) {
      const r = runChild(impl, S, opts.heads, opts.head_dim);
      row.mbPerHead[impl] = Math.max(0, r.peakKb - base) / 1024 / opts.heads;
      row.seconds[impl] = r.seconds;
    }
    rows.push(row);
  }
  return rows;
}

export function attentionMemoryTable(rows: AttentionMemoryRow[]): string[][] {
  const out = [
    ["seq", "[S, S] f32 MB", ...ATTENTION_IMPLS.map((i) => `${i} MB/head`), "sdpa s / eager s", "flash s / eager s"],
  ];
  for (const r of rows)
    out.push([
      String(r.S),
      fmt((r.S * r.S * 4) / 2 ** 20, 1),
      ...ATTENTION_IMPLS.map((i) => fmt(r.mbPerHead[i], 1)),
      fmt(r.seconds.sdpa / r.seconds.eager, 2),
      fmt(r.seconds.flash_attention_2 / r.seconds.eager, 2),
    ]);
  return out;
}
