/**
 * AutoTokenizer (HF `models/auto/tokenization_auto.py`): the tokenizer class named by tokenizer_config.json's
 * `tokenizer_class`, else by config.json's model_type; the fast class unless `use_fast: false`, as in HF.
 * llama-ts has Llama's two classes; another class name is a TokenizerError naming it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { TokenizerError, ValueError } from "../../errors.ts";
import { FILE_LIMITS, readTextFileChecked } from "../../utils/safe_fs.ts";
import { resolve_pretrained, split_hub_options, TOKENIZER_FILES, type HubOptions } from "../../hub/hub.ts";
import { LlamaTokenizer, type LlamaTokenizerKwargs } from "../llama/tokenization_llama.ts";
import { LlamaTokenizerFast, type LlamaTokenizerFastKwargs } from "../llama/tokenization_llama_fast.ts";

/** HF `TOKENIZER_MAPPING_NAMES` rows llama-ts implements: class name -> [slow, fast]. */
const TOKENIZER_CLASSES: Record<string, [typeof LlamaTokenizer | null, typeof LlamaTokenizerFast | null]> = {
  LlamaTokenizer: [LlamaTokenizer, LlamaTokenizerFast],
  LlamaTokenizerFast: [LlamaTokenizer, LlamaTokenizerFast],
  // Code Llama ships tokenizer_class CodeLlamaTokenizer over Llama's files; its infilling extras are not implemented.
};

export type AutoTokenizerOptions = (LlamaTokenizerKwargs | LlamaTokenizerFastKwargs) &
  HubOptions & {
    /** Pick the fast (tokenizer.json) class when there is one (default true, as HF). */
    use_fast?: boolean;
  };

function readJson(file: string): Record<string, unknown> | null {
  if (!existsSync(file)) return null;
  try {
    const v = JSON.parse(readTextFileChecked(file, FILE_LIMITS.tokenizer_config));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v : null;
  } catch {
    return null; // the tokenizer class reads it again and reports what is wrong
  }
}

export class AutoTokenizer {
  private constructor() {}

  static async from_pretrained(
    pathOrId: string,
    options: AutoTokenizerOptions = {},
  ): Promise<LlamaTokenizer | LlamaTokenizerFast> {
    const [hub, rest] = split_hub_options(options);
    const { use_fast = true, ...kwargs } = rest as AutoTokenizerOptions;
    if (typeof use_fast !== "boolean")
      throw new ValueError(`use_fast: expected a boolean, got ${JSON.stringify(use_fast)}`);
    const dir = await resolve_pretrained(pathOrId, TOKENIZER_FILES, hub);
    const tokConfig = readJson(join(dir, "tokenizer_config.json"));
    let className = typeof tokConfig?.tokenizer_class === "string" ? tokConfig.tokenizer_class : null;
    if (className === null) {
      const model_type = readJson(join(dir, "config.json"))?.model_type;
      if (model_type === undefined || model_type === "llama") className = "LlamaTokenizer";
      else
        throw new TokenizerError(
          join(dir, "config.json"),
          `model_type ${JSON.stringify(model_type)} has no tokenizer in llama-ts (Llama's only)`,
        );
    }
    const pair = Object.hasOwn(TOKENIZER_CLASSES, className) ? TOKENIZER_CLASSES[className] : undefined;
    if (!pair)
      throw new TokenizerError(
        join(dir, "tokenizer_config.json"),
        `tokenizer_class ${JSON.stringify(className)} is not implemented by llama-ts (LlamaTokenizer and LlamaTokenizerFast are)`,
      );
    const [slow, fast] = pair;
    const haveJson = existsSync(join(dir, "tokenizer.json"));
    const haveModel = existsSync(join(dir, "tokenizer.model"));
    // HF: the fast class when use_fast and it can be built (tokenizer.json, or converted from tokenizer.model).
    if (use_fast && fast && (haveJson || haveModel))
      return fast.from_pretrained(dir, kwargs as LlamaTokenizerFastKwargs);
    if (slow && haveModel) return slow.from_pretrained(dir, kwargs as LlamaTokenizerKwargs);
    if (fast && haveJson) return fast.from_pretrained(dir, kwargs as LlamaTokenizerFastKwargs);
    throw new TokenizerError(dir, "neither tokenizer.json nor tokenizer.model found");
  }
}
