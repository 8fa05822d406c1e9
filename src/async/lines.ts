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
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of chunks(stream)) {
    buffer += decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let end; (end = buffer.indexOf("\n", start)) >= 0; start = end + 1) {
      yield buffer.slice(start, end).replace(/\r$/, "");
    }
    buffer = buffer.slice(start);
  }
  buffer += decoder.decode();
  if (buffer) yield buffer;
}

/**
 * The chunks of a stream. A byte stream (a process's pipe, a file) is read into one buffer
 * used again for every read, rather than a new 64 KiB buffer per read, which a process
 * exchanging many short lines would otherwise leave for the garbage collector.
 */
async function* chunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = stream.getReader({ mode: "byob" });
  } catch {
    return yield* stream;
  }
  try {
    for (let view = new Uint8Array(16 * 1024);;) {
      const { value, done } = await reader.read(view);
      if (done || !value) return;
      yield value;
      view = new Uint8Array(value.buffer);
    }
  } finally {
    reader.releaseLock();
  }
}
