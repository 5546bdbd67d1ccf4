// %% [markdown]
// # 1. The Llama 2 tokenizer
//
// Llama 2 ships a SentencePiece BPE model. HF exposes it twice: the slow `LlamaTokenizer`
// (`tokenization_llama.py`, sentencepiece) and the fast `LlamaTokenizerFast` (`tokenization_llama_fast.py`,
// the Rust `tokenizers` pipeline). llama-ts has both, with the real 32000-piece vocabulary embedded.

// %%
import { loadDefaultSlowTokenizer, loadDefaultTokenizer, loadDefaultTokenizerData } from "../src/index.ts";
import { barChart, show } from "./lib/plot.ts";

const fast = loadDefaultTokenizer();
const slow = loadDefaultSlowTokenizer();
console.log(
  "vocab size",
  fast.vocab_size,
  "| bos",
  fast.bos_token,
  fast.bos_token_id,
  "| eos",
  fast.eos_token,
  fast.eos_token_id,
);

// %% [markdown]
// ## Normalization: the ▁ prefix
// SentencePiece replaces every space with `▁` (U+2581) and, with `add_dummy_prefix`, puts one `▁` in front of the
// text. So "Hello" at the start of a text and " Hello" in the middle become the same token `▁Hello`.

// %%
for (const text of ["Hello world", " Hello world", "Hello  world"]) {
  console.log(JSON.stringify(text), "->", fast.tokenize(text).join(" | "));
}

// %% [markdown]
// ## BPE merges step by step
// BPE starts from single characters and repeatedly merges the adjacent pair with the best (lowest) merge rank,
// until no pair is in the merge table. Below, that loop written out on one word with the real merge table;
// the last line checks it against the tokenizer.

// %%
const { merges } = loadDefaultTokenizerData();
const rank = new Map(merges.map(([a, b], i) => [a + " " + b, i]));
let parts = Array.from("▁tokenization");
console.log("start:", parts.join(" | "));
for (;;) {
  let best = -1;
  let bestRank = Infinity;
  for (let i = 0; i + 1 < parts.length; i++) {
    const r = rank.get(parts[i] + " " + parts[i + 1]);
    if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
  }
  if (best < 0) break;
  parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
  console.log(`merge #${String(bestRank).padStart(5)}:`, parts.join(" | "));
}
console.log("tokenizer:", fast.tokenize("tokenization").join(" | "));

// %% [markdown]
// ## Byte fallback
// A character with no piece of its own is written as its UTF-8 bytes, each a piece `<0xNN>` (ids 3..258).
// Emoji and many rare scripts take this path; decoding reassembles the bytes.

// %%
for (const text of ["🦙", "ᚠᛇᚻ", "日本"]) {
  const ids = fast.encode(text, { add_special_tokens: false });
  console.log(
    JSON.stringify(text),
    "->",
    fast.convert_ids_to_tokens(ids).join(" "),
    "-> decode:",
    JSON.stringify(fast.decode(ids)),
  );
}

// %% [markdown]
// ## legacy vs non-legacy
// With `legacy=true` (the Llama 2 default, and HF's), text right after a special token still gets the dummy
// `▁` prefix: `"<s>Hello"` contains `▁Hello`. HF's `legacy=false` fixes that: no extra space after a special token.

// %%
const nonLegacy = loadDefaultSlowTokenizer({ legacy: false });
const text = "<s>Hello";
console.log("legacy=true :", slow.tokenize(text).join(" | "));
console.log("legacy=false:", nonLegacy.tokenize(text).join(" | "));

// %% [markdown]
// ## Decode's leading-space rule
// Decoding drops the `▁` of the first piece (it is the dummy prefix, not a real space), so a round trip gives the
// text back without a leading space. Decoding one token alone therefore also loses its space: this is why
// streaming decoders decode a growing window rather than token by token.

// %%
const ids = fast.encode("Hello world", { add_special_tokens: false });
console.log("ids:", ids.join(" "));
console.log("decode(all):", JSON.stringify(fast.decode(ids)));
console.log("each alone:", ids.map((i) => JSON.stringify(fast.decode([i]))).join(" + "));

// %% [markdown]
// ## Special tokens and the chat template
// `encode` adds `<s>` (`add_bos_token`), not `</s>`. The chat template wraps turns in `[INST] ... [/INST]`
// and a system prompt in `<<SYS>>`.

// %%
console.log(fast.encode("Hi").join(" "), "=", fast.convert_ids_to_tokens(fast.encode("Hi")).join(" "));
console.log("skip_special_tokens:", JSON.stringify(fast.decode(fast.encode("Hi"), { skip_special_tokens: true })));
const chat = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "What is a llama?" },
];
console.log(fast.apply_chat_template(chat, { tokenize: false }));

// %% [markdown]
// ## Pieces per word
// How many pieces some words take: frequent English words are one piece, rare ones several, emoji one per byte.

// %%
const words = ["the", "llama", "transformer", "Kubernetes", "🦙"];
const counts = words.map((w) => fast.tokenize(w).length);
console.log(words.map((w, i) => `${w}: ${counts[i]}`).join(", "));
show(
  "01_pieces_per_word.svg",
  barChart(words, [{ name: "pieces", y: counts }], { title: "Pieces per word", xlabel: "word", ylabel: "pieces" }),
);
