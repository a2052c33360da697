/**
 * Large generated texts, made line by line at a constant cost per line and
 * produced as chunks while they are written.
 *
 * A kernel's output is millions of short lines (a 100 000-variable manifest
 * alone is 60 MB). Kept in one array until the end, every line string
 * survives each young-generation collection and is copied into the old
 * generation, and the whole text then exists three times: as lines, as one
 * string and encoded. A {@link LineBuffer} joins every few thousand lines
 * into one small flat chunk, so the line strings die young; a
 * {@link ChunkedText} produces those chunks on demand, so writing a file holds
 * one chunk at a time and never the whole text.
 *
 * @module
 */

/** A chunk is closed after this many lines... */
const CHUNK_LINES = 4096;
/** ...or this many characters: small enough to stay an ordinary (reused) heap object, not a page-mapped large one. */
const CHUNK_CHARS = 48 * 1024;

/**
 * A generated text, produced as chunks whose concatenation is the text. The
 * chunks are made again for each pass over them (by a pure producer), so a
 * writer holds one at a time; the whole string is made only when asked for,
 * once.
 *
 * @example
 * ```ts
 * import { ChunkedText } from "./text.ts";
 * const t = new ChunkedText(function* () {
 *   yield "#define A 1\n";
 *   yield "#define B 2\n";
 * });
 * t.text(); // "#define A 1\n#define B 2\n"
 * [...t.chunks()].length; // 2
 * ```
 */
export class ChunkedText {
  readonly #produce: () => Iterable<string>;
  #whole: string | undefined;

  /** `produce` makes the chunks in order; it must be pure (every pass yields the same text). */
  constructor(produce: () => Iterable<string>) {
    this.#produce = produce;
  }

  /** The chunks, in order (the whole text as one chunk once it has been made). */
  chunks(): Iterable<string> {
    return this.#whole !== undefined ? [this.#whole] : this.#produce();
  }

  /** The whole text (made on the first call). */
  text(): string {
    if (this.#whole === undefined) {
      const parts: string[] = [];
      for (const chunk of this.#produce()) parts.push(chunk);
      this.#whole = parts.join("");
    }
    return this.#whole;
  }

  /** The whole text. */
  toString(): string {
    return this.text();
  }
}

/**
 * Lines joined by `"\n"` as flat chunks: the concatenation of every chunk
 * {@link LineBuffer.take} and {@link LineBuffer.end} hand over is exactly
 * `lines.join("\n")` of every line pushed, in order. A producer of a
 * {@link ChunkedText} pushes lines and, whenever {@link LineBuffer.ready},
 * `yield* take()`s.
 *
 * @example
 * ```ts
 * import { LineBuffer } from "./text.ts";
 * const out = new LineBuffer();
 * out.push("#define A 1", "#define B 2");
 * out.push("");
 * out.end().join(""); // "#define A 1\n#define B 2\n"
 * ```
 */
export class LineBuffer {
  #chunks: string[] = [];
  #lines: string[] = [];
  #chars = 0;
  /** Whether a chunk was closed before: the next one starts with the newline after its last line. */
  #continued = false;

  /** Appends lines (each without its newline). */
  push(...lines: string[]): void {
    for (const line of lines) {
      this.#lines.push(line);
      this.#chars += line.length;
    }
    if (this.#lines.length >= CHUNK_LINES || this.#chars >= CHUNK_CHARS) this.#close();
  }

  /** Whether a chunk has been closed and not taken yet (checked after every variable: no allocation). */
  get ready(): boolean {
    return this.#chunks.length > 0;
  }

  /** Hands over the chunks closed so far. */
  take(): readonly string[] {
    const chunks = this.#chunks;
    this.#chunks = [];
    return chunks;
  }

  /** Closes the last chunk and hands over every chunk not taken yet. */
  end(): readonly string[] {
    this.#close();
    return this.take();
  }

  #close(): void {
    if (this.#lines.length === 0) return;
    if (this.#continued) this.#lines.unshift("");
    this.#chunks.push(this.#lines.join("\n"));
    this.#continued = true;
    this.#lines = [];
    this.#chars = 0;
  }
}
