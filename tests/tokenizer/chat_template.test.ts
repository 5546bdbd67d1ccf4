/**
 * apply_chat_template: HF v4.44 behaviour with the Llama 2 default template (HF's
 * `LlamaTokenizer.default_chat_template`) and with templates from tokenizer_config.json, for both tokenizer
 * classes. Expected strings are written out by hand from the template's definition; expected ids are the
 * Llama 2 pieces of those strings (looked up in the reference tokenizer.json vocabulary when it is present).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaError, TemplateError, ValueError } from "../../src/errors.ts";
import { serializeModelProto } from "../../src/formats/sentencepiece_model.ts";
import {
  defaultModelProto,
  loadDefaultSlowTokenizer,
  loadDefaultTokenizer,
} from "../../src/models/llama/default_tokenizer.ts";
import { LlamaTokenizer } from "../../src/models/llama/tokenization_llama.ts";
import { LlamaTokenizerFast } from "../../src/models/llama/tokenization_llama_fast.ts";
import type { PreTrainedTokenizerBase } from "../../src/tokenization_utils_base.ts";
import { HAVE_REF, TOKENIZER_DIR, warnIfNoReference } from "./reference.ts";

warnIfNoReference("chat_template (vocabulary lookups of the expected ids)");

// Meta's Llama 2 system prompt as HF's tokenization_llama.py spells it (the Python source joins its lines with
// backslash continuations; "Your \" + "answers" keeps one space, "ensure\" + " that" too).
const LLAMA2_SYSTEM_PROMPT =
  "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being safe. Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. Please ensure that your responses are socially unbiased and positive in nature.\n\nIf a question does not make any sense, or is not factually coherent, explain why instead of answering something not correct. If you don't know the answer to a question, please don't share false information.";

const FULL_CHAT = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Hi there" },
  { role: "assistant", content: "Hello!" },
  { role: "user", content: "How are you?" },
];
// <s>[INST] + <<SYS>>\n{system}\n<</SYS>>\n\n{user} + [/INST], then " {assistant} </s>", then the next user turn.
const FULL_CHAT_TEXT =
  "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! </s><s>[INST] How are you? [/INST]";

const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const makers: [string, (kw?: Record<string, unknown>) => PreTrainedTokenizerBase][] = [
  ["LlamaTokenizer (slow)", (kw = {}) => loadDefaultSlowTokenizer({ legacy: true, ...kw })],
  ["LlamaTokenizerFast", (kw = {}) => loadDefaultTokenizer(kw)],
];

/** Llama 2 piece -> id from the reference tokenizer.json, or the ids as written when the reference is absent. */
function pieceIds(pieces: string[], written: number[]): number[] {
  if (!HAVE_REF) return written;
  const vocab = JSON.parse(readFileSync(path.join(TOKENIZER_DIR, "tokenizer.json"), "utf8")).model.vocab as Record<
    string,
    number
  >;
  return pieces.map((p) => {
    if (!(p in vocab)) throw new Error(`piece ${p} not in the reference vocabulary`);
    return vocab[p];
  });
}

describe.each(makers)("apply_chat_template with the Llama 2 default template, %s", (_name, make) => {
  const tok = make();

  it("system prompt folded into the first user turn, multi-turn, BOS/EOS around each exchange", () => {
    expect(tok.apply_chat_template(FULL_CHAT, { tokenize: false })).toBe(FULL_CHAT_TEXT);
  });

  it("strips the content of each turn (the system text inside <<SYS>> keeps its own spaces)", () => {
    const chat = [
      { role: "system", content: " sys " },
      { role: "user", content: "  padded \n" },
      { role: "assistant", content: "\tanswer  " },
    ];
    // strip() applies to "<<SYS>>\n sys \n<</SYS>>\n\n  padded \n" as a whole.
    expect(tok.apply_chat_template(chat, { tokenize: false })).toBe(
      "<s>[INST] <<SYS>>\n sys \n<</SYS>>\n\n  padded [/INST] answer </s>",
    );
  });

  it("add_generation_prompt changes nothing (the text already ends with [/INST])", () => {
    const chat = [{ role: "user", content: "hi" }];
    expect(tok.apply_chat_template(chat, { tokenize: false, add_generation_prompt: true })).toBe(
      "<s>[INST] hi [/INST]",
    );
    expect(tok.apply_chat_template(chat, { tokenize: false, add_generation_prompt: false })).toBe(
      "<s>[INST] hi [/INST]",
    );
  });

  it("tokenizes with add_special_tokens=false: exactly one BOS, from the template's <s>", () => {
    const pieces = ["<s>", "▁[", "INST", "]", "▁hi", "▁[", "/", "INST", "]"];
    const expected = pieceIds(pieces, [1, 518, 25580, 29962, 7251, 518, 29914, 25580, 29962]);
    const ids = tok.apply_chat_template([{ role: "user", content: "hi" }]);
    expect(ids).toEqual(expected);
    expect(ids.filter((i) => i === 1)).toHaveLength(1);
    // What HF avoids: encoding the rendered text with the default add_special_tokens doubles the BOS.
    expect(tok.encode("<s>[INST] hi [/INST]").slice(0, 2)).toEqual([1, 1]);
  });

  it("multi-turn ids: one BOS per user turn, EOS then BOS between exchanges", () => {
    const ids = tok.apply_chat_template(FULL_CHAT);
    expect(ids[0]).toBe(1);
    expect(ids[1]).not.toBe(1);
    expect(ids.filter((i) => i === 1)).toHaveLength(2);
    expect(ids.filter((i) => i === 2)).toHaveLength(1);
    const eos = ids.indexOf(2);
    expect(ids[eos + 1]).toBe(1);
    // "Hello!" then " " then </s>: the ids just before EOS are ▁Hello, !, ▁ (the space before </s> is its own piece).
    expect(ids.slice(eos - 3, eos)).toEqual(pieceIds(["▁Hello", "!", "▁"], [15043, 29991, 29871]));
  });

  it("roles that do not alternate raise the template's own exception", () => {
    const bad = [
      { role: "user", content: "a" },
      { role: "user", content: "b" },
    ];
    expect(() => tok.apply_chat_template(bad)).toThrow(TemplateError);
    expect(() => tok.apply_chat_template(bad)).toThrow(
      "Conversation roles must alternate user/assistant/user/assistant/...",
    );
    expect(() => tok.apply_chat_template([{ role: "assistant", content: "first" }], { tokenize: false })).toThrow(
      TemplateError,
    );
  });

  it("batched conversations give one string / one id row each; return_dict gives the call output", () => {
    const batch = [[{ role: "user", content: "a" }], [{ role: "user", content: "b" }]];
    expect(tok.apply_chat_template(batch, { tokenize: false })).toEqual(["<s>[INST] a [/INST]", "<s>[INST] b [/INST]"]);
    const rows = tok.apply_chat_template(batch);
    expect(rows).toHaveLength(2);
    expect(rows[0].slice(0, 4)).toEqual(pieceIds(["<s>", "▁[", "INST", "]"], [1, 518, 25580, 29962]));
    const out = tok.apply_chat_template([{ role: "user", content: "hi" }], { return_dict: true });
    expect(out.input_ids).toEqual([tok.apply_chat_template([{ role: "user", content: "hi" }])]);
    expect(out.attention_mask).toEqual([new Array(9).fill(1)]);
    expect(() => tok.apply_chat_template(batch, { tokenize: false, return_dict: true } as never)).toThrow(ValueError);
  });

  it("use_default_system_prompt adds Meta's system prompt unless the first message already has <<SYS>>", () => {
    const withDefault = make({ use_default_system_prompt: true });
    expect(withDefault.apply_chat_template([{ role: "user", content: "hi" }], { tokenize: false })).toBe(
      `<s>[INST] <<SYS>>\n${LLAMA2_SYSTEM_PROMPT}\n<</SYS>>\n\nhi [/INST]`,
    );
    const own = [{ role: "user", content: "<<SYS>>\nmine\n<</SYS>>\n\nhi" }];
    expect(withDefault.apply_chat_template(own, { tokenize: false })).toBe(
      "<s>[INST] <<SYS>>\nmine\n<</SYS>>\n\nhi [/INST]",
    );
    // An explicit system message wins over the default one.
    expect(withDefault.apply_chat_template(FULL_CHAT, { tokenize: false })).toBe(FULL_CHAT_TEXT);
  });

  it("special tokens and extra options are template variables; the caller's keys win", () => {
    const t = "{{ bos_token }}|{{ eos_token }}|{{ unk_token }}|{{ greeting }}|{{ messages | length }}";
    expect(tok.apply_chat_template([], { chat_template: t, tokenize: false, greeting: "hey" })).toBe(
      "<s>|</s>|<unk>|hey|0",
    );
    expect(tok.apply_chat_template([], { chat_template: t, tokenize: false, greeting: "x", bos_token: "B" })).toBe(
      "B|</s>|<unk>|x|0",
    );
  });

  it("a template that does not parse, or fails while rendering, is a TemplateError", () => {
    expect(() => tok.apply_chat_template([], { chat_template: "{% for m in %}", tokenize: false })).toThrow(
      TemplateError,
    );
    const e = (() => {
      try {
        tok.apply_chat_template([], { chat_template: "{{ raise_exception('no messages allowed') }}", tokenize: false });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(TemplateError);
    expect(e).toBeInstanceOf(LlamaError);
    expect((e as Error).message).toBe("no messages allowed");
  });

  it("refuses malformed conversations and options with a ValueError", () => {
    expect(() => tok.apply_chat_template("hi" as never)).toThrow(ValueError);
    expect(() => tok.apply_chat_template([1, 2] as never)).toThrow(ValueError);
    expect(() =>
      tok.apply_chat_template([{ role: "user", content: "a" }], { tools: ["not a schema"] as never }),
    ).toThrow(ValueError);
    expect(() =>
      tok.apply_chat_template([{ role: "user", content: "a" }], { tokenizer_kwargs: { add_special_tokens: true } }),
    ).toThrow(ValueError);
  });
});

describe("chat templates from tokenizer_config.json", () => {
  let dir: string;
  const config = (chat_template: unknown) => ({
    add_bos_token: true,
    add_eos_token: false,
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    legacy: true,
    clean_up_tokenization_spaces: false,
    tokenizer_class: "LlamaTokenizer",
    chat_template,
  });

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "llama-ts-chat-"));
    writeFileSync(path.join(dir, "tokenizer.model"), serializeModelProto(defaultModelProto()));
    writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(loadDefaultTokenizer().toJSON()));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const load = async (chat_template: unknown): Promise<PreTrainedTokenizerBase[]> => {
    writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(config(chat_template)));
    return [await LlamaTokenizer.from_pretrained(dir), await LlamaTokenizerFast.from_pretrained(dir)];
  };

  it("renders the config's template, with and without the generation prompt", async () => {
    for (const tok of await load(CHATML)) {
      const chat = [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Yo" },
      ];
      expect(tok.apply_chat_template(chat, { tokenize: false })).toBe(
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n",
      );
      expect(tok.apply_chat_template(chat, { tokenize: false, add_generation_prompt: true })).toBe(
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n<|im_start|>assistant\n",
      );
      // No <s> in this template, and add_special_tokens=false: no BOS at all.
      expect(tok.apply_chat_template(chat)).not.toContain(1);
    }
  });

  it("applies trim_blocks and lstrip_blocks as HF's Jinja environment does", async () => {
    const multiLine =
      "{% for message in messages %}\n    {% if message['role'] == 'user' %}\nQ: {{ message['content'] }}\n    {% else %}\nA: {{ message['content'] }}\n    {% endif %}\n{% endfor %}";
    for (const tok of await load(multiLine)) {
      const chat = [
        { role: "user", content: "a" },
        { role: "assistant", content: "b" },
      ];
      // The newline after each block tag goes (trim_blocks), and so do the spaces before an indented tag
      // (lstrip_blocks); the newlines after the {{ }} lines stay.
      expect(tok.apply_chat_template(chat, { tokenize: false })).toBe("Q: a\nA: b\n");
    }
  });

  it("a list of named templates: 'default', 'tool_use' when tools are given, or one chosen by name", async () => {
    const named = [
      { name: "default", template: "D:{{ messages[0]['content'] }}" },
      { name: "tool_use", template: "T:{{ tools[0]['name'] }}:{{ messages[0]['content'] }}" },
      { name: "terse", template: "{{ messages | length }}" },
    ];
    const chat = [{ role: "user", content: "q" }];
    for (const tok of await load(named)) {
      expect(tok.apply_chat_template(chat, { tokenize: false })).toBe("D:q");
      expect(tok.apply_chat_template(chat, { tokenize: false, tools: [{ name: "calc", parameters: {} }] })).toBe(
        "T:calc:q",
      );
      expect(tok.apply_chat_template(chat, { tokenize: false, chat_template: "terse" })).toBe("1");
      // A string that is not a template name is itself the template.
      expect(tok.apply_chat_template(chat, { tokenize: false, chat_template: "X{{ messages[0].role }}" })).toBe(
        "Xuser",
      );
    }
    for (const tok of await load([{ name: "a", template: "A" }])) {
      expect(() => tok.apply_chat_template(chat, { tokenize: false })).toThrow(
        /multiple chat templates with no default/,
      );
    }
  });

  it("the tokenizer's template wins over the Llama 2 default; the chat_template option wins over both", async () => {
    for (const tok of await load("{{ 'custom' }}")) {
      expect(tok.apply_chat_template([{ role: "user", content: "x" }], { tokenize: false })).toBe("custom");
      expect(
        tok.apply_chat_template([{ role: "user", content: "x" }], { tokenize: false, chat_template: "{{ 'opt' }}" }),
      ).toBe("opt");
    }
  });
});

describe("resource bounds (jinja_sandbox.ts)", () => {
  const tok = loadDefaultTokenizer();
  it("a 5,000-message conversation renders with the Llama 2 template (the step allowance grows with input)", () => {
    const chat = Array.from({ length: 5000 }, (_, i) => ({
      role: i % 2 === 0 ? "user" : "assistant",
      content: `m${i}`,
    }));
    const text = tok.apply_chat_template(chat, { tokenize: false }) as string;
    // One "[INST]" per user turn, one "</s>" per assistant turn, each written by the template itself.
    expect(text.split("[INST]").length - 1).toBe(2500);
    expect(text.split("</s>").length - 1).toBe(2500);
    expect(text.endsWith("m4998 [/INST] m4999 </s>")).toBe(true);
  });
  it("range() refuses more than jinja2's MAX_RANGE items, as HF's sandbox", () => {
    const render = (t: string) =>
      tok.apply_chat_template([{ role: "user", content: "x" }], { chat_template: t, tokenize: false });
    expect(render("{{ range(100000)|length }}")).toBe("100000");
    expect(() => render("{{ range(100001)|length }}")).toThrow(TemplateError);
    expect(() => render("{{ range(100001)|length }}")).toThrow(/MAX_RANGE \(100000\)/);
    expect(render("{{ range(10, 0, -3)|join(',') }}")).toBe("10,7,4,1");
  });
});
