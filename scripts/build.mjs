// Builds dist/, what the published package runs: `tsc -p tsconfig.build.json` (ES modules, .d.ts, declaration
// and source maps; `.ts` import specifiers rewritten to `.js`), then the files under src/ that tsc does not emit
// (WebAssembly modules, worker scripts, hand-written .d.ts) copied beside the compiled modules that load them by
// URL. `--incremental` keeps dist/ and recompiles what changed (the test suite's setup); the default starts clean
// (npm run build, run by `prepare`, so by `npm pack`).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const dist = join(root, "dist");
if (!process.argv.includes("--incremental")) rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });

const isCompiled = (name) => name.endsWith(".ts") && !name.endsWith(".d.ts");
function copyAssets(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const from = join(dir, entry.name);
    if (entry.isDirectory()) copyAssets(from);
    else if (!isCompiled(entry.name)) {
      const to = join(dist, relative(src, from));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(from, to);
    }
  }
}
copyAssets(src);
