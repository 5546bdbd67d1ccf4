/**
 * AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification, ... (HF `models/auto/modeling_auto.py`):
 * read config.json, pick the class of its `model_type` for the task, load it. As in HF, the class follows the
 * task, not the checkpoint's `architectures`: AutoModel on a LlamaForCausalLM checkpoint gives a LlamaModel (the
 * head's weights are unused). When the checkpoint lacks the task's head (AutoModelForCausalLM on a classification
 * checkpoint) HF initializes it at random with a warning; llama-ts refuses, naming the checkpoint's architecture.
 */
import { join } from "node:path";
import { CheckpointError, ValueError } from "../../errors.ts";
import { MODEL_FILES, resolve_pretrained, split_hub_options } from "../../hub/hub.ts";
import type { FromPretrainedOptions, PreTrainedModel } from "../../modeling_utils.ts";
import { LlamaConfig } from "../llama/configuration_llama.ts";
import {
  LlamaForCausalLM,
  LlamaForQuestionAnswering,
  LlamaForSequenceClassification,
  LlamaForTokenClassification,
  LlamaModel,
} from "../llama/modeling_llama.ts";
import { AutoConfig, unsupportedModelType } from "./configuration_auto.ts";

type ModelClass = new (config: LlamaConfig, opts?: any) => PreTrainedModel;

/** A checkpoint's architecture fits a task when it has the task's head (or is the base model's, for AutoModel). */
function fitsTask(architecture: string, task: string): boolean {
  if (task === "AutoModel") return true;
  const head = task.replace(/^AutoModel/, "");
  return architecture.endsWith(head);
}

function makeAuto<M extends Record<string, ModelClass>>(name: string, mapping: M) {
  return class {
    /** HF `MODEL_..._MAPPING_NAMES` for this task: model_type -> class. */
    static readonly _model_mapping = mapping;

    /** Load the task's class for the checkpoint's model_type (options as the class's own from_pretrained). */
    static async from_pretrained(
      pathOrId: string,
      opts: FromPretrainedOptions & Record<string, unknown> = {},
    ): Promise<InstanceType<M[keyof M]>> {
      const [hub] = split_hub_options(opts);
      const dir = await resolve_pretrained(pathOrId, MODEL_FILES, hub);
      const config = await AutoConfig.from_pretrained(dir);
      const model_type = (config.constructor as typeof LlamaConfig).model_type;
      const cls = Object.hasOwn(mapping, model_type) ? mapping[model_type] : undefined;
      if (!cls) throw unsupportedModelType(model_type, join(dir, "config.json"));
      const archs = config.architectures ?? [];
      try {
        return (await (cls as any).from_pretrained(dir, opts)) as InstanceType<M[keyof M]>;
      } catch (e) {
        if (e instanceof CheckpointError && archs.length > 0 && !archs.some((a) => fitsTask(a, name))) {
          throw new CheckpointError(
            join(dir, "config.json"),
            `the checkpoint is a ${archs.join(", ")}, which has no weights for ${name} (${cls.name}): ${e.message}`,
          );
        }
        throw e;
      }
    }

    /** HF `from_config`: a fresh model with initialized weights (seeded) for a config. */
    static from_config(config: LlamaConfig, opts: { seed?: number } = {}): InstanceType<M[keyof M]> {
      if (!(config instanceof LlamaConfig)) throw new ValueError(`${name}.from_config: expected a LlamaConfig`);
      const model_type = (config.constructor as typeof LlamaConfig).model_type;
      const cls = Object.hasOwn(mapping, model_type) ? mapping[model_type] : undefined;
      if (!cls) throw unsupportedModelType(model_type, `${name}.from_config`);
      return new (cls as any)(config, opts) as InstanceType<M[keyof M]>;
    }
  };
}

export const AutoModel = makeAuto("AutoModel", { llama: LlamaModel });
export const AutoModelForCausalLM = makeAuto("AutoModelForCausalLM", { llama: LlamaForCausalLM });
export const AutoModelForSequenceClassification = makeAuto("AutoModelForSequenceClassification", {
  llama: LlamaForSequenceClassification,
});
export const AutoModelForQuestionAnswering = makeAuto("AutoModelForQuestionAnswering", {
  llama: LlamaForQuestionAnswering,
});
export const AutoModelForTokenClassification = makeAuto("AutoModelForTokenClassification", {
  llama: LlamaForTokenClassification,
});
