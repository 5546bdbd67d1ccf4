/**
 * Test helpers exported with the package: fast-check arbitraries (configs, seeded models, token batches with
 * padding, Unicode text, matmul problems) and tensor comparison with tolerances.
 */
export * from "./arbitraries.ts";
export * from "./compare.ts";
