/**
 * Streamers: text as generation goes, mirroring HF transformers v4.44 `generation/streamers.py`
 * (`BaseStreamer`, `TextStreamer`, `TextIteratorStreamer`). `generate(..., { streamer })` calls `put(prompt ids)`
 * once, then `put(next ids)` after every step, then `end()`.
 *
 * What it computes: for the ids received so far, a prefix of `tokenizer.decode(ids, decode_kwargs)` that no later
 * id can change, and it emits (via `on_finalized_text`) the part of that prefix not yet emitted. `end()` emits the
 * rest, so the concatenation of everything emitted is exactly `decode(all ids)`, and nothing emitted is ever
 * retracted. Shapes: `put` takes ids [n], [1, n], a single id, or an int Tensor of those shapes (batch 1 only).
 *
 * When the decoded text can still change (Llama's decoders, slow and fast):
 * - a trailing run of byte-fallback pieces (`<0xE4>`, `<0xB8>`, ...). An unfinished UTF-8 sequence decodes to
 *   U+FFFD and becomes the real character when its last byte arrives, so it is held. sentencepiece (the slow
 *   tokenizer) decodes character by character, so the finished characters before it are final. tokenizers'
 *   ByteFallback (the fast one) decodes the run all or nothing: one invalid byte anywhere turns every byte of the
 *   run into U+FFFD (`decode([▁, F0 9F 98 80])` is "😀", add <0xE7> and it is five U+FFFD), so there the whole run
 *   waits for a piece that is not a byte piece. Both rules come from trial decodes: the ids up to the unfinished
 *   sequence, and the ids plus <0xFF> (a byte that is never valid). With `skip_special_tokens` a skipped special
 *   token does not close a run (the two runs around it join);
 * - with `clean_up_tokenization_spaces`, " ." -> "." and friends remove a space once the next characters arrive,
 *   so the cleanup is applied to raw text in pieces that end after a newline or after 3 characters that are not
 *   spaces (no cleanup pattern can reach across either; see {@link CleanupStream}).
 * - a special token arriving next (when they are not skipped): the slow tokenizer in legacy mode (HF
 *   `LlamaTokenizer.convert_tokens_to_string`) writes " " *before* the run of text that precedes a special token,
 *   so `decode([▁Hello])` is "Hello" but `decode([▁Hello, </s>])` is " Hello</s>". Each step therefore also decodes
 *   the ids plus one special id and keeps only what both decodes share. With that tokenizer and
 *   `skip_special_tokens: false` the text after a special token is held until the next one or `end()`: exact, but
 *   not streaming; pass `skip_special_tokens: true`, or use LlamaTokenizerFast or `legacy: false`, to stream.
 * Everything else is append-only: the leading-space strip of the first token happens once at the start, and
 * sentencepiece/ByteFallback decode each closed run on its own.
 *
 * Cost: decoding everything on every step would be quadratic. Like HF (which restarts its cache after a newline),
 * the streamer decodes a window of recent ids. The window restarts at a "plain" token t: not special or added, not
 * a byte piece, not `<unk>`, and whose piece is text with at most one leading "▁", once everything before it has
 * been emitted (so never inside held text: with the legacy slow tokenizer and specials not skipped, nothing is
 * final before the next special token, the window does not restart, and the cost grows with the stream). Then
 * `decode(before + t + after) = decode(before + t) + decode(t + after).slice(decode(t).length)`: t decodes the
 * same way (with its leading space stripped) whether it starts the window or not, and what follows it does not
 * depend on what preceded it. HF's restart after "\n" does not have this property — the space of a "▁word" after
 * the newline is lost (`decode([▁b])` is "b") — which is one of the two places this streamer deliberately differs
 * from HF's. The other: HF emits text only up to the last space (whole words) or up to a CJK character, a heuristic
 * against retractions; here text is emitted as soon as it is final, token by token, with exact rules instead.
 */
import { ValueError } from "../errors.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { DecodeOptions, PreTrainedTokenizerBase } from "../tokenization_utils_base.ts";

/** HF `BaseStreamer`: what `generate` calls. `value` holds the prompt ids first, then each step's new ids. */
export interface BaseStreamer {
  put(value: Tensor | number[] | number[][] | number): void;
  end(): void;
}

/** Options of TextStreamer: HF's `skip_prompt` plus the keyword arguments given to `decode`. */
export interface TextStreamerOptions extends DecodeOptions {
  /** Do not emit the ids of the first `put` (the prompt that generate passes before generating). */
  skip_prompt?: boolean;
}

const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;
/** A piece that is text: at most one leading "▁", then something else. */
const PLAIN_PIECE = /^\u2581?[^\u2581]/u;

/** Ids of one sequence from what HF's `put` accepts (a batch of one is unwrapped; more rows are refused, as HF does). */
function readIds(value: Tensor | number[] | number[][] | number): number[] {
  if (typeof value === "number") return [value];
  if (value instanceof Tensor) {
    if (value.dtype !== "int32" && value.dtype !== "int64")
      throw new ValueError(`TextStreamer.put: expected an int32 or int64 Tensor, got ${value.dtype}`);
    if (value.shape.length > 1 && value.shape[0] > 1) throw new ValueError("TextStreamer only supports batch size 1");
    if (value.shape.length > 2)
      throw new ValueError(`TextStreamer.put: expected ids of shape [n] or [1, n], got [${value.shape.join(", ")}]`);
    return Array.from({ length: value.size }, (_, i) => value.item(i));
  }
  if (!Array.isArray(value)) throw new ValueError(`TextStreamer.put: expected token ids, got ${typeof value}`);
  if (value.length > 0 && Array.isArray(value[0])) {
    if (value.length > 1) throw new ValueError("TextStreamer only supports batch size 1");
    return [...(value[0] as number[])];
  }
  return [...(value as number[])];
}

/**
 * HF's `clean_up_tokenization` as a stream: `push(raw)` returns cleaned text that no later raw text can change,
 * `flush()` the rest. The cleanup patterns (" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're") all
 * start with a space, are at most 4 characters long, contain no newline and only ever remove spaces. So a match
 * never spans a point that follows a newline or 3 characters that are not spaces, and the cleanup of A + B is the
 * cleanup of A followed by the cleanup of B when A ends there (each pass of the chain keeps those characters).
 */
export class CleanupStream {
  private pending = "";

  constructor(private readonly clean: (text: string) => string) {}

  push(raw: string): string {
    this.pending += raw;
    let cut = 0;
    let run = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const ch = this.pending[i];
      run = ch === " " ? 0 : run + 1;
      if (ch === "\n" || run >= 3) cut = i + 1;
    }
    if (cut === 0) return "";
    const done = this.pending.slice(0, cut);
    this.pending = this.pending.slice(cut);
    return this.clean(done);
  }

  flush(): string {
    const rest = this.pending;
    this.pending = "";
    return rest.length > 0 ? this.clean(rest) : "";
  }
}

/**
 * HF `TextStreamer`: decodes ids as they come and hands the new final text to `on_finalized_text`, which prints it
 * to stdout (and a newline at the end of the stream). Subclass and override `on_finalized_text` to send it
 * elsewhere. Batch size 1 only, as in HF.
 */
export class TextStreamer implements BaseStreamer {
  readonly tokenizer: PreTrainedTokenizerBase;
  readonly skip_prompt: boolean;
  readonly decode_kwargs: DecodeOptions;
  /** The decode window: ids since the last restart (see the module comment). */
  token_cache: number[] = [];
  /** How many characters of `decode(token_cache)` have been emitted (before cleanup). */
  print_len = 0;
  next_tokens_are_prompt = true;

  private readonly specialIds: Set<number>;
  private readonly addedIds: Set<number>;
  private readonly cleanup: CleanupStream | null;
  private readonly rawDecodeOptions: DecodeOptions;
  /** A special id appended in a trial decode, to see what a special token arriving next would change. */
  private readonly probeId: number | null;
  /** The byte piece <0xFF> (never valid in UTF-8), for the same kind of trial decode. */
  private readonly invalidByteId: number | null;

  constructor(tokenizer: PreTrainedTokenizerBase, opts: TextStreamerOptions = {}) {
    const { skip_prompt = false, ...decode_kwargs } = opts;
    this.tokenizer = tokenizer;
    this.skip_prompt = skip_prompt;
    this.decode_kwargs = decode_kwargs;
    this.specialIds = new Set(tokenizer.all_special_ids);
    const added = (tokenizer as unknown as { added_tokens_decoder?: unknown }).added_tokens_decoder;
    this.addedIds = new Set(
      added instanceof Map ? [...added.keys()].filter((k): k is number => typeof k === "number") : [],
    );
    const cleanUp = decode_kwargs.clean_up_tokenization_spaces ?? tokenizer.clean_up_tokenization_spaces;
    // decode(ids) with cleanup is clean_up_tokenization(decode(ids) without it): the window works on raw text.
    this.cleanup = cleanUp ? new CleanupStream((t) => tokenizer.clean_up_tokenization(t)) : null;
    this.rawDecodeOptions = { ...decode_kwargs, clean_up_tokenization_spaces: false };
    const ff = tokenizer.convert_tokens_to_ids("<0xFF>");
    this.invalidByteId =
      typeof ff === "number" && ff !== tokenizer.unk_token_id && BYTE_PIECE.test(tokenizer.convert_ids_to_tokens(ff))
        ? ff
        : null;
    const special = tokenizer.eos_token_id ?? tokenizer.all_special_ids[0] ?? null;
    this.probeId = decode_kwargs.skip_special_tokens ? null : special;
  }

  /** Receives ids (the prompt first, then each step's), emits the text that became final. */
  put(value: Tensor | number[] | number[][] | number): void {
    const ids = readIds(value);
    if (this.skip_prompt && this.next_tokens_are_prompt) {
      this.next_tokens_are_prompt = false;
      return;
    }
    for (const id of ids) this.token_cache.push(id);
    const text = this.decode(this.token_cache);
    let stable = text.length;
    const open = this.openByteSequenceStart();
    if (open >= 0) stable = commonPrefixLength(this.decode(this.token_cache.slice(0, open)), text);
    if (open >= 0 || this.trailingByteRunStart() >= 0) {
      // A byte that can never be valid UTF-8 arriving next: what ByteFallback's all-or-nothing run would undo.
      if (this.invalidByteId !== null)
        stable = Math.min(stable, commonPrefixLength(this.decode([...this.token_cache, this.invalidByteId]), text));
    }
    if (this.probeId !== null)
      stable = Math.min(stable, commonPrefixLength(this.decode([...this.token_cache, this.probeId]), text));
    let printable = "";
    if (stable > this.print_len) {
      printable = text.slice(this.print_len, stable);
      this.print_len = stable;
    }
    if (
      this.print_len === text.length &&
      this.token_cache.length > 1 &&
      this.isRestartToken(this.token_cache[this.token_cache.length - 1])
    ) {
      const last = this.token_cache[this.token_cache.length - 1];
      this.token_cache = [last];
      this.print_len = this.decode(this.token_cache).length;
    }
    this.on_finalized_text(this.cleanup ? this.cleanup.push(printable) : printable);
  }

  /** Emits whatever is left (held bytes included, as `decode` renders them) and resets for the next stream. */
  end(): void {
    let printable = "";
    if (this.token_cache.length > 0) {
      printable = this.decode(this.token_cache).slice(this.print_len);
      this.token_cache = [];
      this.print_len = 0;
    }
    if (this.cleanup) printable = this.cleanup.push(printable) + this.cleanup.flush();
    this.next_tokens_are_prompt = true;
    this.on_finalized_text(printable, true);
  }

  /** HF: prints the new text to stdout, and a newline when the stream ends. */
  on_finalized_text(text: string, stream_end = false): void {
    process.stdout.write(stream_end ? text + "\n" : text);
  }

  private decode(ids: number[]): string {
    return ids.length === 0 ? "" : this.tokenizer.decode(ids, this.rawDecodeOptions);
  }

  private isByteToken(id: number): boolean {
    return !this.addedIds.has(id) && BYTE_PIECE.test(this.tokenizer.convert_ids_to_tokens(id));
  }

  /**
   * Index in `token_cache` of the byte piece that starts an unfinished UTF-8 sequence at the end of the trailing
   * byte run (a lead byte followed by fewer continuation bytes than it announces), or -1.
   */
  private openByteSequenceStart(): number {
    const start = this.trailingByteRunStart();
    if (start < 0) return -1;
    const skip = this.decode_kwargs.skip_special_tokens ?? false;
    const bytes: { value: number; index: number }[] = [];
    for (let i = start; i < this.token_cache.length; i++) {
      const id = this.token_cache[i];
      if (skip && this.specialIds.has(id)) continue;
      bytes.push({ value: parseInt(this.tokenizer.convert_ids_to_tokens(id).slice(3, 5), 16), index: i });
    }
    for (let j = bytes.length - 1; j >= 0 && j >= bytes.length - 4; j--) {
      const b = bytes[j].value;
      if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for its lead
      const need = b >= 0xf0 && b <= 0xf7 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      return b < 0xf8 && bytes.length - j < need ? bytes[j].index : -1;
    }
    return -1;
  }

  /** Index in `token_cache` where the trailing run of byte pieces starts (skipped special ids are see-through), or -1. */
  private trailingByteRunStart(): number {
    const skip = this.decode_kwargs.skip_special_tokens ?? false;
    let i = this.token_cache.length - 1;
    let sawByte = false;
    for (; i >= 0; i--) {
      const id = this.token_cache[i];
      if (skip && this.specialIds.has(id)) continue;
      if (!this.isByteToken(id)) break;
      sawByte = true;
    }
    return sawByte ? i + 1 : -1;
  }

  /** A token the window may restart at (see the module comment). */
  private isRestartToken(id: number): boolean {
    if (this.specialIds.has(id) || this.addedIds.has(id) || id === this.tokenizer.unk_token_id) return false;
    const piece = this.tokenizer.convert_ids_to_tokens(id);
    return !BYTE_PIECE.test(piece) && PLAIN_PIECE.test(piece);
  }
}

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** Options of TextIteratorStreamer: TextStreamer's, plus HF's `timeout` (seconds) for waiting on the next text. */
export interface TextIteratorStreamerOptions extends TextStreamerOptions {
  timeout?: number | null;
}

/**
 * HF `TextIteratorStreamer`: queues the text instead of printing it, for a consumer to iterate. `for await` waits
 * for each piece (with `timeout` seconds at most, then a ValueError as HF's `queue.Empty`); plain `for ... of`
 * reads what is queued, which is everything once a (synchronous) `generate` has returned. Empty strings are queued
 * too, one per `put`, as in HF.
 */
export class TextIteratorStreamer extends TextStreamer implements AsyncIterable<string>, Iterable<string> {
  readonly text_queue: (string | null)[] = [];
  /** HF's `stop_signal`: queued by `end()`. */
  readonly stop_signal = null;
  readonly timeout: number | null;
  private waiters: ((v: string | null) => void)[] = [];

  constructor(tokenizer: PreTrainedTokenizerBase, opts: TextIteratorStreamerOptions = {}) {
    const { timeout = null, ...rest } = opts;
    super(tokenizer, rest);
    if (timeout !== null && !(typeof timeout === "number" && timeout >= 0))
      throw new ValueError(`timeout: expected a non-negative number of seconds or null, got ${String(timeout)}`);
    this.timeout = timeout;
  }

  override on_finalized_text(text: string, stream_end = false): void {
    this.enqueue(text);
    if (stream_end) this.enqueue(this.stop_signal);
  }

  private enqueue(v: string | null): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(v);
    else this.text_queue.push(v);
  }

  private next(): Promise<string | null> {
    if (this.text_queue.length > 0) return Promise.resolve(this.text_queue.shift() as string | null);
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waiter = (v: string | null) => {
        if (timer !== undefined) clearTimeout(timer);
        resolve(v);
      };
      this.waiters.push(waiter);
      if (this.timeout !== null) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new ValueError(`TextIteratorStreamer: no text within ${this.timeout} s (HF raises queue.Empty)`));
        }, this.timeout * 1000);
      }
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for (;;) {
      const v = await this.next();
      if (v === this.stop_signal) return;
      yield v as string;
    }
  }

  *[Symbol.iterator](): Iterator<string> {
    for (;;) {
      if (this.text_queue.length === 0) {
        throw new ValueError(
          "TextIteratorStreamer: the queue is empty and the stream has not ended; iterate with `for await` while generating",
        );
      }
      const v = this.text_queue.shift() as string | null;
      if (v === this.stop_signal) return;
      yield v as string;
    }
  }
}
