/**
 * Where the tests find ../shared/reference (HF-made ground truth). On a user's machine the folder may be
 * absent: the tests that need it skip, and say why. CI sets LLAMA_TS_REQUIRE_REFERENCE=1 (.ci/run), which
 * turns an absent folder into a failure, so CI can never pass by skipping.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const REFERENCE_ROOT = resolve(process.cwd(), "../shared/reference");

/** `../shared/reference/<sub>` if it exists; otherwise null after printing why `what` is skipped. */
export function referenceDir(sub: string, what: string): string | null {
  const dir = join(REFERENCE_ROOT, sub);
  if (existsSync(dir)) return dir;
  if (process.env.LLAMA_TS_REQUIRE_REFERENCE === "1")
    throw new Error(`${dir} is absent and LLAMA_TS_REQUIRE_REFERENCE=1: ${what} cannot be skipped`);
  console.warn(`skipping ${what}: ${dir} is absent`);
  return null;
}
