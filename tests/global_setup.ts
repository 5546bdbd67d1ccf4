/**
 * vitest globalSetup, once per run:
 *   - with LLAMA_TS_REQUIRE_REFERENCE=1 (CI), a missing ../shared/reference fails the run (tests/reference.ts);
 *   - dist/ (what bin/llama-ts.mjs runs) is rebuilt when a source file is newer than the last build, so the tests
 *     that run the installed command see the current sources. The rebuild is incremental (a few seconds).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync, utimesSync } from "node:fs";
import { join, resolve } from "node:path";
import { REFERENCE_ROOT, checkReference } from "./reference.ts";

const ROOT = resolve(import.meta.dirname, "..");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

export default function setup(): void {
  const missing = checkReference();
  if (missing.length)
    console.warn(`${REFERENCE_ROOT} lacks ${missing.join(", ")}: the tests that need them skip, each saying why`);
  const stamp = join(ROOT, "dist", ".tsbuildinfo");
  if (!existsSync(stamp) || newestMtime(join(ROOT, "src")) > statSync(stamp).mtimeMs) {
    console.warn("dist/ is older than src/: rebuilding it (scripts/build.mjs --incremental)");
    execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs"), "--incremental"], { stdio: "inherit" });
    // tsc leaves its build info untouched when no output changed (a file saved unchanged): mark the build done.
    const now = new Date();
    utimesSync(stamp, now, now);
  }
}
