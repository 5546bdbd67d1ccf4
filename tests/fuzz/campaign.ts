/**
 * One fuzz campaign: `count` generated inputs for one target, each classified as
 *   ok      parsed / loaded (and, for tokenizers and configs, used once)
 *   typed   rejected with a LlamaError subclass (CheckpointError, TokenizerError, ConfigError, ...)
 *   other   anything else: a TypeError, RangeError, stack overflow, a failed allocation... (must be 0)
 * with the time of every input (the slowest reported) and the heap and array-buffer memory after each one (the
 * peak above the starting level reported). Inputs come from fast-check with `seed`, so input #i of a campaign is
 * the same every time (`--index i` in run.ts replays it).
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import v8 from "node:v8";
import fc from "fast-check";
import { LlamaError } from "../../src/errors.ts";
import { type FuzzTarget, type Recipe, type Seed, describeRecipe, materialize, recipeArb } from "./targets.ts";

export interface Failure {
  index: number;
  input: string;
  error: string;
  /** Where the offending bytes were written. */
  file?: string;
}

export interface CampaignStats {
  target: string;
  seed: number;
  tried: number;
  ok: number;
  typed: number;
  other: number;
  typedByClass: Record<string, number>;
  failures: Failure[];
  slowest: { ms: number; index: number; input: string };
  totalMs: number;
  /** Largest heap + array-buffer use above the level before the first input, in bytes. */
  memoryGrowthPeak: number;
  largestInput: number;
}

export interface CampaignOptions {
  count: number;
  seed: number;
  /** Include the megabyte-sized reference seeds (tokenizer.model, tokenizer.json). */
  heavy?: boolean;
  /** Run only this input index (replay). */
  only?: number;
  /** Called before each input with its index (run.ts's hang watchdog reads it). */
  onInput?: (index: number) => void;
  /** Write failing inputs to files in the system temp folder. */
  dumpFailures?: boolean;
}

function memoryNow(): number {
  const h = v8.getHeapStatistics();
  return h.used_heap_size + (h.external_memory ?? 0);
}

export function buildInputs(
  target: FuzzTarget,
  opts: { count: number; seed: number; heavy?: boolean },
): { seeds: Seed[]; recipes: Recipe[] } {
  const seeds = target.seeds({ heavy: opts.heavy ?? false });
  const recipes = fc.sample(recipeArb(target, seeds), { seed: opts.seed, numRuns: opts.count });
  return { seeds, recipes };
}

export async function runCampaign(target: FuzzTarget, opts: CampaignOptions): Promise<CampaignStats> {
  const { seeds, recipes } = buildInputs(target, opts);
  const stats: CampaignStats = {
    target: target.name,
    seed: opts.seed,
    tried: 0,
    ok: 0,
    typed: 0,
    other: 0,
    typedByClass: {},
    failures: [],
    slowest: { ms: 0, index: -1, input: "" },
    totalMs: 0,
    memoryGrowthPeak: 0,
    largestInput: 0,
  };
  const base = memoryNow();
  const start = performance.now();
  try {
    for (let i = 0; i < recipes.length; i++) {
      if (opts.only !== undefined && i !== opts.only) continue;
      opts.onInput?.(i);
      const bytes = materialize(recipes[i], seeds);
      stats.largestInput = Math.max(stats.largestInput, bytes.length);
      const t0 = performance.now();
      try {
        await target.run(bytes, i);
        stats.ok++;
      } catch (e) {
        if (e instanceof LlamaError) {
          stats.typed++;
          stats.typedByClass[e.name] = (stats.typedByClass[e.name] ?? 0) + 1;
        } else {
          stats.other++;
          if (stats.failures.length < 20) {
            const failure: Failure = {
              index: i,
              input: describeRecipe(recipes[i], seeds),
              error:
                e instanceof Error
                  ? `${e.name}: ${e.message}\n${e.stack?.split("\n").slice(1, 4).join("\n")}`
                  : String(e),
            };
            if (opts.dumpFailures) {
              failure.file = join(tmpdir(), `llama-ts-fuzz-${target.name}-${opts.seed}-${i}.bin`);
              writeFileSync(failure.file, bytes);
            }
            stats.failures.push(failure);
          }
        }
      }
      const ms = performance.now() - t0;
      stats.tried++;
      if (ms > stats.slowest.ms) stats.slowest = { ms, index: i, input: describeRecipe(recipes[i], seeds) };
      stats.memoryGrowthPeak = Math.max(stats.memoryGrowthPeak, memoryNow() - base);
    }
  } finally {
    target.dispose?.();
  }
  stats.totalMs = performance.now() - start;
  return stats;
}
