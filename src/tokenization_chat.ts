/**
 * Chat templates: HF transformers v4.44 `PreTrainedTokenizerBase.apply_chat_template` (tokenization_utils_base.py)
 * and the Llama 2 chat format HF shipped as `LlamaTokenizer.default_chat_template` (models/llama/tokenization_llama.py,
 * until v4.43 removed class default templates).
 *
 * What it computes:
 *   text = Jinja(chat_template).render({ messages, tools, documents, add_generation_prompt,
 *                                        ...special_tokens_map, ...extra template variables })
 *   ids  = tokenizer.call(text, { add_special_tokens: false, padding, truncation, max_length }).input_ids
 * `add_special_tokens: false` is HF's: the template writes BOS itself (`{{ bos_token + '[INST] ' ... }}`), and the
 * text `<s>` is matched as the special token, so the ids start with exactly one BOS (id 1), never two.
 *
 * The Jinja engine is `@huggingface/jinja` (what transformers.js uses), with trim_blocks and lstrip_blocks as HF's
 * `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)`, and HF's `raise_exception(message)`
 * global. A template that fails to parse or render, or calls `raise_exception`, throws {@link TemplateError}.
 *
 * Which template (HF `get_chat_template`): the `chat_template` option (a template, or the name of one when the
 * tokenizer has several), else the tokenizer's `chat_template` (its property, or `chat_template` of
 * tokenizer_config.json; a list of `{name, template}` becomes a name -> template map, using "tool_use" when tools
 * are given and "default" otherwise). When the tokenizer has none, HF v4.44 raises; HF up to v4.42 used the class's
 * `default_chat_template` with a warning. llama-ts keeps that older fallback, with the Llama 2 format below,
 * because every tokenizer here is a Llama tokenizer.
 *
 * Shapes: one conversation (messages[]) -> string | ids[seq]; a batch (messages[][]) -> string[batch] |
 * ids[batch][seq]; with `return_dict`, the `call` output (input_ids/attention_mask [batch][seq]).
 *
 * Left out: `return_assistant_tokens_mask` (the `{% generation %}` tracker), tools given as functions (HF reads
 * their Python type hints and docstrings; pass JSON schemas), `return_tensors`, and `continue_final_message` (v4.45).
 */
import { Template } from "@huggingface/jinja";
import { LlamaError, TemplateError, ValueError } from "./errors.ts";
import { renderBounded } from "./utils/jinja_sandbox.ts";

/** One chat message: `role` ("system" | "user" | "assistant" | ...) and `content`, plus any field a template reads. */
export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

/**
 * What the chat code reads of a tokenizer; `PreTrainedTokenizerBase` is one. Declared here, structurally, so
 * that tokenization_utils_base.ts (whose `apply_chat_template` renders through this module, then tokenizes)
 * and this module do not import each other.
 */
export interface ChatTokenizer {
  readonly init_kwargs: Record<string, unknown>;
  readonly special_tokens_map: Record<string, string | string[]>;
}

/** A conversation as HF accepts it: a list of messages, or an object holding them (HF's `Conversation`). */
export type Conversation = ChatMessage[] | { messages: ChatMessage[] };

/**
 * Options of `apply_chat_template`; HF's keyword arguments. Any other key is passed to the template as a variable.
 * O: the tokenizer's `call` options (`EncodeOptions` for every llama-ts tokenizer).
 */
export interface ChatTemplateOptions<O extends { padding?: unknown; truncation?: unknown }> {
  /** JSON schemas of the tools the model may call (template variable `tools`). */
  tools?: Record<string, unknown>[] | null;
  /** Documents for retrieval-augmented generation, objects such as `{ title, text }` (template variable `documents`). */
  documents?: Record<string, unknown>[] | null;
  /** A template, or the name of one of the tokenizer's templates; overrides the tokenizer's. */
  chat_template?: string | null;
  /** Appends the tokens that start an assistant turn, when the template defines them (Llama 2's does not). */
  add_generation_prompt?: boolean;
  /** true (default): return ids; false: return the rendered text. */
  tokenize?: boolean;
  padding?: O["padding"];
  truncation?: O["truncation"];
  max_length?: number | null;
  /** Return the whole `call` output (input_ids and attention_mask) instead of the ids. Needs `tokenize`. */
  return_dict?: boolean;
  /** Not supported (HF's `{% generation %}` assistant mask); must be false or absent. */
  return_assistant_tokens_mask?: boolean;
  /** Extra options for `call` (HF `tokenizer_kwargs`). */
  tokenizer_kwargs?: O;
  [templateVariable: string]: unknown;
}

// ---------------------------------------------------------------------------------------------------------
// The Llama 2 chat format (HF `LlamaTokenizer.default_chat_template`)
// ---------------------------------------------------------------------------------------------------------

/** HF `B_INST, E_INST`: the markers around a user turn. */
export const B_INST = "[INST]";
export const E_INST = "[/INST]";
/** HF `B_SYS, E_SYS`: the markers around the system prompt, which is folded into the first user turn. */
export const B_SYS = "<<SYS>>\n";
export const E_SYS = "\n<</SYS>>\n\n";

/** HF `DEFAULT_SYSTEM_PROMPT` (tokenization_llama.py), Meta's Llama 2 chat system prompt, byte for byte. */
export const DEFAULT_SYSTEM_PROMPT =
  "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being safe. " +
  "Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. " +
  "Please ensure that your responses are socially unbiased and positive in nature.\n\n" +
  "If a question does not make any sense, or is not factually coherent, explain why instead of answering something " +
  "not correct. If you don't know the answer to a question, please don't share false information.";

/**
 * HF `LlamaTokenizer.default_chat_template`, built the way HF builds it: the Jinja source with two placeholders,
 * `USE_DEFAULT_PROMPT` replaced by `true`/`false` and `DEFAULT_SYSTEM_MESSAGE` by the default prompt escaped for a
 * single-quoted Jinja string. It renders, for [system, user, assistant, user]:
 *
 *   <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]
 *
 * (contents are `.strip()`ped; roles must alternate user/assistant after an optional system message, else the
 * template calls raise_exception; `add_generation_prompt` changes nothing, the text already ends with [/INST]).
 */
export function llamaDefaultChatTemplate(use_default_system_prompt = false): string {
  const template =
    "{% if messages[0]['role'] == 'system' %}" +
    "{% set loop_messages = messages[1:] %}" + // Extract system message if it's present
    "{% set system_message = messages[0]['content'] %}" +
    "{% elif USE_DEFAULT_PROMPT == true and not '<<SYS>>' in messages[0]['content'] %}" +
    "{% set loop_messages = messages %}" + // Or use the default system message if the flag is set
    "{% set system_message = 'DEFAULT_SYSTEM_MESSAGE' %}" +
    "{% else %}" +
    "{% set loop_messages = messages %}" +
    "{% set system_message = false %}" +
    "{% endif %}" +
    "{% for message in loop_messages %}" + // Loop over all non-system messages
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}" +
    "{% endif %}" +
    "{% if loop.index0 == 0 and system_message != false %}" + // Embed system message in first message
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
    "{% else %}" +
    "{% set content = message['content'] %}" +
    "{% endif %}" +
    "{% if message['role'] == 'user' %}" + // After all of that, handle messages/roles in a fairly normal way
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
    "{% elif message['role'] == 'system' %}" +
    "{{ '<<SYS>>\\n' + content.strip() + '\\n<</SYS>>\\n\\n' }}" +
    "{% elif message['role'] == 'assistant' %}" +
    "{{ ' '  + content.strip() + ' ' + eos_token }}" +
    "{% endif %}" +
    "{% endfor %}";
  const defaultMessage = DEFAULT_SYSTEM_PROMPT.replaceAll("\n", "\\n").replaceAll("'", "\\'");
  return template
    .replace("USE_DEFAULT_PROMPT", use_default_system_prompt ? "true" : "false")
    .replace("DEFAULT_SYSTEM_MESSAGE", defaultMessage);
}

// ---------------------------------------------------------------------------------------------------------
// Template lookup and compilation
// ---------------------------------------------------------------------------------------------------------

type TemplateSource = string | Record<string, string>;

/** The template a tokenizer declares: its `chat_template` property, else `chat_template` from its init kwargs. */
function declaredTemplate(tokenizer: ChatTokenizer): TemplateSource | null {
  const own = (tokenizer as unknown as { chat_template?: unknown }).chat_template;
  const value = own !== undefined && own !== null ? own : tokenizer.init_kwargs.chat_template;
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  // HF __init__: a list of {"name": ..., "template": ...} (tokenizer_config.json form) becomes a dict.
  if (Array.isArray(value)) {
    const out: Record<string, string> = {};
    value.forEach((t, i) => {
      const o = t as { name?: unknown; template?: unknown };
      if (o === null || typeof o !== "object" || typeof o.name !== "string" || typeof o.template !== "string") {
        throw new ValueError(
          `chat_template[${i}]: expected {"name": string, "template": string}, got ${JSON.stringify(t)}`,
        );
      }
      out[o.name] = o.template;
    });
    return out;
  }
  if (typeof value === "object" && Object.values(value).every((v) => typeof v === "string"))
    return value as Record<string, string>;
  throw new ValueError(
    `chat_template: expected a string, a list of {name, template} or a name -> template map, got ${JSON.stringify(value)}`,
  );
}

let defaultTemplateWarned = false;

/**
 * HF `get_chat_template`: picks the template to render (see the module comment). Without any, returns the
 * Llama 2 default (HF <= 4.42 behaviour, with its warning once per process).
 */
export function get_chat_template(
  tokenizer: ChatTokenizer,
  chat_template: string | null = null,
  tools: unknown[] | null = null,
): string {
  const declared = declaredTemplate(tokenizer);
  if (declared !== null && typeof declared === "object") {
    if (chat_template !== null && chat_template in declared) return declared[chat_template];
    if (chat_template !== null) return chat_template;
    if (tools !== null && "tool_use" in declared) return declared.tool_use;
    if ("default" in declared) return declared.default;
    throw new ValueError(
      "This model has multiple chat templates with no default specified! Please either pass a chat template or the name of the template you wish to use to the `chat_template` argument. " +
        `Available template names are ${JSON.stringify(Object.keys(declared).sort())}.`,
    );
  }
  if (chat_template !== null) return chat_template;
  if (declared !== null) return declared;
  if (!defaultTemplateWarned) {
    defaultTemplateWarned = true;
    console.warn(
      `No chat template is defined for this tokenizer - using the default template for the ${tokenizer.constructor.name} class (Llama 2's [INST] format). ` +
        "If the default is not appropriate for your model, set `chat_template` (tokenizer_config.json or the option).",
    );
  }
  const useDefault =
    (tokenizer as unknown as { use_default_system_prompt?: unknown }).use_default_system_prompt ??
    tokenizer.init_kwargs.use_default_system_prompt;
  return llamaDefaultChatTemplate(useDefault === true);
}

/** Compiled templates by source (HF caches `_compile_jinja_template` with lru_cache). */
const compiled = new Map<string, Template>();
const MAX_COMPILED = 64;

function compileJinjaTemplate(source: string): Template {
  let t = compiled.get(source);
  if (t) return t;
  try {
    t = new Template(source);
  } catch (e) {
    throw new TemplateError(`chat_template: cannot parse the template: ${(e as Error).message}`);
  }
  if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value as string);
  compiled.set(source, t);
  return t;
}

/** HF's `raise_exception` template global: the template's own message, as a TemplateError. */
function raise_exception(message: unknown): never {
  throw new TemplateError(String(message));
}

/** Renders with the resource bounds of jinja_sandbox.ts (HF: jinja2's ImmutableSandboxedEnvironment). */
function render(template: Template, variables: Record<string, unknown>): string {
  try {
    const count = (v: unknown) => (Array.isArray(v) ? v.length : 0);
    const items = count(variables.messages) + count(variables.tools) + count(variables.documents);
    return renderBounded(template, variables, raise_exception, items);
  } catch (e) {
    if (e instanceof LlamaError) throw e;
    throw new TemplateError(`chat_template: rendering failed: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// apply_chat_template
// ---------------------------------------------------------------------------------------------------------

const OPTION_KEYS = new Set([
  "tools",
  "documents",
  "chat_template",
  "add_generation_prompt",
  "tokenize",
  "padding",
  "truncation",
  "max_length",
  "return_dict",
  "return_assistant_tokens_mask",
  "tokenizer_kwargs",
]);

function checkMessages(chat: unknown, where: string): ChatMessage[] {
  const messages =
    chat !== null && typeof chat === "object" && !Array.isArray(chat) && "messages" in chat
      ? (chat as { messages: unknown }).messages
      : chat;
  if (!Array.isArray(messages))
    throw new ValueError(`${where}: expected a list of messages ({role, content}), got ${JSON.stringify(chat)}`);
  messages.forEach((m, i) => {
    if (m === null || typeof m !== "object" || Array.isArray(m))
      throw new ValueError(`${where}[${i}]: expected a message object {role, content}, got ${JSON.stringify(m)}`);
  });
  return messages as ChatMessage[];
}

/**
 * The rendering half of HF `apply_chat_template`: checks the options, picks the template and renders each
 * conversation (see the module comment). `PreTrainedTokenizerBase.apply_chat_template` then tokenizes.
 * `is_batched` is HF's: the conversation is a list of conversations.
 */
export function render_chat_template<O extends { padding?: unknown; truncation?: unknown }>(
  tokenizer: ChatTokenizer,
  conversation: Conversation | Conversation[],
  opts: ChatTemplateOptions<O> = {},
): { rendered: string[]; is_batched: boolean } {
  const tokenize = opts.tokenize ?? true;
  const return_dict = opts.return_dict ?? false;
  if (return_dict && !tokenize) {
    throw new ValueError(
      "`return_dict=True` is incompatible with `tokenize=False`, because there is no dict of tokenizer outputs to return.",
    );
  }
  if (opts.return_assistant_tokens_mask)
    throw new ValueError("return_assistant_tokens_mask is not supported by llama-ts (HF's {% generation %} tracker)");

  const tools = opts.tools ?? null;
  if (tools !== null) {
    if (!Array.isArray(tools))
      throw new ValueError(`tools: expected a list of JSON schemas, got ${JSON.stringify(tools)}`);
    tools.forEach((t, i) => {
      if (t === null || typeof t !== "object" || Array.isArray(t)) {
        throw new ValueError(
          `tools[${i}]: Tools should be JSON schemas (objects); llama-ts cannot convert functions to schemas as HF does from Python type hints.`,
        );
      }
    });
  }
  const documents = opts.documents ?? null;
  if (documents !== null) {
    if (
      !Array.isArray(documents) ||
      !documents.every((d) => d !== null && typeof d === "object" && !Array.isArray(d))
    ) {
      throw new ValueError("documents: Documents should be a list of dicts with 'title' and 'text' keys!");
    }
  }

  const source = get_chat_template(tokenizer, opts.chat_template ?? null, tools);
  const template = compileJinjaTemplate(source);

  // HF: batched when the first element is itself a list of messages (or a Conversation object).
  if (
    !Array.isArray(conversation) &&
    !(conversation !== null && typeof conversation === "object" && "messages" in conversation)
  ) {
    throw new ValueError(
      `conversation: expected a list of messages or a list of conversations, got ${JSON.stringify(conversation)}`,
    );
  }
  const first = Array.isArray(conversation) ? conversation[0] : undefined;
  const is_batched =
    Array.isArray(first) || (first !== null && typeof first === "object" && "messages" in first && !("role" in first));
  const conversations: unknown[] = is_batched ? (conversation as unknown[]) : [conversation];

  // Template variables: the special tokens (strings), then the caller's extra keys, which win (HF order).
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) if (!OPTION_KEYS.has(k)) extra[k] = v;
  const template_kwargs = { ...tokenizer.special_tokens_map, ...extra };

  const rendered = conversations.map((chat, i) =>
    render(template, {
      messages: checkMessages(chat, is_batched ? `conversation[${i}]` : "conversation"),
      tools,
      documents,
      add_generation_prompt: opts.add_generation_prompt ?? false,
      ...template_kwargs,
    }),
  );

  return { rendered, is_batched };
}
