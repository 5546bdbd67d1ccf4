/**
 * The import graph of src/ keeps HF's layering (read from the sources with the TypeScript parser):
 *   - no import cycles (static imports and re-exports, type-only ones included; a lazy `import()` is not a cycle);
 *   - the tokenizer engines (src/tokenizers, HF's Rust `tokenizers`) import nothing from the transformers-layer
 *     tokenizer classes (src/tokenization_*.ts, src/convert_slow_tokenizer.ts) nor from a model family;
 *   - the generic layers (configuration_utils, modeling_utils, rope/cache utils, the tokenizer classes, tensors,
 *     ops, nn, formats, generation, backends) import no model family (src/models/), lazily or not;
 *   - the package entries src/index.ts and src/golden/index.ts load, through their static imports, only packages
 *     listed in package.json `dependencies` (so they import without fast-check or any devDependency installed);
 *     src/testing/index.ts adds only fast-check, its peer dependency.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");

interface Edge {
  from: string;
  /** A repository-relative path, or a package name for a bare specifier. */
  to: string;
  lazy: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** "@scope/name/sub" -> "@scope/name", "name/sub" -> "name". */
function packageName(spec: string): string {
  return spec
    .split("/")
    .slice(0, spec.startsWith("@") ? 2 : 1)
    .join("/");
}

/** The packages `entry` loads through static imports, transitively. */
function staticPackages(entry: string, edges: Edge[]): Set<string> {
  const seen = new Set<string>([entry]);
  const packages = new Set<string>();
  const queue = [entry];
  while (queue.length) {
    const file = queue.pop()!;
    for (const e of edges) {
      if (e.from !== file || e.lazy) continue;
      if (!e.to.startsWith("src/")) packages.add(e.to);
      else if (!seen.has(e.to)) {
        seen.add(e.to);
        queue.push(e.to);
      }
    }
  }
  return packages;
}

/** Every relative import of every file under src/, as repository-relative paths. */
function importGraph(): { files: string[]; edges: Edge[] } {
  const files = sourceFiles(join(ROOT, "src"));
  const edges: Edge[] = [];
  for (const file of files) {
    const from = relative(ROOT, file);
    const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const add = (spec: string, lazy: boolean) => {
      if (spec.startsWith(".")) edges.push({ from, to: relative(ROOT, resolve(dirname(file), spec)), lazy });
      else if (!spec.startsWith("node:")) edges.push({ from, to: packageName(spec), lazy });
    };
    const visit = (node: ts.Node) => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
        add((node.moduleSpecifier as ts.StringLiteral).text, false);
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments.length === 1 &&
        ts.isStringLiteralLike(node.arguments[0])
      ) {
        add(node.arguments[0].text, true);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { files: files.map((f) => relative(ROOT, f)), edges };
}

/** The cycles of the static graph, each as the list of files around it (Tarjan's strongly connected components). */
function cycles(files: string[], edges: Edge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) if (!e.lazy && next.has(e.to)) next.get(e.from)!.push(e.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let counter = 0;
  const strong = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (next.get(v) ?? []).includes(v)) out.push(component.sort());
    }
  };
  for (const f of files) if (!index.has(f)) strong(f);
  return out;
}

const TRANSFORMERS_TOKENIZER_LAYER = /^src\/(tokenization_[a-z_]+|convert_slow_tokenizer)\.ts$/;
const GENERIC =
  /^src\/((configuration_utils|modeling_utils|modeling_rope_utils|cache_utils|errors|tokenization_[a-z_]+|convert_slow_tokenizer)\.ts|(tokenizers|tensor|ops|nn|formats|generation|backends|utils)\/)/;

describe("import graph of src/", () => {
  const { files, edges } = importGraph();

  it("reads the graph (sanity: known edges are found)", () => {
    expect(files).toContain("src/modeling_utils.ts");
    expect(edges).toContainEqual({
      from: "src/models/llama/modeling_llama.ts",
      to: "src/modeling_utils.ts",
      lazy: false,
    });
  });

  it("has no import cycle", () => {
    expect(cycles(files, edges)).toEqual([]);
  });

  it("the tokenizer engines import no transformers-layer tokenizer class and no model family", () => {
    const bad = edges.filter(
      (e) =>
        e.from.startsWith("src/tokenizers/") &&
        (TRANSFORMERS_TOKENIZER_LAYER.test(e.to) || e.to.startsWith("src/models/")),
    );
    expect(bad).toEqual([]);
  });

  it("the generic layers import no model family", () => {
    const generic = files.filter((f) => GENERIC.test(f));
    expect(generic).toEqual(expect.arrayContaining(["src/configuration_utils.ts", "src/modeling_utils.ts"]));
    const bad = edges.filter((e) => GENERIC.test(e.from) && e.to.startsWith("src/models/"));
    expect(bad).toEqual([]);
  });

  it("llama-ts and llama-ts/golden load only runtime dependencies; llama-ts/testing adds only fast-check", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const runtime = Object.keys(pkg.dependencies ?? {});
    const main = [...staticPackages("src/index.ts", edges)];
    expect(main.filter((p) => !runtime.includes(p))).toEqual([]);
    expect([...staticPackages("src/golden/index.ts", edges)].filter((p) => !runtime.includes(p))).toEqual([]);
    const testing = [...staticPackages("src/testing/index.ts", edges)];
    expect(testing.filter((p) => !runtime.includes(p))).toEqual(["fast-check"]);
    expect(Object.keys(pkg.peerDependencies ?? {})).toContain("fast-check");
    expect(pkg.peerDependenciesMeta?.["fast-check"]?.optional).toBe(true);
  });

  it("detects a cycle and a layering break when one exists (the checks can fail)", () => {
    const extra: Edge[] = [
      { from: "src/modeling_utils.ts", to: "src/models/llama/modeling_llama.ts", lazy: false },
      { from: "src/tokenizers/bpe.ts", to: "src/tokenization_utils_base.ts", lazy: false },
    ];
    expect(cycles(files, [...edges, ...extra]).length).toBeGreaterThan(0);
    expect(extra.filter((e) => GENERIC.test(e.from) && e.to.startsWith("src/models/"))).toHaveLength(1);
    expect(
      extra.filter((e) => e.from.startsWith("src/tokenizers/") && TRANSFORMERS_TOKENIZER_LAYER.test(e.to)),
    ).toHaveLength(1);
  });
});
