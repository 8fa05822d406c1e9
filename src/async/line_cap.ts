/**
 * Lines of bounded length: a task may print a line of any length (100 MB without a
 * newline), and kt-deno keeps at most {@linkcode MAX_LINE_BYTES} of it, with a note that
 * says how much was cut, in time linear in the output and memory bounded by the cap.
 *
 * @module
 */

/** The longest line kept of a task's output, in bytes of UTF-8: 64 KiB. */
export const MAX_LINE_BYTES = 64 * 1024;

/**
 * The longest line with its cut note: what a line already cut (by {@linkcode LineCutter})
 * may take without being cut again.
 */
export const MAX_NOTED_LINE_BYTES = MAX_LINE_BYTES + 100;

/** The note that ends a line cut at `cap` bytes, `dropped` bytes of it not kept. */
export function cutNote(cap: number, dropped: number): string {
  return ` [kt-deno: line cut at ${cap} bytes; ${dropped} more bytes not kept]`;
}

/** The length of a text in bytes of UTF-8, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff) i++, bytes += 2; // a pair: 4 bytes for 2 units
    else bytes += 2;
  }
  return bytes;
}

/** The number of bytes of `bytes[0, end)` that end on a UTF-8 character boundary. */
function boundary(bytes: Uint8Array, end: number): number {
  let at = end;
  // Back off over continuation bytes to the start of the last character...
  while (at > 0 && (bytes[at - 1] & 0xc0) === 0x80) at--;
  if (at === 0) return end;
  const lead = bytes[at - 1];
  const size = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  // ...and keep it only when it is whole.
  return end - (at - 1) >= size ? end : at - 1;
}

/**
 * A text line cut to at most `cap` bytes of UTF-8, with a note when it was cut.
 *
 * @example
 * ```ts
 * import { capLine } from "./line_cap.ts";
 * capLine("abcdef", 4); // "abcd [kt-deno: line cut at 4 bytes; 2 more bytes not kept]"
 * capLine("abc", 4); // "abc"
 * ```
 */
export function capLine(text: string, cap = MAX_LINE_BYTES): string {
  if (text.length * 3 <= cap) return text;
  const size = utf8Length(text);
  if (size <= cap) return text;
  const bytes = new TextEncoder().encode(text.slice(0, cap));
  const end = boundary(bytes, Math.min(cap, bytes.length));
  return new TextDecoder().decode(bytes.subarray(0, end)) + cutNote(cap, size - end);
}

/**
 * Splits a stream of bytes into lines (without their `\n` or `\r\n`), keeping at most
 * `cap` bytes of each: the rest of a longer line is counted and skipped, and the line
 * ends with a note saying how much. Memory is the cap; time is linear in the bytes.
 *
 * @example
 * ```ts
 * import { LineCutter } from "./line_cap.ts";
 * const cutter = new LineCutter(4);
 * const bytes = new TextEncoder().encode("ab\nabcdefgh\nx");
 * [...cutter.push(bytes), ...cutter.end()];
 * // ["ab", "abcd [kt-deno: line cut at 4 bytes; 4 more bytes not kept]", "x"]
 * ```
 */
export class LineCutter {
  readonly #kept: Uint8Array;
  readonly #decoder = new TextDecoder();
  #length = 0;
  #dropped = 0;

  constructor(readonly cap = MAX_LINE_BYTES) {
    this.#kept = new Uint8Array(cap);
  }

  /** The lines that `chunk` ends. */
  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    for (let start = 0; start < chunk.length;) {
      const newline = chunk.indexOf(10, start);
      const end = newline < 0 ? chunk.length : newline;
      this.#take(chunk.subarray(start, end));
      if (newline < 0) break;
      lines.push(this.#line());
      start = newline + 1;
    }
    return lines;
  }

  /** The last line, when the stream did not end with a newline. */
  end(): string[] {
    return this.#length > 0 || this.#dropped > 0 ? [this.#line()] : [];
  }

  #take(bytes: Uint8Array): void {
    const room = this.cap - this.#length;
    if (bytes.length <= room) {
      this.#kept.set(bytes, this.#length);
      this.#length += bytes.length;
    } else {
      this.#kept.set(bytes.subarray(0, room), this.#length);
      this.#length = this.cap;
      this.#dropped += bytes.length - room;
    }
  }

  #line(): string {
    let text: string;
    if (this.#dropped === 0) {
      const end = this.#kept[this.#length - 1] === 13 ? this.#length - 1 : this.#length;
      text = this.#decoder.decode(this.#kept.subarray(0, end));
    } else {
      const end = boundary(this.#kept, this.#length);
      text = this.#decoder.decode(this.#kept.subarray(0, end)) +
        cutNote(this.cap, this.#dropped + this.#length - end);
    }
    this.#length = 0;
    this.#dropped = 0;
    return text;
  }
}
