/**
 * Splitting a byte stream into text lines.
 *
 * @module
 */

/**
 * Reads a byte stream as UTF-8 and yields its lines, without their line ends.
 *
 * @example
 * ```ts
 * import { readLines } from "./lines.ts";
 * for await (const line of readLines(Deno.stdin.readable)) console.log(line);
 * ```
 */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
    }
  }
  if (buffer) yield buffer;
}
