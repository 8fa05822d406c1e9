/**
 * Lines of bounded length: a task may print a line of any length (100 MB without a
 * newline), and kt-deno keeps at most {@linkcode MAX_LINE_BYTES} of it, its start and its
 * end, with a note between them that says how much was cut, in time linear in the output
 * and memory bounded by the cap.
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

/** The note between the start and the end of a line cut at `cap` bytes. */
export function cutNote(cap: number, dropped: number): string {
  return ` [kt-deno: line cut at ${cap} bytes: ${dropped} bytes not kept here] `;
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

/** How many of the first `end` bytes end on a UTF-8 character boundary. */
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

/** Where the first whole UTF-8 character of `bytes` starts. */
function firstWhole(bytes: Uint8Array): number {
  let at = 0;
  while (at < bytes.length && at < 3 && (bytes[at] & 0xc0) === 0x80) at++;
  return at;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A text line cut to at most `cap` bytes of UTF-8 (its start and its end, a note between),
 * or the line itself when it fits.
 *
 * @example
 * ```ts
 * import { capLine } from "./line_cap.ts";
 * capLine("abcdefgh", 4); // "ab [kt-deno: line cut at 4 bytes: 4 bytes not kept here] gh"
 * capLine("abc", 4); // "abc"
 * ```
 */
export function capLine(text: string, cap = MAX_LINE_BYTES): string {
  if (text.length * 3 <= cap) return text;
  const size = utf8Length(text);
  if (size <= cap) return text;
  const half = Math.floor(cap / 2);
  const start = encoder.encode(text.slice(0, half));
  const head = start.subarray(0, boundary(start, Math.min(half, start.length)));
  const finish = encoder.encode(text.slice(-half));
  const last = finish.subarray(Math.max(0, finish.length - half));
  const tail = last.subarray(firstWhole(last));
  return decoder.decode(head) + cutNote(cap, size - head.length - tail.length) +
    decoder.decode(tail);
}

/**
 * Splits a stream of bytes into lines (without their `\n` or `\r\n`), keeping at most
 * `cap` bytes of each: of a longer line, its first and its last `cap / 2` bytes, with a
 * note between them saying how much was skipped. Memory is the cap; time is linear in the
 * bytes.
 *
 * @example
 * ```ts
 * import { LineCutter } from "./line_cap.ts";
 * const cutter = new LineCutter(4);
 * const bytes = new TextEncoder().encode("ab\nabcdefgh\nx");
 * [...cutter.push(bytes), ...cutter.end()];
 * // ["ab", "ab [kt-deno: line cut at 4 bytes: 4 bytes not kept here] gh", "x"]
 * ```
 */
export class LineCutter {
  readonly #half: number;
  /** The line's start, up to half the cap... */
  readonly #head: Uint8Array;
  #headLength = 0;
  /** ...then its last bytes, up to the other half, in a ring. */
  readonly #ring: Uint8Array;
  #ringEnd = 0;
  #ringFull = false;
  /** Bytes of the line past the head (the ring holds the last of them). */
  #rest = 0;

  constructor(readonly cap = MAX_LINE_BYTES) {
    this.#half = Math.max(1, Math.floor(cap / 2));
    this.#head = new Uint8Array(cap - this.#half);
    this.#ring = new Uint8Array(this.#half);
  }

  /** The lines that `chunk` ends. */
  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    for (let start = 0; start < chunk.length;) {
      const newline = chunk.indexOf(10, start);
      const end = newline < 0 ? chunk.length : newline;
      if (newline >= 0 && this.#headLength === 0 && end - start <= this.#head.length) {
        // A whole line in the chunk, and short: decoded where it is, not copied twice first.
        lines.push(decoder.decode(chunk.subarray(start, chunk[end - 1] === 13 ? end - 1 : end)));
        start = newline + 1;
        continue;
      }
      this.#take(chunk.subarray(start, end));
      if (newline < 0) break;
      lines.push(this.#line());
      start = newline + 1;
    }
    return lines;
  }

  /** The last line, when the stream did not end with a newline. */
  end(): string[] {
    return this.#headLength > 0 || this.#rest > 0 ? [this.#line()] : [];
  }

  #take(bytes: Uint8Array): void {
    const room = this.#head.length - this.#headLength;
    const first = bytes.subarray(0, room);
    this.#head.set(first, this.#headLength);
    this.#headLength += first.length;
    let rest = bytes.subarray(first.length);
    if (rest.length === 0) return;
    this.#rest += rest.length;
    const ring = this.#ring.length;
    if (rest.length >= ring) {
      this.#ring.set(rest.subarray(rest.length - ring));
      this.#ringEnd = 0;
      this.#ringFull = true;
      return;
    }
    while (rest.length > 0) {
      const part = rest.subarray(0, ring - this.#ringEnd);
      this.#ring.set(part, this.#ringEnd);
      this.#ringEnd += part.length;
      if (this.#ringEnd === ring) this.#ringEnd = 0, this.#ringFull = true;
      rest = rest.subarray(part.length);
    }
  }

  /** The ring's bytes, oldest first. */
  #tail(): Uint8Array {
    if (!this.#ringFull) return this.#ring.subarray(0, this.#ringEnd);
    const out = new Uint8Array(this.#ring.length);
    out.set(this.#ring.subarray(this.#ringEnd));
    out.set(this.#ring.subarray(0, this.#ringEnd), this.#ring.length - this.#ringEnd);
    return out;
  }

  #line(): string {
    let text: string;
    const tailBytes = this.#tail();
    if (this.#rest <= tailBytes.length) {
      // The whole line fits: the head, then what the ring holds.
      const whole = new Uint8Array(this.#headLength + tailBytes.length);
      whole.set(this.#head.subarray(0, this.#headLength));
      whole.set(tailBytes, this.#headLength);
      const end = whole[whole.length - 1] === 13 ? whole.length - 1 : whole.length;
      text = decoder.decode(whole.subarray(0, end));
    } else {
      const head = this.#head.subarray(0, boundary(this.#head, this.#headLength));
      const cr = tailBytes[tailBytes.length - 1] === 13 ? 1 : 0;
      const tail = tailBytes.subarray(firstWhole(tailBytes), tailBytes.length - cr);
      const total = this.#headLength + this.#rest - cr;
      text = decoder.decode(head) + cutNote(this.cap, total - head.length - tail.length) +
        decoder.decode(tail);
    }
    this.#headLength = 0;
    this.#ringEnd = 0;
    this.#ringFull = false;
    this.#rest = 0;
    return text;
  }
}
