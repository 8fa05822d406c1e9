/**
 * The frames kt-deno and its Python workers exchange over their pipes: two 32-bit
 * big-endian sizes, a JSON header of the first size, then a body of bytes of the second
 * (file contents, a task's args, a dynamic job's returned jobs).
 *
 * @module
 */

/** One frame: a JSON header and a body of bytes (often empty). */
export interface Frame {
  header: Record<string, unknown>;
  body: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes a frame.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./frames.ts";
 * const bytes = encodeFrame({ t: "task" }, new TextEncoder().encode("{}"));
 * bytes.length; // 8 + 12 + 2
 * ```
 */
export function encodeFrame(
  header: Record<string, unknown>,
  body: Uint8Array = new Uint8Array(),
): Uint8Array {
  const json = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length);
  view.setUint32(4, body.length);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/**
 * Reads frames from a byte stream, in order, until it ends. Chunks are kept as they come
 * and joined once per frame, so a large body costs one copy.
 */
export async function* readFrames(stream: ReadableStream<Uint8Array>): AsyncGenerator<Frame> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const take = (size: number): Uint8Array => {
    const out = new Uint8Array(size);
    for (let filled = 0; filled < size;) {
      const chunk = chunks[0];
      const part = Math.min(chunk.length, size - filled);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.length) chunks.shift();
      else chunks[0] = chunk.subarray(part);
    }
    length -= size;
    return out;
  };
  let sizes: [number, number] | undefined;
  for await (const chunk of stream) {
    chunks.push(chunk);
    length += chunk.length;
    for (;;) {
      if (!sizes) {
        if (length < 8) break;
        const view = new DataView(take(8).buffer);
        sizes = [view.getUint32(0), view.getUint32(4)];
      }
      if (length < sizes[0] + sizes[1]) break;
      const header = JSON.parse(decoder.decode(take(sizes[0])));
      const body = take(sizes[1]);
      sizes = undefined;
      yield { header, body };
    }
  }
}
