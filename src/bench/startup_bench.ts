/**
 * CLI startup: how long `npx llama-ts --help` takes, wall clock from spawn to exit, side by side with a bare
 * `node -e ""` in the same run (the floor any Node CLI pays). Commands load their modules when they run (see
 * src/cli/main.ts), so --help costs the launcher plus the dispatch table, not the model code.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { measure, type Timing } from "./measure.ts";

export interface StartupRow {
  what: string;
  timing: Timing;
}

/** Package root: this file is src/bench/ (or dist/bench/) two folders below it. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export async function benchStartup(opts: { warmup: number; repeats: number }): Promise<StartupRow[]> {
  const npx = process.platform === "win32" ? "npx.cmd" : "npx";
  const jobs: [string, string, string[]][] = [
    ['node -e ""', process.execPath, ["-e", ""]],
    ["node bin/llama-ts.mjs --help", process.execPath, [join(ROOT, "bin", "llama-ts.mjs"), "--help"]],
    ["npx llama-ts --help", npx, ["llama-ts", "--help"]],
  ];
  const rows: StartupRow[] = [];
  for (const [what, cmd, args] of jobs) {
    const timing = await measure(
      () => {
        const r = spawnSync(cmd, args, { cwd: ROOT, stdio: "ignore" });
        if (r.status !== 0) throw new Error(`${what} exited with ${r.status}`);
      },
      { warmup: opts.warmup, repeats: opts.repeats },
    );
    rows.push({ what, timing });
  }
  return rows;
}
