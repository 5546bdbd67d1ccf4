/**
 * Timing and reporting for `llama-ts bench`: run a job `warmup` times untimed, then `repeats` times timed with
 * `performance.now()`, and report the median (robust to a stray GC pause or a busy neighbour), with the min and
 * max for spread. A table printer for the results.
 */

export interface Timing {
  /** Median seconds of one run. */
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Times `job` (sync or async) after `warmup` untimed runs; `onRun` reports progress. */
export async function measure(
  job: () => unknown,
  opts: { warmup: number; repeats: number; onRun?: (i: number) => void },
): Promise<Timing> {
  for (let i = 0; i < opts.warmup; i++) await job();
  const seconds: number[] = [];
  for (let i = 0; i < opts.repeats; i++) {
    const t0 = performance.now();
    await job();
    seconds.push((performance.now() - t0) / 1000);
    opts.onRun?.(i);
  }
  return { median: median(seconds), min: Math.min(...seconds), max: Math.max(...seconds), runs: seconds.length };
}

/** A plain-text table: first row is the header, columns padded, numbers right-aligned. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const numeric = (s: string) => /^[-+]?[\d.,]+( ?[x%×])?$/.test(s);
  const line = (r: string[]) =>
    r
      .map((cell, c) => (numeric(cell) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join("  ")
      .trimEnd();
  return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

export function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}
