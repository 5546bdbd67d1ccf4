/**
 * TextStreamer / TextIteratorStreamer: what is emitted, joined, equals the full `decode` of the same ids (the
 * independent path), nothing emitted is ever taken back, multi-byte characters arrive whole, and generate()
 * drives a streamer as HF's GenerationMixin does.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ValueError } from "../../src/errors.ts";
import { generate } from "../../src/generation/utils.ts";
import {
  CleanupStream,
  TextIteratorStreamer,
  TextStreamer,
  type BaseStreamer,
  type TextStreamerOptions,
} from "../../src/generation/streamers.ts";
import { loadDefaultSlowTokenizer, loadDefaultTokenizer } from "../../src/models/llama/default_tokenizer.ts";
import { Tensor } from "../../src/tensor/tensor.ts";
import { unicodeTextArb } from "../../src/testing/arbitraries.ts";
import { PreTrainedTokenizerBase } from "../../src/tokenization_utils_base.ts";
import { FakeModel, peaks } from "../generation/fake_model.ts";

const slow = loadDefaultSlowTokenizer({ legacy: true });
const slowNonLegacy = loadDefaultSlowTokenizer({ legacy: false });
const fast = loadDefaultTokenizer();
const TOKENIZERS: [string, PreTrainedTokenizerBase][] = [
  ["LlamaTokenizer legacy", slow],
  ["LlamaTokenizer non-legacy", slowNonLegacy],
  ["LlamaTokenizerFast", fast],
];

/** A TextStreamer that records each emitted piece instead of printing it. */
class Recorder extends TextStreamer {
  chunks: string[] = [];
  ended = 0;
  override on_finalized_text(text: string, stream_end = false): void {
    this.chunks.push(text);
    if (stream_end) this.ended++;
  }
  get text(): string {
    return this.chunks.join("");
  }
}

/**
 * Streams `ids` in the given chunk sizes and checks, after every put, that what was emitted so far is a prefix
 * of the final decode (no retraction) and of the decode of the ids seen so far; returns what was emitted.
 */
function streamAndCheck(
  tok: PreTrainedTokenizerBase,
  ids: number[],
  sizes: number[],
  opts: TextStreamerOptions,
): string {
  const full = tok.decode(ids, opts);
  const s = new Recorder(tok, opts);
  let at = 0;
  let k = 0;
  while (at < ids.length) {
    const n = Math.max(1, sizes.length ? sizes[k++ % sizes.length] : 1);
    s.put(ids.slice(at, at + n));
    at += n;
    const soFar = s.text;
    if (!full.startsWith(soFar))
      throw new Error(`emitted ${JSON.stringify(soFar)} is not a prefix of the final ${JSON.stringify(full)}`);
    const now = tok.decode(ids.slice(0, Math.min(at, ids.length)), opts);
    if (!now.startsWith(soFar))
      throw new Error(`emitted ${JSON.stringify(soFar)} is ahead of decode so far ${JSON.stringify(now)}`);
  }
  s.end();
  expect(s.ended).toBe(1);
  return s.text;
}

const decodeOptions = fc.record({ skip_special_tokens: fc.boolean(), clean_up_tokenization_spaces: fc.boolean() });
const chunkSizes = fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 4 });

describe.each(TOKENIZERS)("TextStreamer with %s", (_name, tok) => {
  it("joined output equals decode(ids) for random text (emoji, CJK, combining marks, byte fallback, special-token text)", () => {
    fc.assert(
      fc.property(unicodeTextArb({ maxPieces: 10 }), decodeOptions, chunkSizes, (text, opts, sizes) => {
        const ids = tok.encode(text);
        expect(streamAndCheck(tok, ids, sizes, opts)).toBe(tok.decode(ids, opts));
      }),
      { numRuns: 250, seed: 20240601 },
    );
  });

  it("joined output equals decode(ids) for random id sequences (lone and broken byte pieces, specials, spaces)", () => {
    const id = fc.oneof(
      fc.integer({ min: 0, max: 31999 }),
      fc.integer({ min: 3, max: 258 }), // <0x00>..<0xFF>
      fc.constantFrom(0, 1, 2, 29871, 259, 13, 29889, 29892, 29915, 29876, 29873), // <unk> <s> </s> ▁ ▁▁ <0x0A> . , ' n t
      fc.constantFrom(243, 162, 155, 131, 231, 188, 163), // pieces of F0 9F 98 80 and E4 B9 A0
    );
    fc.assert(
      fc.property(fc.array(id, { maxLength: 40 }), decodeOptions, chunkSizes, (ids, opts, sizes) => {
        expect(streamAndCheck(tok, ids, sizes, opts)).toBe(tok.decode(ids, opts));
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it("emits each token's text as soon as it is final: plain text is never held back", () => {
    // (No newline: Llama has no "\n" piece, it is the byte piece <0x0A>, held until the next piece closes the run.)
    const ids = tok.encode("The quick brown fox jumps over the lazy dog. It was 42 degrees, ça va?", {
      add_special_tokens: false,
    });
    const s = new Recorder(tok, { skip_special_tokens: true });
    for (let i = 0; i < ids.length; i++) {
      s.put([ids[i]]);
      expect(s.text).toBe(tok.decode(ids.slice(0, i + 1), { skip_special_tokens: true }));
    }
  });

  it("a 4-byte emoji split over byte pieces is emitted once, whole", () => {
    // "😀" is U+1F600 = F0 9F 98 80: "▁" then <0xF0> <0x9F> <0x98> <0x80> (ids 3 + byte), as sentencepiece gives it.
    const ids = [29871, 3 + 0xf0, 3 + 0x9f, 3 + 0x98, 3 + 0x80];
    expect(tok.encode("😀", { add_special_tokens: false })).toEqual(ids);
    const s = new Recorder(tok, { skip_special_tokens: true });
    for (const id of ids) s.put([id]);
    s.end();
    // sentencepiece decodes byte pieces character by character: the emoji is final with its fourth byte. The fast
    // tokenizer's ByteFallback decodes a whole run of byte pieces or none of it (HF tokenizers: a fifth, invalid
    // byte would turn all five into U+FFFD), so there the emoji waits until the run is closed, here by end().
    expect(s.chunks).toEqual(tok === fast ? ["", "", "", "", "", "😀"] : ["", "", "", "", "😀", ""]);
    const closed = new Recorder(tok, { skip_special_tokens: true });
    for (const id of [...ids, tok.convert_tokens_to_ids("▁ok") as number]) closed.put([id]);
    expect(closed.chunks).toEqual(tok === fast ? ["", "", "", "", "", "😀 ok"] : ["", "", "", "", "😀", " ok"]);

    const mid = tok.encode("ok 😀 ok", { add_special_tokens: false });
    const r = new Recorder(tok, { skip_special_tokens: true });
    for (const id of mid) r.put(id);
    r.end();
    expect(r.chunks.filter((c) => c.includes("😀"))).toHaveLength(1);
    expect(r.chunks.some((c) => c.includes("\uFFFD") || /[\uD800-\uDBFF]$/.test(c))).toBe(false);
    expect(r.text).toBe(tok.decode(mid));
  });

  it("a byte sequence that never completes is flushed by end() as decode renders it", () => {
    const ids = [tok.convert_tokens_to_ids("▁a") as number, 3 + 0xe4, 3 + 0xb8]; // E4 B8: an unfinished 3-byte character
    const s = new Recorder(tok, { skip_special_tokens: true });
    for (const id of ids) s.put([id]);
    expect(s.text).toBe("a");
    s.end();
    expect(s.text).toBe(tok.decode(ids));
    expect(s.text.endsWith("\uFFFD")).toBe(true);
  });

  it("skip_prompt drops the first put; end() resets so the next stream skips its prompt again", () => {
    const prompt = tok.encode("Tell me");
    const answer = tok.encode(" a story", { add_special_tokens: false });
    const s = new Recorder(tok, { skip_prompt: true, skip_special_tokens: true });
    s.put(new Tensor("int64", prompt, [1, prompt.length]));
    for (const id of answer) s.put(new Tensor("int64", [id], [1]));
    s.end();
    expect(s.text).toBe(tok.decode(answer, { skip_special_tokens: true }));
    s.chunks = [];
    s.put(prompt);
    s.put(answer);
    s.end();
    expect(s.text).toBe(tok.decode(answer, { skip_special_tokens: true }));
  });
});

describe("TextStreamer details", () => {
  afterEach(() => vi.restoreAllMocks());

  it("legacy slow decode: the run before a special token is held, since HF then writes a space before it", () => {
    // HF LlamaTokenizer (legacy) convert_tokens_to_string: decode([▁Hello]) = "Hello", decode([▁Hello, </s>]) =
    // " Hello</s>" (a " " goes in front of the text run when a special token follows; the reference has
    // "Hello</s>" -> "<s> Hello</s>"). HF's own TextStreamer would have printed "Hello" already.
    const hello = slow.convert_tokens_to_ids("▁Hello") as number;
    expect(slow.decode([hello])).toBe("Hello");
    expect(slow.decode([hello, 2])).toBe(" Hello</s>");
    const s = new Recorder(slow, {});
    s.put([hello]);
    s.put([2]);
    s.end();
    expect(s.chunks).toEqual(["", " Hello</s>", ""]);
    // With the fast tokenizer nothing needs holding.
    const f = new Recorder(fast, {});
    f.put([hello]);
    f.put([2]);
    f.end();
    expect(f.chunks).toEqual(["Hello", "</s>", ""]);
  });

  it("refuses batches of more than one row and non-integer tensors, as HF does", () => {
    const s = new Recorder(fast, {});
    expect(() =>
      s.put([
        [1, 2],
        [3, 4],
      ]),
    ).toThrow("TextStreamer only supports batch size 1");
    expect(() => s.put(new Tensor("int64", [1, 2, 3, 4], [2, 2]))).toThrow(ValueError);
    expect(() => s.put(new Tensor("float32", [1, 2], [2]))).toThrow(ValueError);
    s.put([[15043, 3186]]);
    s.end();
    expect(s.text).toBe("Hello world");
  });

  it("prints to stdout and ends the stream with a newline", () => {
    const writes: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const s = new TextStreamer(fast, { skip_special_tokens: true });
    for (const id of fast.encode("Hi there")) s.put([id]);
    s.end();
    vi.restoreAllMocks();
    expect(writes.join("")).toBe("Hi there\n");
  });
});

describe("CleanupStream", () => {
  const clean = (t: string) => PreTrainedTokenizerBase.clean_up_tokenization(t);

  it("streamed cleanup equals clean_up_tokenization of the whole text, for any split", () => {
    const unit = fc.constantFrom(" ", " ", "n", "'", "t", "s", "m", "v", "e", "r", ".", ",", "?", "!", "\n", "x", "ab");
    fc.assert(
      fc.property(
        fc.array(unit, { maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 5 }),
        (parts, sizes) => {
          const raw = parts.join("");
          const stream = new CleanupStream(clean);
          let out = "";
          for (let at = 0, k = 0; at < raw.length; k++) {
            const n = sizes[k % sizes.length];
            out += stream.push(raw.slice(at, at + n));
            if (!clean(raw).startsWith(out)) throw new Error(`retraction at ${at}: ${JSON.stringify(out)}`);
            at += n;
          }
          out += stream.flush();
          expect(out).toBe(clean(raw));
        },
      ),
      { numRuns: 500, seed: 3 },
    );
  });

  it('a chained match (" \' " then " n\'t") that starts before the last space is not emitted early', () => {
    // clean("a n ' t") = "an't": " ' " -> "'" makes " n't", which then loses its space.
    expect(clean("a n ' t")).toBe("an't");
    const stream = new CleanupStream(clean);
    const out = [..."a n ' t"].map((c) => stream.push(c)).join("") + stream.flush();
    expect(out).toBe("an't");
  });
});

describe("TextIteratorStreamer", () => {
  it("queues the text; plain iteration reads it once the stream has ended", () => {
    expect(() => [...new TextIteratorStreamer(fast)]).toThrow(ValueError);
    const s = new TextIteratorStreamer(fast, { skip_special_tokens: true });
    const ids = fast.encode("Hello world 😀");
    for (const id of ids) s.put([id]);
    s.end();
    expect([...s].join("")).toBe(fast.decode(ids, { skip_special_tokens: true }));
  });

  it("for await receives the pieces while they are produced", async () => {
    const s = new TextIteratorStreamer(slow, { skip_special_tokens: true });
    const ids = slow.encode("Streaming, token by token.");
    const feeder = (async () => {
      for (const id of ids) {
        await new Promise((r) => setTimeout(r, 1));
        s.put([id]);
      }
      s.end();
    })();
    const got: string[] = [];
    for await (const piece of s) got.push(piece);
    await feeder;
    expect(got.join("")).toBe("Streaming, token by token.");
    // One piece per put (some empty, as in HF), plus the one end() flushes.
    expect(got.length).toBe(ids.length + 1);
  });

  it("times out with a ValueError when nothing arrives (HF queue.Empty)", async () => {
    const s = new TextIteratorStreamer(fast, { timeout: 0.01 });
    const it = s[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toThrow(ValueError);
  });
});

describe("generate with a streamer", () => {
  // A fake model over the Llama 2 vocabulary: the logits at position p peak at script[p - 2], so after a
  // 3-token prompt it writes "▁world", "!", then </s>.
  const V = 32000;
  const script = [3186, 29991, 2];
  const model = () =>
    new FakeModel((_tok, pos) => peaks(V, { [script[Math.min(Math.max(pos - 2, 0), script.length - 1)]]: 10 }), {
      vocab_size: V,
      eos_token_id: 2,
    });

  it("puts the prompt [1, T], then each new id [1], then ends, as HF's GenerationMixin", () => {
    const calls: { shape: number[]; ids: number[] }[] = [];
    let ends = 0;
    const rec: BaseStreamer = {
      put: (v) => {
        const t = v as Tensor;
        calls.push({ shape: [...t.shape], ids: t.tolist().flat() });
      },
      end: () => {
        ends++;
      },
    };
    const out = generate(model(), [[1, 15043, 29892]], { max_new_tokens: 10, streamer: rec });
    expect(out.tolist()).toEqual([[1, 15043, 29892, 3186, 29991, 2]]);
    expect(calls).toEqual([
      { shape: [1, 3], ids: [1, 15043, 29892] },
      { shape: [1], ids: [3186] },
      { shape: [1], ids: [29991] },
      { shape: [1], ids: [2] },
    ]);
    expect(ends).toBe(1);
  });

  it("a TextStreamer with skip_prompt streams exactly the decode of the new tokens", () => {
    for (const tok of [slow, fast]) {
      const s = new Recorder(tok, { skip_prompt: true, skip_special_tokens: true });
      const prompt = [1, 15043, 29892];
      const out = generate(model(), [prompt], { max_new_tokens: 10, streamer: s }).tolist()[0] as number[];
      expect(s.text).toBe(tok.decode(out.slice(prompt.length), { skip_special_tokens: true }));
      expect(s.text).toBe("world!");
    }
  });

  it("a TextStreamer refuses a batch of two before generating (HF: batch size 1 only)", () => {
    const s = new Recorder(fast, {});
    expect(() =>
      generate(
        model(),
        [
          [1, 15043],
          [1, 3186],
        ],
        { max_new_tokens: 2, streamer: s },
      ),
    ).toThrow("TextStreamer only supports batch size 1");
  });
});
