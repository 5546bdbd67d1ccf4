/**
 * A small SVG plotting helper for the notebooks: line chart, heatmap, bar chart, each with axes, tick labels,
 * a title and axis labels. Output is deterministic (numbers printed with fixed precision, no ids or dates), so a
 * re-run of a notebook rewrites byte-identical files and a test can detect stale figures.
 *
 * Every series is one SVG group `<g class="series" data-name="...">`; a line series holds one `<polyline>`,
 * a bar series one `<rect class="bar">` per bar, a heatmap one `<rect class="cell">` per cell. Tests count those.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const W = 640;
const H = 360;
const M = { left: 64, right: 150, top: 36, bottom: 48 };
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

export interface Series {
  name: string;
  x?: number[];
  y: number[];
}
export interface Axes {
  title: string;
  xlabel: string;
  ylabel: string;
  logy?: boolean;
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : Number(v.toPrecision(3)).toString());
const num = (v: number) => v.toFixed(2);
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Five "nice" ticks spanning [lo, hi]. */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (lo === hi) return [lo];
  const step = (hi - lo) / (n - 1);
  return Array.from({ length: n }, (_, i) => lo + i * step);
}

function frame(a: Axes, xt: [number, string][], yt: [number, string][], body: string, legend: string[]): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text class="title" x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(a.title)}</text>`,
    `<g class="axes">`,
    `<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="black"/>`,
  ];
  for (const [px, label] of xt)
    out.push(`<text class="xtick" x="${num(px)}" y="${M.top + ph + 14}" text-anchor="middle">${esc(label)}</text>`);
  for (const [py, label] of yt)
    out.push(`<text class="ytick" x="${M.left - 4}" y="${num(py + 4)}" text-anchor="end">${esc(label)}</text>`);
  out.push(
    `<text class="xlabel" x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(a.xlabel)}</text>`,
    `<text class="ylabel" transform="translate(14 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(a.ylabel)}</text>`,
    `</g>`,
    body,
  );
  legend.forEach((name, i) => {
    const y = M.top + 8 + i * 16;
    out.push(
      `<g class="legend"><rect x="${W - M.right + 10}" y="${y - 8}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>` +
        `<text x="${W - M.right + 24}" y="${y + 1}">${esc(name)}</text></g>`,
    );
  });
  out.push(`</svg>`, "");
  return out.join("\n");
}

function range(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo === hi) return [lo - 1, hi + 1];
  return [lo, hi];
}

/** Line chart: one polyline per series; x defaults to 0..n-1; `logy` plots log10(y) (y must be > 0). */
export function lineChart(series: Series[], a: Axes): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const ty = (v: number) => (a.logy ? Math.log10(v) : v);
  const xs = series.map((s) => s.x ?? s.y.map((_, i) => i));
  const [x0, x1] = range(xs.flat());
  const [y0, y1] = range(series.flatMap((s) => s.y.map(ty)));
  const px = (v: number) => M.left + ((v - x0) / (x1 - x0)) * pw;
  const py = (v: number) => M.top + ph - ((ty(v) - y0) / (y1 - y0)) * ph;
  const body = series
    .map((s, i) => {
      const pts = s.y.map((v, j) => `${num(px(xs[i][j]))},${num(py(v))}`).join(" ");
      return `<g class="series" data-name="${esc(s.name)}"><polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5" points="${pts}"/></g>`;
    })
    .join("\n");
  const xt = ticks(x0, x1).map((v): [number, string] => [px(v), fmt(v)]);
  const yt = ticks(y0, y1).map((v): [number, string] => [
    M.top + ph - ((v - y0) / (y1 - y0)) * ph,
    a.logy ? `1e${fmt(v)}` : fmt(v),
  ]);
  return frame(
    a,
    xt,
    yt,
    body,
    series.map((s) => s.name),
  );
}

/** Bar chart: one group of bars per series, side by side at each category. */
export function barChart(categories: string[], series: Series[], a: Axes): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const [lo, hi] = range([0, ...series.flatMap((s) => s.y)]);
  const py = (v: number) => M.top + ph - ((v - lo) / (hi - lo)) * ph;
  const slot = pw / categories.length;
  const bw = (slot * 0.8) / series.length;
  const body = series
    .map((s, i) => {
      const rects = s.y.map((v, j) => {
        const x = M.left + j * slot + slot * 0.1 + i * bw;
        const top = Math.min(py(v), py(0));
        return `<rect class="bar" x="${num(x)}" y="${num(top)}" width="${num(bw)}" height="${num(Math.abs(py(v) - py(0)))}" fill="${COLORS[i % COLORS.length]}"/>`;
      });
      return `<g class="series" data-name="${esc(s.name)}">${rects.join("")}</g>`;
    })
    .join("\n");
  const xt = categories.map((c, j): [number, string] => [M.left + (j + 0.5) * slot, c]);
  const yt = ticks(lo, hi).map((v): [number, string] => [py(v), fmt(v)]);
  return frame(a, xt, yt, body, series.length > 1 ? series.map((s) => s.name) : []);
}

/** Heatmap of a rows x cols matrix (row 0 on top), white (min) to blue (max); non-finite cells are grey. */
export function heatmap(name: string, matrix: number[][], a: Axes): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const rows = matrix.length;
  const cols = matrix[0]?.length ?? 0;
  const [lo, hi] = range(matrix.flat());
  const cw = pw / cols;
  const ch = ph / rows;
  const cells: string[] = [];
  matrix.forEach((row, r) =>
    row.forEach((v, c) => {
      let fill = "#cccccc";
      if (Number.isFinite(v)) {
        const t = (v - lo) / (hi - lo);
        const ch8 = (k: number) => Math.round(255 - t * (255 - k));
        fill = `rgb(${ch8(8)},${ch8(48)},${ch8(107)})`;
      }
      cells.push(
        `<rect class="cell" x="${num(M.left + c * cw)}" y="${num(M.top + r * ch)}" width="${num(cw)}" height="${num(ch)}" fill="${fill}"/>`,
      );
    }),
  );
  const body = `<g class="series" data-name="${esc(name)}">${cells.join("")}</g>`;
  const xt = Array.from({ length: cols }, (_, c): [number, string] => [M.left + (c + 0.5) * cw, String(c)]);
  const yt = Array.from({ length: rows }, (_, r): [number, string] => [M.top + (r + 0.5) * ch, String(r)]);
  const legend = `<text class="scale" x="${W - M.right + 10}" y="${M.top + 8}">white = ${fmt(lo)}</text><text class="scale" x="${W - M.right + 10}" y="${M.top + 24}">blue = ${fmt(hi)}</text>`;
  return frame(a, xt, yt, body + "\n" + legend, []);
}

/**
 * Writes `svg` to notebooks/figures/<file> and prints the Markdown image link; the runner passes that line
 * through to the rendered .md, so the figure appears under the cell that drew it. NOTEBOOK_FIGURES_DIR redirects
 * the files (the staleness test writes them to a scratch folder and compares).
 */
export function show(file: string, svg: string): void {
  const dir = process.env.NOTEBOOK_FIGURES_DIR || join(import.meta.dirname, "..", "figures");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), svg);
  console.log(`![${file}](figures/${file})`);
}
