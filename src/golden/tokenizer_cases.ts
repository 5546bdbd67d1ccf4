/**
 * Tokenizer cases for the checkpoint's tokenizer: text, ids (with and without special tokens), pieces, decode
 * (with and without skipping specials) and streaming-decode chunks, in tokenizer/cases.json; the same texts and
 * ids (without BOS) in llama.cpp's tokenizer-test layout, tokenizer/llama-spm.inp (texts, each followed by
 * "\n__ggml_vocab_test__\n") and tokenizer/llama-spm.out (one line per text: " id id ...").
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringifyJson } from "./manifest.ts";
import { TextStreamer } from "../generation/streamers.ts";
import type { PreTrainedTokenizerBase } from "../tokenization_utils_base.ts";

/** Texts that trip tokenizers: spaces, newlines, digits, accents, CJK, emoji (byte fallback), specials in text. */
export const TOKENIZER_TEXTS = [
  "Hello this is a test",
  "",
  " ",
  "   ",
  "\t",
  "\n",
  "\n\n\n",
  " Hello",
  "Hello World!",
  "  leading and trailing  ",
  "w048 7tuijk dsdfhu",
  "нещо на Български",
  "კარგად",
  "🦙.cpp 🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅",
  "Hello world! 3.14159, 1000000 and 1,000,000",
  "ied 4 ½ months",
  "Führer Straße café naïve",
  "这是一个测试。日本語のテキスト",
  "<s> is a special token, </s> too",
  "don't you're we've I'm it's",
  "line one\nline two\r\nline three",
  "\u00a0non-breaking\u2009thin space",
];

class ChunkRecorder extends TextStreamer {
  chunks: string[] = [];
  override on_finalized_text(text: string): void {
    if (text.length > 0) this.chunks.push(text);
  }
}

export async function writeTokenizerCases(
  tokenizer: PreTrainedTokenizerBase,
  out: string,
): Promise<{ cases: string; llama_cpp_inp: string; llama_cpp_out: string; count: number }> {
  const dir = join(out, "tokenizer");
  await mkdir(dir, { recursive: true });
  const cases = TOKENIZER_TEXTS.map((text) => {
    const ids = tokenizer.encode(text);
    const ids_no_special = tokenizer.encode(text, { add_special_tokens: false });
    const streamer = new ChunkRecorder(tokenizer, { skip_special_tokens: true });
    for (const id of ids) streamer.put([id]);
    streamer.end();
    return {
      text,
      ids,
      ids_no_special,
      pieces: tokenizer.tokenize(text),
      decode: tokenizer.decode(ids),
      decode_skip_special: tokenizer.decode(ids, { skip_special_tokens: true }),
      stream_chunks: streamer.chunks,
    };
  });
  const doc = {
    tokenizer: "checkpoint/ (tokenizer.json, tokenizer.model, tokenizer_config.json)",
    fields: {
      ids: "encode(text): add_special_tokens=True (BOS first)",
      ids_no_special: "encode(text, add_special_tokens=False)",
      pieces: "tokenize(text)",
      decode: "decode(ids)",
      decode_skip_special: "decode(ids, skip_special_tokens=True)",
      stream_chunks:
        "text emitted while ids arrive one at a time (skip_special_tokens=True), each chunk final once emitted; their concatenation is decode_skip_special",
    },
    cases,
  };
  await writeFile(join(dir, "cases.json"), stringifyJson(doc) + "\n");
  await writeFile(join(dir, "llama-spm.inp"), cases.map((c) => `${c.text}\n__ggml_vocab_test__\n`).join(""));
  await writeFile(
    join(dir, "llama-spm.out"),
    cases.map((c) => c.ids_no_special.map((id) => ` ${id}`).join("") + "\n").join(""),
  );
  return {
    cases: "tokenizer/cases.json",
    llama_cpp_inp: "tokenizer/llama-spm.inp",
    llama_cpp_out: "tokenizer/llama-spm.out",
    count: cases.length,
  };
}
