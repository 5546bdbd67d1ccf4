/**
 * `llama-ts/golden`: golden fixtures for other ports. Write them (`writeGolden`, the `golden` command), read a
 * folder (`readGolden`), replay its cases on a model (`replayGolden`) and compare tensors (`verifyTensors`, the
 * `verify` command). See golden/README.md for the layout, naming rule and tolerances.
 */
export { writeGolden } from "./writer.ts";
export type { GoldenOptions, GoldenSummary } from "./writer.ts";
export { readGolden, replayGolden } from "./replay.ts";
export type { Golden, ReplayOptions } from "./replay.ts";
export {
  verifyTensors,
  verifyGoldenFile,
  compareFixture,
  formatReport,
  parseRenameRules,
  readRenameRules,
} from "./verify.ts";
export type { VerifyReport, VerifyRow, RenameRules } from "./verify.ts";
export { captureModules, runCase, namedInputs, namedOutputs } from "./capture.ts";
export type { Captured, CaseTensor, CaseModel } from "./capture.ts";
export { GOLDEN_PRESETS } from "./presets.ts";
export type { GoldenPreset, GoldenHead, WeightsDType } from "./presets.ts";
export { GOLDEN_SCHEMA_VERSION, GOLDEN_TOLERANCES, NAMING_RULE } from "./manifest.ts";
export type { Manifest, ManifestCase, ManifestTensor, TensorAxes } from "./manifest.ts";
export { metaRowSources } from "./meta_layout.ts";
export { TOKENIZER_TEXTS } from "./tokenizer_cases.ts";
