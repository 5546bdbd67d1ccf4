/**
 * The typed errors of llama-ts.
 *
 * Every error a user can cause with bad input (a malformed file, an inconsistent config, a wrong shape, an
 * out-of-range id) is a subclass of {@link LlamaError}, and its message names the file or field and what
 * was expected. Catch `LlamaError` to tell input problems from bugs.
 */

export class LlamaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An invalid LlamaConfig field or combination of fields (HF raises ValueError at construction). */
export class ConfigError extends LlamaError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A checkpoint file (safetensors, index.json, config.json) that is missing, malformed or inconsistent. */
export class CheckpointError extends LlamaError {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/**
 * A pickle (`.pth`, `pytorch_model.bin`) that imports a global outside the state-dict allowlist, e.g.
 * `posix.system` or `builtins.eval`: refused before any of its opcodes is interpreted. `global` is the
 * `module.name` it asked for.
 */
export class UnsafePickleError extends CheckpointError {
  constructor(
    file: string,
    readonly global: string,
    message: string,
  ) {
    super(file, message);
  }
}

/** A malformed tokenizer file (tokenizer.model, tokenizer.json, tokenizer_config.json) or tokenizer input. */
export class TokenizerError extends LlamaError {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** A tensor argument with the wrong shape, dtype or values (e.g. token ids out of the vocabulary). */
export class ShapeError extends LlamaError {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument}: ${message}`);
  }
}

/** A call HF also refuses (e.g. batch > 1 without a pad token in sequence classification). */
export class ValueError extends LlamaError {}

/**
 * A chat template that does not parse or render, or that calls `raise_exception(message)` itself (HF raises
 * jinja2's `TemplateError` in both cases).
 */
export class TemplateError extends LlamaError {}

/**
 * A matmul worker thread that threw, exited or stopped making progress during a call (src/backends/wasm_simd.ts).
 * The call fails with this error; the pool replaces the worker and the next call runs normally.
 */
export class MatmulWorkerError extends LlamaError {}
