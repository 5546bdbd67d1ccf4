/** vitest globalSetup: with LLAMA_TS_REQUIRE_REFERENCE=1 (CI), a missing ../shared/reference fails the run. */
import { REFERENCE_ROOT, checkReference } from "./reference.ts";

export default function setup(): void {
  const missing = checkReference();
  if (missing.length)
    console.warn(`${REFERENCE_ROOT} lacks ${missing.join(", ")}: the tests that need them skip, each saying why`);
}
