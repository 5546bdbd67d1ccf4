// Type-checks against the published declarations (tsc --noEmit, strict, NodeNext): the types are real, not any.
import {
  LlamaConfig,
  LlamaForCausalLM,
  LlamaTokenizerFast,
  Tensor,
  type CausalLMOutputWithPast,
  type LlamaConfigFields,
} from "llama-ts";
import { assertClose, llamaConfigArb, type Tolerance } from "llama-ts/testing";

export async function run(dir: string): Promise<number[]> {
  const config: LlamaConfig = await LlamaConfig.from_pretrained(dir);
  const fields: Partial<LlamaConfigFields> = { vocab_size: config.vocab_size, hidden_size: 32 };
  const model = await LlamaForCausalLM.from_pretrained(dir, { torch_dtype: "auto" });
  const tokenizer = await LlamaTokenizerFast.from_pretrained(dir);
  const out: CausalLMOutputWithPast = model.forward({ input_ids: [tokenizer.encode("hi")] });
  const logits: Tensor = out.logits;
  const tol: Tolerance = { atol: 1e-4, rtol: 1e-4 };
  assertClose(logits, logits, tol);
  void llamaConfigArb({ fields });
  // @ts-expect-error: torch_dtype is a closed set of strings
  await LlamaForCausalLM.from_pretrained(dir, { torch_dtype: "float64" });
  // @ts-expect-error: forward takes an options object
  model.forward([[1, 2]]);
  return logits.shape;
}
