/**
 * Splitting a byte stream into text lines.
 *
 * @module
 */
import { LineCutter, MAX_LINE_BYTES } from "./line_cap.ts";

/**
 * Reads a byte stream as UTF-8 and yields its lines, without their line ends. A line
 * longer than `cap` bytes is cut there, with a note (see `line_cap.ts`).
 *
 * @example
 * ```ts
 * import { readLines } from "./lines.ts";
 * for await (const line of readLines(Deno.stdin.readable)) console.log(line);
 * ```
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  cap = MAX_LINE_BYTES,
): AsyncGenerator<string> {
  const cutter = new LineCutter(cap);
  // Read here, not through a generator of chunks, and each line yielded by a loop, not by
  // `yield*` (which awaits each line of a chunk once more): a worker's reply reaches the
  // executor a few turns of the event loop sooner, and that is a chain's every edge.
  let reader: ReadableStreamBYOBReader;
  try {
    reader = stream.getReader({ mode: "byob" });
  } catch {
    for await (const chunk of stream) {
      for (const line of cutter.push(chunk)) yield line;
    }
    for (const line of cutter.end()) yield line;
    return;
  }
  try {
    // A byte stream (a process's pipe, a file) is read into one buffer used again for every
    // read, rather than a new 64 KiB buffer per read, which a process exchanging many short
    // lines would otherwise leave for the garbage collector.
    for (let view = new Uint8Array(16 * 1024);;) {
      const { value, done } = await reader.read(view);
      if (done || !value) break;
      for (const line of cutter.push(value)) yield line;
      view = new Uint8Array(value.buffer);
    }
  } finally {
    reader.releaseLock();
  }
  for (const line of cutter.end()) yield line;
}
