/**
 * The tail of a record file (a task's log), read as a stream.
 *
 * @module
 */
import type { DataFs } from "../storage/data_fs.ts";
import { NotFoundError, PathEscapeError } from "../storage/driver.ts";

/** The last `count` lines of a file, read as a stream; undefined when it does not exist. */
export async function lastLines(
  fs: DataFs,
  path: string,
  count: number,
): Promise<string[] | undefined> {
  let stream: ReadableStream<Uint8Array>;
  try {
    stream = await fs.readStream(path);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    // The data dir's guard refused it (a log replaced by a symlink out of the data dir).
    if (error instanceof PathEscapeError) return [`[kt-deno: log not shown: ${error.message}]`];
    throw error;
  }
  const lines: string[] = [];
  let partial = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    for (const part of parts) lines.push(part);
    if (lines.length > count) lines.splice(0, lines.length - count);
  }
  if (partial) lines.push(partial);
  return lines.slice(-count);
}
