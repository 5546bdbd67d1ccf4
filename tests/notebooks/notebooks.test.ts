/**
 * The notebooks execute top to bottom, their stored Markdown and SVG figures are current (a re-run reproduces
 * them byte for byte), and every figure is well-formed XML holding the series its notebook draws.
 * Expected series counts below come from the notebooks' own definitions (e.g. 5 rope_scaling types x 32 pairs
 * for head_dim 64), written out by hand.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NOTEBOOK_DIR, executeNotebook, listNotebooks, mdPath, parseCells, render } from "../../notebooks/run.ts";
import { barChart, heatmap, lineChart } from "../../notebooks/lib/plot.ts";

const FIGURES = join(NOTEBOOK_DIR, "figures");

/** Minimal XML well-formedness check: balanced, properly nested tags, quoted attributes, known entities only. */
function checkWellFormed(xml: string): string | null {
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*"[^"<]*")*)\s*(\/?)>|<\?[^>]*\?>|<!--[\s\S]*?-->|<|&/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(xml))) {
    if (m[0] === "<") return `stray '<' at ${m.index}`;
    if (m[0] === "&") {
      if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/.test(xml.slice(m.index))) return `bad entity at ${m.index}`;
      continue;
    }
    if (!m[2]) continue;
    const names = [...m[3].matchAll(/([\w:.-]+)\s*=/g)].map((a) => a[1]);
    if (new Set(names).size !== names.length) return `duplicate attribute in <${m[2]}>`;
    for (const v of m[3].matchAll(/"([^"]*)"/g))
      if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(v[1])) return `bad entity in attribute of <${m[2]}>`;
    if (m[1]) {
      if (stack.pop() !== m[2]) return `unbalanced </${m[2]}> at ${m.index}`;
    } else if (!m[4]) stack.push(m[2]);
    if (stack.length === 0 && m[1] && xml.slice(re.lastIndex).trim() !== "") return "content after the root element";
  }
  return stack.length ? `unclosed <${stack[stack.length - 1]}>` : null;
}

/** series name -> number of drawn elements (polyline points, bars, or cells). */
function seriesOf(svg: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const g of svg.matchAll(/<g class="series" data-name="([^"]*)">([\s\S]*?)<\/g>/g)) {
    const body = g[2];
    const poly = /points="([^"]*)"/.exec(body);
    const n = poly ? poly[1].trim().split(/\s+/).length : (body.match(/<rect /g) ?? []).length;
    out.set(g[1], n);
  }
  return out;
}

describe("SVG plotting helper", () => {
  it("produces well-formed XML, with escaped labels", () => {
    const svg = lineChart([{ name: "a<b & c", y: [1, 2, 3] }], { title: 'x "y"', xlabel: "x", ylabel: "y" });
    expect(checkWellFormed(svg)).toBeNull();
    expect(seriesOf(svg)).toEqual(new Map([["a&lt;b &amp; c", 3]]));
    expect(checkWellFormed("<svg><g></svg>")).not.toBeNull(); // the checker itself rejects bad nesting
    expect(checkWellFormed('<svg a="1 & 2"/>')).not.toBeNull();
  });
  it("places a line's points by closed-form scaling", () => {
    // plot box: x from 64 to 490, y from 36 (top) to 312 (bottom); data x 0..2, y 0..10
    const svg = lineChart([{ name: "s", x: [0, 1, 2], y: [0, 5, 10] }], { title: "t", xlabel: "x", ylabel: "y" });
    expect(/points="([^"]*)"/.exec(svg)![1]).toBe("64.00,312.00 277.00,174.00 490.00,36.00");
  });
  it("draws one bar per category and series, and one cell per matrix entry", () => {
    const bars = barChart(
      ["a", "b", "c"],
      [
        { name: "p", y: [1, -1, 2] },
        { name: "q", y: [0, 1, 1] },
      ],
      { title: "t", xlabel: "x", ylabel: "y" },
    );
    expect(seriesOf(bars)).toEqual(
      new Map([
        ["p", 3],
        ["q", 3],
      ]),
    );
    const hm = heatmap(
      "m",
      [
        [0, 1],
        [Number.NEGATIVE_INFINITY, 0.5],
      ],
      { title: "t", xlabel: "x", ylabel: "y" },
    );
    expect(checkWellFormed(hm)).toBeNull();
    expect(seriesOf(hm)).toEqual(new Map([["m", 4]]));
    expect(hm).toContain('fill="#cccccc"'); // the non-finite cell is grey
  });
});

describe("notebook format", () => {
  it("splits percent-format cells into markdown and code", () => {
    const cells = parseCells("// %% [markdown]\n// # Title\n// text\n\n// %%\nconst a = 1;\nconsole.log(a);\n");
    expect(cells).toEqual([
      { kind: "markdown", source: "// # Title\n// text" },
      { kind: "code", source: "const a = 1;\nconsole.log(a);" },
    ]);
  });
});

const EXPECTED_FIGURES: Record<string, Record<string, number>> = {
  "01_pieces_per_word.svg": { pieces: 5 },
  "02_rope_frequencies.svg": { default: 32, "linear x4": 32, "dynamic x4 @16384": 32, "yarn x4": 32, "llama3 x8": 32 },
  "02_rope_qk_distance.svg": { "q at 0": 256, "q at 100": 156 },
  "03_attention_head0.svg": { "head 0": 64 },
  "03_attention_head1.svg": { "head 1": 64 },
  "03_attention_head2.svg": { "head 2": 64 },
  "03_attention_head3.svg": { "head 3": 64 },
  "04_silu.svg": { "silu(z)": 81, "relu(z)": 81 },
  "04_residual_norms.svg": { "mean RMS": 5 },
  "05_logits_processors.svg": Object.fromEntries(
    ["none", "temperature 0.5", "temperature 2", "top_k 3", "top_p 0.8", "min_p 0.2", "repetition 2"].map((n) => [
      n,
      8,
    ]),
  ),
};

describe("notebooks", () => {
  let scratch = "";
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "notebook-figures-"));
    process.env.NOTEBOOK_FIGURES_DIR = scratch;
  });
  afterAll(() => {
    delete process.env.NOTEBOOK_FIGURES_DIR;
    rmSync(scratch, { recursive: true, force: true });
  });

  const files = listNotebooks();
  it("there are at least six", () => expect(files.length).toBeGreaterThanOrEqual(6));

  for (const file of files) {
    it(`${basename(file)} executes and its stored Markdown is current`, { timeout: 60_000 }, () => {
      const md = render(file, executeNotebook(file)); // throws, naming the cell, if the notebook fails
      expect(md, `${basename(mdPath(file))} is stale: run \`npm run notebooks\``).toBe(
        readFileSync(mdPath(file), "utf8"),
      );
      for (const link of md.matchAll(/!\[[^\]]*\]\(figures\/([^)]+)\)/g)) {
        const fresh = readFileSync(join(scratch, link[1]), "utf8");
        expect(fresh, `figures/${link[1]} is stale: run \`npm run notebooks\``).toBe(
          readFileSync(join(FIGURES, link[1]), "utf8"),
        );
      }
    });
  }

  it("every stored figure is linked from a notebook, well-formed, labelled, and holds the expected series", () => {
    const linked = new Set(
      files.flatMap((f) =>
        [...readFileSync(mdPath(f), "utf8").matchAll(/\(figures\/([^)]+\.svg)\)/g)].map((m) => m[1]),
      ),
    );
    const stored = readdirSync(FIGURES)
      .filter((f) => f.endsWith(".svg"))
      .sort();
    expect(stored).toEqual([...linked].sort());
    expect(Object.keys(EXPECTED_FIGURES).sort()).toEqual(stored);
    for (const name of stored) {
      const svg = readFileSync(join(FIGURES, name), "utf8");
      expect(checkWellFormed(svg), name).toBeNull();
      expect(svg, name).toMatch(/<text class="xlabel"[^>]*>[^<]+<\/text>/);
      expect(svg, name).toMatch(/<text class="ylabel"[^>]*>[^<]+<\/text>/);
      expect(svg, name).toMatch(/<text class="title"[^>]*>[^<]+<\/text>/);
      expect(Object.fromEntries(seriesOf(svg)), name).toEqual(EXPECTED_FIGURES[name]);
    }
  });
});
