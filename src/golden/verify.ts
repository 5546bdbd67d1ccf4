/**
 * Compare another port's outputs with a golden folder: by fixture name (optionally renamed by regex rules), with
 * each tensor's tolerance from the manifest, skipping don't-care positions (padded queries and keys), and with
 * hints at likely causes drawn from which tensors fail where.
 */
import { readFile } from "node:fs/promises";
import { CheckpointError } from "../errors.ts";
import { loadSafetensors } from "../formats/safetensors.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { ManifestCase, ManifestTensor } from "./manifest.ts";
import { metaRowSources } from "./meta_layout.ts";
import type { Golden } from "./replay.ts";

export interface VerifyRow {
  name: string;
  status: "pass" | "fail" | "shape";
  max_abs: number;
  /** Largest |actual - expected| / |expected| over elements whose expected value is not 0. */
  max_rel: number;
  /** Multi-index of the first element beyond tolerance, or null. */
  first_bad: number[] | null;
  atol: number;
  rtol: number;
  /** Elements compared (don't-care positions excluded). */
  compared: number;
  /** Query positions (along the tensor's query axis) with at least one failing element. */
  bad_queries: number[];
}

export interface VerifyReport {
  rows: VerifyRow[];
  /** Expected names the actual file lacks. */
  missing: string[];
  /** Names in the actual file (after renaming) that the golden folder does not have. */
  unknown: string[];
  hints: string[];
  ok: boolean;
}

/**
 * Rename rules: `[[regex, replacement], ...]`, `[{ "pattern", "replacement" }, ...]` or `{ regex: replacement }`,
 * applied in order to every actual name (JavaScript regex syntax; `$1` in a replacement is a group).
 */
export type RenameRules = Array<[string, string] | { pattern: string; replacement: string }>;

export async function readRenameRules(file: string): Promise<[RegExp, string][]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new CheckpointError(file, `cannot read rename rules (${(e as Error).message})`);
  }
  return parseRenameRules(raw, file);
}

export function parseRenameRules(raw: unknown, file = "rules"): [RegExp, string][] {
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) raw = Object.entries(raw);
  if (!Array.isArray(raw))
    throw new CheckpointError(file, 'expected an array of [regex, replacement] or {"pattern", "replacement"}');
  return raw.map((r, i) => {
    const [pattern, replacement] = Array.isArray(r) ? r : [(r as any)?.pattern, (r as any)?.replacement];
    if (typeof pattern !== "string" || typeof replacement !== "string")
      throw new CheckpointError(file, `rule ${i}: expected two strings (regex, replacement)`);
    try {
      return [new RegExp(pattern), replacement] as [RegExp, string];
    } catch (e) {
      throw new CheckpointError(file, `rule ${i}: invalid regex ${JSON.stringify(pattern)} (${(e as Error).message})`);
    }
  });
}

function values(t: Tensor): Float64Array {
  if (t.dtype === "int64") return Float64Array.from(t.data as BigInt64Array, Number);
  if (t.dtype === "int32" || t.dtype === "bool") return Float64Array.from(t.data as Int32Array);
  return Float64Array.from(t.toFloat32());
}

function unravel(i: number, shape: number[]): number[] {
  const idx = new Array(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** Compare one tensor, skipping the case's don't-care positions along the tensor's axes. */
export function compareFixture(spec: ManifestTensor, c: ManifestCase | undefined, expected: Tensor, actual: Tensor): VerifyRow {
  const row: VerifyRow = {
    name: spec.name,
    status: "pass",
    max_abs: 0,
    max_rel: 0,
    first_bad: null,
    atol: spec.atol,
    rtol: spec.rtol,
    compared: 0,
    bad_queries: [],
  };
  if (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i])) {
    row.status = "shape";
    row.max_abs = Infinity;
    return row;
  }
  const e = values(expected);
  const a = values(actual);
  const { batch, query, key } = spec.axes ?? {};
  const skipQ = new Set((c?.dont_care.query_positions ?? []).map(([b, t]) => `${b},${t}`));
  const skipK = new Set((c?.dont_care.key_positions ?? []).map(([b, s]) => `${b},${s}`));
  const needIdx = batch !== undefined && (skipQ.size > 0 || skipK.size > 0);
  const badQ = new Set<number>();
  for (let i = 0; i < e.length; i++) {
    const idx = needIdx || query !== undefined ? unravel(i, expected.shape) : null;
    if (needIdx && idx) {
      const b = idx[batch!];
      if (query !== undefined && skipQ.has(`${b},${idx[query]}`)) continue;
      if (key !== undefined && skipK.has(`${b},${idx[key]}`)) continue;
    }
    row.compared++;
    const x = a[i];
    const y = e[i];
    let bad: boolean;
    let d: number;
    if (Number.isNaN(x) || Number.isNaN(y) || !Number.isFinite(x) || !Number.isFinite(y)) {
      bad = !(Object.is(x, y) || x === y);
      d = bad ? Infinity : 0;
    } else {
      d = Math.abs(x - y);
      bad = d > spec.atol + spec.rtol * Math.abs(y);
    }
    if (d > row.max_abs) row.max_abs = d;
    // relative difference over non-zero expected values (an exact 0, e.g. a masked probability, has none)
    if (Math.abs(y) > 0) row.max_rel = Math.max(row.max_rel, d / Math.abs(y));
    if (bad) {
      if (row.first_bad === null) row.first_bad = idx ?? unravel(i, expected.shape);
      if (query !== undefined && idx) badQ.add(idx[query]);
      row.status = "fail";
    }
  }
  row.bad_queries = [...badQ].sort((p, q) => p - q);
  return row;
}

/** Compare `actual` (name -> tensor) with the golden fixtures. */
export function verifyTensors(golden: Golden, actualIn: Map<string, Tensor>, rules: [RegExp, string][] = []): VerifyReport {
  const actual = new Map<string, Tensor>();
  for (const [name, t] of actualIn) {
    let n = name;
    for (const [re, rep] of rules) n = n.replace(re, rep);
    actual.set(n, t);
  }
  const cases = new Map(golden.manifest.cases.map((c) => [c.name, c]));
  const rows: VerifyRow[] = [];
  const missing: string[] = [];
  for (const spec of golden.manifest.tensors) {
    const got = actual.get(spec.name);
    if (!got) {
      missing.push(spec.name);
      continue;
    }
    rows.push(compareFixture(spec, cases.get(spec.case), golden.fixtures.get(spec.name)!, got));
  }
  const known = new Set(golden.manifest.tensors.map((t) => t.name));
  const unknown = [...actual.keys()].filter((n) => !known.has(n));
  const ok = rows.length > 0 && rows.every((r) => r.status === "pass");
  return { rows, missing, unknown, hints: diagnose(golden, rows, actual), ok };
}

export async function verifyGoldenFile(golden: Golden, actualFile: string, rulesFile?: string): Promise<VerifyReport> {
  const rules = rulesFile ? await readRenameRules(rulesFile) : [];
  const actual = (await loadSafetensors(actualFile)).tensors;
  return verifyTensors(golden, actual, rules);
}

/**
 * Likely causes, from the pattern of failures (each hint names the evidence):
 * the first failing tensor in call order; q/k outputs that match after Meta's row order; only positions > 0;
 * only padded batches; only decode steps; only positions past max_position_embeddings; loss alone; ids alone.
 */
function diagnose(golden: Golden, rows: VerifyRow[], actual: Map<string, Tensor>): string[] {
  const hints: string[] = [];
  const failing = rows.filter((r) => r.status !== "pass");
  if (failing.length === 0) return hints;
  const spec = new Map(golden.manifest.tensors.map((t) => [t.name, t]));
  const cases = new Map(golden.manifest.cases.map((c) => [c.name, c]));
  const first = failing[0];
  hints.push(
    `first divergence in call order: ${first.name} (${spec.get(first.name)?.meaning ?? ""}); look there and at its inputs first`,
  );
  if (failing.some((r) => r.status === "shape"))
    hints.push(`shape mismatch: ${failing.filter((r) => r.status === "shape").map((r) => r.name)[0]} (and maybe others)`);

  // Meta-layout q/k: the actual q_proj/k_proj output equals the expected with each head's features in Meta order
  const meta = golden.manifest.meta_layout as { head_dim?: number; n_heads_q?: number; n_heads_k?: number } | null;
  for (const r of failing) {
    const m = /\/(model\.layers\.\d+\.self_attn\.)(q|k)_proj\/out\.0$/.exec(r.name);
    if (!m || !meta?.head_dim) continue;
    const heads = m[2] === "q" ? meta.n_heads_q! : meta.n_heads_k!;
    const src = metaRowSources(heads, meta.head_dim);
    const e = golden.fixtures.get(r.name)!.toFloat32();
    const a = actual.get(r.name)!.toFloat32();
    const W = src.length;
    let same = a.length === e.length && e.length % W === 0;
    for (let i = 0; same && i < e.length; i++) {
      const row = Math.floor(i / W);
      const col = i % W;
      if (Math.abs(a[i] - e[row * W + src[col]]) > 1e-4 + 1e-4 * Math.abs(e[row * W + src[col]])) same = false;
    }
    if (same) {
      hints.push(
        `${r.name} equals the expected output with each head's rows in Meta's interleaved order: q_proj/k_proj weights are in Meta layout; apply HF's permute when loading (manifest meta_layout, meta_layout.safetensors)`,
      );
      break;
    }
  }

  // only positions > 0 wrong -> rotary
  const withQueries = failing.filter((r) => r.bad_queries.length > 0);
  const positionZeroFine = withQueries.length > 0 && withQueries.every((r) => !r.bad_queries.includes(0));
  const positionIdsFail = failing.some((r) => /model\.rotary_emb\/in\.position_ids$/.test(r.name));
  if (positionIdsFail)
    hints.push(
      "the position ids reaching the rotary embedding differ: pass the case's position_ids as given; without them HF uses arange(past, past + T) (left padding is not accounted for)",
    );
  const rotaryFails =
    !positionIdsFail && failing.some((r) => /model\.rotary_emb\/out\.[01]$|step\.apply_rotary_pos_emb/.test(r.name));
  if ((positionZeroFine && !positionIdsFail) || rotaryFails)
    hints.push(
      `${rotaryFails ? "rotary tables or rotated q/k differ" : "only positions > 0 differ"}: suspect the rotary embedding (rope_theta, rope_scaling, inv_freq in float32, cos/sin as cat(freqs, freqs), rotate_half pairing i with i + head_dim/2)`,
    );

  const failedCases = new Set(failing.map((r) => spec.get(r.name)?.case ?? ""));
  const passedCases = new Set(rows.filter((r) => r.status === "pass").map((r) => spec.get(r.name)?.case ?? ""));
  const padded = (name: string) => {
    const c = cases.get(name);
    return !!c && (c.dont_care.query_positions.length > 0 || c.dont_care.key_positions.length > 0);
  };
  const allFailedPadded = [...failedCases].every(padded);
  const someUnpaddedPassed = [...passedCases].some((n) => !padded(n) && !failedCases.has(n));
  if (allFailedPadded && someUnpaddedPassed)
    hints.push(
      "only padded batches differ: check the attention mask (padded keys get float32 min added, never -inf) and position_ids (cumsum(attention_mask) - 1, 1 at pads)",
    );
  const decodeOnly = [...failedCases].every((n) => !!cases.get(n)?.continues);
  if (decodeOnly && failedCases.size > 0)
    hints.push(
      "only cached decode steps differ: check the KV cache (append along seq, keys stored after RoPE), the decode position ids and the mask length (past + new)",
    );
  if ([...failedCases].every((n) => n === "long_positions"))
    hints.push(
      "only the far-position case differs: check rope_scaling past max_position_embeddings (dynamic/yarn/longrope/llama3) and integer positions",
    );
  const failedSlots = failing.map((r) => spec.get(r.name)?.slot ?? "");
  if (failedSlots.every((s) => s === "loss"))
    hints.push("only the loss differs: check the shift (logits[:, :-1] vs labels[:, 1:]), -100 ignored, mean over kept tokens");
  if (failedSlots.every((s) => s === "sequences"))
    hints.push("only generated ids differ: check the decode loop, eos handling and argmax ties (manifest greedy_min_top2_gap)");
  if (failedSlots.every((s) => s === "pooled_indices" || s === "logits"))
    if (failedSlots.includes("pooled_indices"))
      hints.push("pooled positions differ: HF 4.44 pools (index of the first pad token - 1) mod T");
  if (failedSlots.every((s) => s === "out.1" || s.startsWith("attentions.")))
    hints.push("only attention probabilities differ: check the softmax of fully masked rows (float32 min gives a uniform row)");
  if (golden.manifest.checkpoint.storage_dtype !== "float32" && failing.length === rows.length)
    hints.push(
      `everything differs and the weights are ${golden.manifest.checkpoint.storage_dtype}: check the upcast (bfloat16 = the top 16 bits of a float32; float16 with subnormals)`,
    );
  return hints;
}

function fmt(x: number): string {
  if (x === Infinity) return "inf";
  if (x === 0) return "0";
  return x.toExponential(2);
}

/** The report as a table (name, max abs, max rel, first offending index, pass/fail, tolerance) plus lists and hints. */
export function formatReport(report: VerifyReport, opts: { only_failed?: boolean } = {}): string {
  const lines: string[] = [];
  const rows = opts.only_failed ? report.rows.filter((r) => r.status !== "pass") : report.rows;
  const header = ["name", "max abs", "max rel", "first bad", "result", "tolerance (atol, rtol)"];
  const body = rows.map((r) => [
    r.name,
    fmt(r.max_abs),
    fmt(r.max_rel),
    r.first_bad ? `[${r.first_bad.join(", ")}]` : "-",
    r.status === "pass" ? "pass" : r.status === "shape" ? "FAIL (shape)" : "FAIL",
    `${r.atol}, ${r.rtol}`,
  ]);
  if (body.length > 0) {
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
    lines.push(line(header), widths.map((w) => "-".repeat(w)).join("  "));
    for (const b of body) lines.push(line(b));
  }
  const passed = report.rows.filter((r) => r.status === "pass").length;
  lines.push(
    `${passed}/${report.rows.length} compared tensors pass${opts.only_failed ? " (passing rows hidden)" : ""}`,
  );
  if (report.missing.length > 0) {
    lines.push(`${report.missing.length} expected tensors are absent from the actual file:`);
    for (const n of report.missing.slice(0, 50)) lines.push(`  ${n}`);
    if (report.missing.length > 50) lines.push(`  ... and ${report.missing.length - 50} more`);
  }
  if (report.unknown.length > 0)
    lines.push(
      `${report.unknown.length} actual tensors have no golden counterpart (rename them with --map): ${report.unknown.slice(0, 5).join(", ")}${report.unknown.length > 5 ? ", ..." : ""}`,
    );
  if (report.rows.length === 0) lines.push("nothing was compared: no actual tensor name matches a fixture name");
  for (const h of report.hints) lines.push(`hint: ${h}`);
  lines.push(report.ok ? "PASS" : "FAIL");
  return lines.join("\n") + "\n";
}
