/**
 * AutoConfig (HF `models/auto/configuration_auto.py`): reads config.json and builds the config class its
 * `model_type` names. llama-ts implements one architecture, so the table has one row; any other model_type is a
 * ConfigError naming it, instead of a Llama config built from another model's fields.
 */
import { join } from "node:path";
import { CheckpointError, ConfigError } from "../../errors.ts";
import { FILE_LIMITS, readTextFileCheckedAsync } from "../../utils/safe_fs.ts";
import { CONFIG_FILES, resolve_pretrained, type HubOptions } from "../../hub/hub.ts";
import { LlamaConfig } from "../llama/configuration_llama.ts";

/** HF `CONFIG_MAPPING_NAMES`, restricted to what llama-ts implements. */
export const CONFIG_MAPPING: Record<string, typeof LlamaConfig> = { llama: LlamaConfig };

/**
 * The model_type of a raw config.json object. HF falls back to finding a known type inside the checkpoint's name
 * when the key is missing; here the `architectures` entry names it instead ("LlamaForCausalLM" -> "llama").
 */
export function modelTypeOf(raw: Record<string, unknown>, file: string): string {
  if (typeof raw.model_type === "string") return raw.model_type;
  const arch = Array.isArray(raw.architectures) ? raw.architectures[0] : undefined;
  if (typeof arch === "string" && arch.startsWith("Llama")) return "llama";
  throw new CheckpointError(
    file,
    "Unrecognized model: config.json has no `model_type` key (and no Llama architecture), so llama-ts cannot tell which model it is",
  );
}

/** The ConfigError for a model_type llama-ts does not implement. */
export function unsupportedModelType(model_type: string, file: string): ConfigError {
  return new ConfigError(
    "model_type",
    `${JSON.stringify(model_type)} (in ${file}) is not supported: llama-ts implements "llama" only (Llama 1/2/3 and their HF config variants)`,
  );
}

export class AutoConfig {
  private constructor() {}

  /** Read config.json of a folder or Hub id and build the config of its model_type. */
  static async from_pretrained(pathOrId: string, opts: HubOptions = {}): Promise<LlamaConfig> {
    const dir = await resolve_pretrained(pathOrId, CONFIG_FILES, opts);
    const file = join(dir, "config.json");
    let raw: unknown;
    try {
      raw = JSON.parse(await readTextFileCheckedAsync(file, FILE_LIMITS.config));
    } catch (e) {
      throw new CheckpointError(
        file,
        `cannot read as JSON (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
    }
    if (raw === null || typeof raw !== "object" || Array.isArray(raw))
      throw new CheckpointError(file, "expected a JSON object");
    const model_type = modelTypeOf(raw as Record<string, unknown>, file);
    const cls = Object.hasOwn(CONFIG_MAPPING, model_type) ? CONFIG_MAPPING[model_type] : undefined;
    if (!cls) throw unsupportedModelType(model_type, file);
    return cls.from_json_string(JSON.stringify({ ...(raw as object), model_type }), file);
  }

  /** HF `AutoConfig.for_model`: a fresh config of `model_type` with the given fields. */
  static for_model(model_type: string, kwargs: Record<string, unknown> = {}): LlamaConfig {
    const cls = Object.hasOwn(CONFIG_MAPPING, model_type) ? CONFIG_MAPPING[model_type] : undefined;
    if (!cls) throw unsupportedModelType(model_type, "AutoConfig.for_model");
    return new cls(kwargs);
  }
}
