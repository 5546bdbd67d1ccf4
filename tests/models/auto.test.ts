/** AutoConfig / AutoTokenizer / AutoModel* dispatch, pipeline() against generate and forward, save_pretrained's torch_dtype. */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  AutoConfig,
  AutoModel,
  AutoModelForCausalLM,
  AutoModelForSequenceClassification,
  AutoTokenizer,
  CheckpointError,
  ConfigError,
  LlamaConfig,
  LlamaForCausalLM,
  LlamaForSequenceClassification,
  LlamaModel,
  LlamaTokenizer,
  LlamaTokenizerFast,
  pipeline,
  TokenizerError,
  ValueError,
} from "../../src/index.ts";

const REF = join(process.cwd(), "../shared/reference");
const MODELS = join(REF, "models");
const present = existsSync(MODELS);
if (!present) console.warn(`skipping Auto class and pipeline tests: ${REF} is absent`);
const tmp = mkdtempSync(join(tmpdir(), "llama-ts-auto-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function folderWith(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

describe.skipIf(!present)("Auto classes", () => {
  it("AutoConfig reads any reference checkpoint; another model_type is a ConfigError naming it", async () => {
    const c = await AutoConfig.from_pretrained(join(MODELS, "llama-gqa"));
    expect(c).toBeInstanceOf(LlamaConfig);
    expect(c.num_key_value_heads).toBe(
      JSON.parse(readFileSync(join(MODELS, "llama-gqa", "config.json"), "utf8")).num_key_value_heads,
    );
    const mistral = folderWith("mistral", { "config.json": JSON.stringify({ model_type: "mistral", hidden_size: 8 }) });
    for (const load of [AutoConfig.from_pretrained, AutoModelForCausalLM.from_pretrained, AutoModel.from_pretrained]) {
      const e = await load(mistral).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toMatch(
        /model_type: "mistral" .* is not supported: llama-ts implements "llama" only/,
      );
    }
    const unknown = folderWith("unknown", { "config.json": JSON.stringify({ architectures: ["BertModel"] }) });
    expect(await AutoConfig.from_pretrained(unknown).catch((x) => x)).toBeInstanceOf(CheckpointError);
    // No model_type but a Llama architecture: Llama, as HF's name-based fallback would find.
    const noType = JSON.parse(readFileSync(join(MODELS, "llama-gqa", "config.json"), "utf8"));
    delete noType.model_type;
    expect(
      await AutoConfig.from_pretrained(folderWith("notype", { "config.json": JSON.stringify(noType) })),
    ).toBeInstanceOf(LlamaConfig);
  });

  it("AutoModel* pick the task's class; a checkpoint without the task's head is named by its architecture", async () => {
    expect(await AutoModelForCausalLM.from_pretrained(join(MODELS, "llama-gqa"))).toBeInstanceOf(LlamaForCausalLM);
    expect(await AutoModel.from_pretrained(join(MODELS, "llama-gqa"))).toBeInstanceOf(LlamaModel);
    const cls = await AutoModelForSequenceClassification.from_pretrained(join(MODELS, "llama-cls"));
    expect(cls).toBeInstanceOf(LlamaForSequenceClassification);
    const e = await AutoModelForCausalLM.from_pretrained(join(MODELS, "llama-cls")).catch((x) => x);
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(
      /the checkpoint is a LlamaForSequenceClassification, which has no weights for AutoModelForCausalLM/,
    );
  });

  it("AutoTokenizer: fast by default, slow with use_fast: false, an unknown class is named", async () => {
    const fast = await AutoTokenizer.from_pretrained(join(REF, "tokenizer"));
    expect(fast).toBeInstanceOf(LlamaTokenizerFast);
    // HF's documented example.
    expect(fast.encode("Hello this is a test")).toEqual([1, 15043, 445, 338, 263, 1243]);
    const slowDir = folderWith("slow", {
      "tokenizer_config.json": readFileSync(join(REF, "tokenizer", "tokenizer_config.json"), "utf8"),
    });
    copyFileSync(join(REF, "tokenizer.model"), join(slowDir, "tokenizer.model"));
    const slow = await AutoTokenizer.from_pretrained(slowDir, { use_fast: false });
    expect(slow).toBeInstanceOf(LlamaTokenizer);
    expect(slow.encode("Hello this is a test")).toEqual([1, 15043, 445, 338, 263, 1243]);
    const gpt2 = folderWith("gpt2tok", {
      "tokenizer_config.json": JSON.stringify({ tokenizer_class: "GPT2Tokenizer" }),
      "tokenizer.json": "{}",
    });
    const e = await AutoTokenizer.from_pretrained(gpt2).catch((x) => x);
    expect(e).toBeInstanceOf(TokenizerError);
    expect(e.message).toMatch(/tokenizer_class "GPT2Tokenizer" is not implemented/);
  });
});

describe.skipIf(!present)("pipeline", () => {
  it('"text-generation" returns the ids and text of generate', async () => {
    const dir = join(MODELS, "llama-vocab32000");
    const generator = await pipeline("text-generation", dir, { tokenizer: join(REF, "tokenizer") });
    const model = await LlamaForCausalLM.from_pretrained(dir);
    const tok = await LlamaTokenizerFast.from_pretrained(join(REF, "tokenizer"));
    const prompt = "Hey, are you conscious? Can you talk to me?";
    const ids = tok.encode(prompt);
    const expected: number[] = model.generate([ids], { max_new_tokens: 7 }).tolist()[0];
    const [byIds] = (await generator(prompt, { max_new_tokens: 7, return_tensors: true })) as {
      generated_token_ids: number[];
    }[];
    expect(byIds.generated_token_ids).toEqual(expected);
    const [full] = await generator(prompt, { max_new_tokens: 7 });
    const newText = tok
      .decode(expected, { skip_special_tokens: true })
      .slice(tok.decode(ids, { skip_special_tokens: true }).length);
    expect(full).toEqual({ generated_text: prompt + newText });
    expect(await generator(prompt, { max_new_tokens: 7, return_full_text: false })).toEqual([
      { generated_text: newText },
    ]);
    // A chat: the template's ids, the reply appended as an assistant message.
    const chat = [{ role: "user", content: "Hi" }];
    const chatIds = tok.apply_chat_template(chat, { add_generation_prompt: true }) as number[];
    const chatOut: number[] = model.generate([chatIds], { max_new_tokens: 3 }).tolist()[0];
    const [c] = await generator(chat, { max_new_tokens: 3 });
    expect(c).toEqual({
      generated_text: [
        ...chat,
        {
          role: "assistant",
          content: tok
            .decode(chatOut, { skip_special_tokens: true })
            .slice(tok.decode(chatIds, { skip_special_tokens: true }).length),
        },
      ],
    });
    await expect(pipeline("fill-mask" as "text-generation", dir)).rejects.toBeInstanceOf(ValueError);
  });

  it('"text-generation" reproduces HF 4.44.2\'s own generate() ids (greedy, and stop_strings)', async () => {
    const dir = join(MODELS, "llama-vocab32000");
    const cases = JSON.parse(readFileSync(join(dir, "generate_cases.json"), "utf8")).cases;
    // HF made these with the slow LlamaTokenizer (legacy), as the case file says.
    const slowDir = folderWith("slow-gen", {
      "tokenizer_config.json": readFileSync(join(REF, "tokenizer", "tokenizer_config.json"), "utf8"),
    });
    copyFileSync(join(REF, "tokenizer.model"), join(slowDir, "tokenizer.model"));
    const tokenizer = await LlamaTokenizer.from_pretrained(slowDir);
    const generator = await pipeline("text-generation", dir, { tokenizer });
    for (const name of ["greedy_text", "stop_strings_mid", "stop_strings_inside_token"]) {
      const c = cases.find((x: { name: string }) => x.name === name);
      // The prompt "The quick brown fox" gives the case's input_ids with the Llama 2 tokenizer.
      const { tokenizer: _t, ...kwargs } = c.kwargs;
      const [out] = (await generator("The quick brown fox", { ...kwargs, return_tensors: true })) as {
        generated_token_ids: number[];
      }[];
      expect(out.generated_token_ids.slice(0, 6), name).toEqual(c.inputs.input_ids[0]);
      expect(out.generated_token_ids, name).toEqual(c.expected.sequences[0]);
    }
  });

  it('"text-classification" gives the softmax of forward\'s logits, best first, with id2label names', async () => {
    // A classification model with Llama 2's vocabulary (so the real tokenizer fits), saved and loaded back.
    const base = JSON.parse(readFileSync(join(MODELS, "llama-vocab32000", "config.json"), "utf8"));
    const config = new LlamaConfig({
      ...base,
      id2label: { 0: "negative", 1: "neutral", 2: "positive" },
      pad_token_id: 0,
    });
    const dir = join(tmp, "cls32000");
    await new LlamaForSequenceClassification(config, { seed: 3 }).save_pretrained(dir);
    const classifier = await pipeline("text-classification", dir, { tokenizer: join(REF, "tokenizer") });
    const tok = await LlamaTokenizerFast.from_pretrained(join(REF, "tokenizer"));
    const model = await LlamaForSequenceClassification.from_pretrained(dir);
    const logits = Array.from(model.forward({ input_ids: [tok.encode("I love it")] }).logits.toFloat32());
    const z = logits.map((x) => Math.exp(x - Math.max(...logits)));
    const probs = z.map((x) => x / z.reduce((a, b) => a + b, 0));
    const order = [0, 1, 2].sort((a, b) => probs[b] - probs[a]);
    const names = ["negative", "neutral", "positive"];
    const all = await classifier("I love it", { top_k: null });
    expect(all.map((r) => r.label)).toEqual(order.map((i) => names[i]));
    all.forEach((r, k) => expect(r.score).toBeCloseTo(probs[order[k]], 6));
    expect(await classifier("I love it")).toEqual([all[0]]);
    expect(await classifier(["I love it", "I love it"])).toEqual([all[0], all[0]]);
  });
});

describe.skipIf(!present)("save_pretrained records torch_dtype", () => {
  it("the dtype the weights have in memory, as HF writes it", async () => {
    for (const [torch_dtype, expected] of [
      ["auto", "bfloat16"],
      [undefined, "float32"],
      ["float16", "float16"],
    ] as const) {
      const m = await LlamaForCausalLM.from_pretrained(join(MODELS, "llama-bf16"), { torch_dtype });
      const dir = join(tmp, `saved-${torch_dtype}`);
      await m.save_pretrained(dir);
      expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).torch_dtype, String(torch_dtype)).toBe(
        expected,
      );
    }
    const fresh = join(tmp, "fresh");
    await new LlamaForCausalLM(
      new LlamaConfig({
        vocab_size: 16,
        hidden_size: 8,
        intermediate_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: 2,
      }),
    ).save_pretrained(fresh);
    expect(JSON.parse(readFileSync(join(fresh, "config.json"), "utf8")).torch_dtype).toBe("float32");
  });
});
