/**
 * The seed's pad-token tip, executable: `npx tsx examples/pad_token.ts`
 *
 * > The original model uses pad_id = -1 which means that there is no padding token. We can't have the same logic,
 * > make sure to add a padding token using tokenizer.add_special_tokens({"pad_token":"<pad>"}) and resize the token
 * > embedding accordingly. You should also set the model.config.pad_token_id. The embed_tokens layer of the model
 * > is initialized with self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size,
 * > self.config.padding_idx), which makes sure that encoding the padding token will output zeros, so passing it
 * > when initializing is recommended.
 *
 * What HF 4.44 actually does, step by step (and llama-ts with it):
 *   1. `add_special_tokens({pad_token: "<pad>"})` appends "<pad>" to the 32,000-token vocabulary: id 32000.
 *   2. `resize_token_embeddings(len(tokenizer))` adds one row to embed_tokens (and to an untied lm_head), drawn
 *      like any new weight (normal, std initializer_range); the old rows are kept bit for bit.
 *   3. `model.config.pad_token_id = 32000` records the id (generation, sequence classification and the tokenizer's
 *      padding read it) but does NOT touch the embedding: padding_idx is read once, when embed_tokens is built.
 *      So after steps 1-3 the "<pad>" row is a random vector, not zeros. HF quirk kept.
 *   4. Hence the tip's last sentence: pass the pad id when the model is built (config.pad_token_id before
 *      construction), and embed_tokens gets padding_idx = 32000, whose row is initialized to zeros.
 * Either way, padded positions are masked out by attention_mask, so the logits of the real tokens do not depend
 * on the pad row's values (checked below on a left-padded batch).
 */
import { LlamaConfig } from "../src/models/llama/configuration_llama.ts";
import { loadDefaultTokenizer } from "../src/models/llama/default_tokenizer.ts";
import { LlamaForCausalLM } from "../src/models/llama/modeling_llama.ts";

/** A small random-weight Llama with the Llama 2 vocabulary (the tip is about shapes and ids, not trained values). */
export function smallLlama2Config(extra: Record<string, unknown> = {}): LlamaConfig {
  return new LlamaConfig({
    vocab_size: 32000,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
    initializer_range: 0.5, // large random weights, so that a wrong mask would show in the logits
    ...extra,
  });
}

export interface PadTokenTipResult {
  added: number;
  pad_token_id: number;
  vocab_size: number;
  /** Largest |value| of the "<pad>" row after resize + config.pad_token_id (random init: not 0). */
  padRowAbsMaxAfterResize: number;
  /** Largest |value| of the "<pad>" row when the model is built with pad_token_id (padding_idx: 0). */
  padRowAbsMaxBuiltWithPad: number;
  /** Largest |logit difference| of "Hi" alone vs "Hi" left-padded next to a longer text. */
  paddedVsAloneMaxDiff: number;
  /** The same comparison when the pads are not masked (control: must be large). */
  unmaskedMaxDiff: number;
}

/** Largest |difference| between the logits of row `row` of a left-padded batch and those of the text alone. */
function maxDiffLeftPadded(padded: Float32Array, T: number, row: number, single: Float32Array, n: number, V: number) {
  let d = 0;
  for (let t = 0; t < n; t++)
    for (let v = 0; v < V; v++) d = Math.max(d, Math.abs(padded[(row * T + (T - n) + t) * V + v] - single[t * V + v]));
  return d;
}

export function padTokenTip(log: (line: string) => void = () => {}): PadTokenTipResult {
  const tokenizer = loadDefaultTokenizer();
  const model = new LlamaForCausalLM(smallLlama2Config(), { seed: 0 });
  log(`len(tokenizer) = ${tokenizer.length}, pad_token = ${tokenizer.pad_token}`);

  // 1. add the pad token
  const added = tokenizer.add_special_tokens({ pad_token: "<pad>" });
  const pad_token_id = tokenizer.pad_token_id!;
  log(`add_special_tokens -> ${added} added, pad_token_id = ${pad_token_id}, len(tokenizer) = ${tokenizer.length}`);

  // 2. resize the embeddings to the tokenizer
  model.resize_token_embeddings(tokenizer.length);
  // 3. record the pad id in the config
  model.config.pad_token_id = pad_token_id;
  const D = model.config.hidden_size;
  const rowMax = (m: LlamaForCausalLM) =>
    Math.max(
      ...m.model.embed_tokens.weight
        .toFloat32()
        .subarray(pad_token_id * D, (pad_token_id + 1) * D)
        .map(Math.abs),
    );
  const padRowAbsMaxAfterResize = rowMax(model);
  log(
    `after resize: vocab_size = ${model.config.vocab_size}, embed_tokens.padding_idx = ${model.model.embed_tokens.padding_idx}, |<pad> row|max = ${padRowAbsMaxAfterResize.toFixed(4)}`,
  );

  // 4. the recommended way: the pad id is known when embed_tokens is built
  const built = new LlamaForCausalLM(smallLlama2Config({ vocab_size: tokenizer.length, pad_token_id }), { seed: 0 });
  const padRowAbsMaxBuiltWithPad = rowMax(built);
  log(
    `built with pad_token_id: padding_idx = ${built.model.embed_tokens.padding_idx}, |<pad> row|max = ${padRowAbsMaxBuiltWithPad}`,
  );

  // Padding in a batch: the tokenizer pads with <pad> (on the left for LlamaTokenizerFast) and masks it out.
  const batch = tokenizer.call(["Hello world, how are you?", "Hi"], { padding: true });
  const alone = tokenizer.call(["Hi"]);
  const padded = model.forward({ input_ids: batch.input_ids, attention_mask: batch.attention_mask }).logits;
  const single = model.forward({ input_ids: alone.input_ids }).logits;
  const [, T, V] = padded.shape;
  const n = alone.input_ids[0].length;
  const paddedVsAloneMaxDiff = maxDiffLeftPadded(padded.toFloat32(), T, 1, single.toFloat32(), n, V);
  // Control: the same batch with the pads attended to (mask all ones) must differ.
  const unmasked = model.forward({ input_ids: batch.input_ids }).logits;
  const unmaskedMaxDiff = maxDiffLeftPadded(unmasked.toFloat32(), T, 1, single.toFloat32(), n, V);
  log(`batch input_ids[1] = [${batch.input_ids[1].join(", ")}]`);
  log(`"Hi" left-padded vs alone: max |logit difference| = ${paddedVsAloneMaxDiff.toExponential(2)}`);
  log(`the same without attention_mask (pads attended): ${unmaskedMaxDiff.toExponential(2)}`);
  return {
    added,
    pad_token_id,
    vocab_size: model.config.vocab_size,
    padRowAbsMaxAfterResize,
    padRowAbsMaxBuiltWithPad,
    paddedVsAloneMaxDiff,
    unmaskedMaxDiff,
  };
}

if (process.argv[1] !== undefined && /examples[\\/]pad_token\.ts$/.test(process.argv[1])) padTokenTip(console.log);
