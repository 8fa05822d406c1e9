/**
 * Task logs kept in the data dir: lines are buffered and written about once a second, so
 * a follower sees a running task's output while it runs.
 *
 * A local data dir gets appends. An object store cannot append (an append is a read and
 * a rewrite of the whole object), so there each log is kept in memory while it grows and
 * the whole object is rewritten on each flush: at most once a second per log that has new
 * lines, with a last write on close. A log that has been quiet for a while is dropped from
 * memory and, should it get more lines, read back before its next write.
 *
 * Every line is cut at 64 KiB (`line_cap.ts`), and every log, local or on S3, at
 * {@linkcode LogSinkOptions.capBytes}: past it, the log keeps its first half and its last
 * half, and a line between them says how many lines and bytes were dropped. Once cut, a
 * log is rewritten whole on each flush, at most the cap.
 *
 * @module
 */
import { capLine, MAX_NOTED_LINE_BYTES, utf8Length } from "../async/line_cap.ts";
import type { DataFs } from "../storage/data_fs.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { LocalDriver } from "../storage/local.ts";

/** Settings of a {@linkcode LogSink}. */
export interface LogSinkOptions {
  /** Milliseconds between flushes (default 1000). */
  flushMs?: number;
  /** Largest log kept, in bytes (default 4 MiB): its start and its end. */
  capBytes?: number;
}

/** The default cap of one task's log: 4 MiB. */
export const LOG_CAP_BYTES = 4 * 1024 * 1024;

interface Entry {
  pending: string[];
  quiet: number;
  /** Bytes in the log so far (read back, or written), until it is cut; -1 before known. */
  bytes: number;
  /** Rewrite mode: the whole log, until it is cut. */
  text?: string;
  /** Once cut: the start kept, the end kept (lines), and what was dropped between. */
  cut?: {
    head: string;
    tail: string[];
    first: number;
    tailBytes: number;
    lines: number;
    dropped: number;
  };
}

const QUIET_FLUSHES = 30;
const PARALLEL_WRITES = 16;

/** True when the store under any wrappers appends in place (a local folder). */
function appendsInPlace(driver: StorageDriver): boolean {
  for (let d: StorageDriver | undefined = driver; d; d = (d as { inner?: StorageDriver }).inner) {
    if (d instanceof LocalDriver) return true;
  }
  return false;
}

/** Splits a log's text into lines (without the last line end). */
function linesOf(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/**
 * Buffers log lines by path and writes them to the data dir.
 *
 * @example
 * ```ts
 * import { DataFs } from "../storage/data_fs.ts";
 * import { LocalDriver } from "../storage/local.ts";
 * import { LogSink } from "./log_sink.ts";
 * const sink = new LogSink(new DataFs(new LocalDriver(await Deno.makeTempDir())));
 * sink.line("logs/a/0.log", "hello");
 * await sink.close();
 * ```
 */
export class LogSink {
  readonly #entries = new Map<string, Entry>();
  readonly #append: boolean;
  readonly #capBytes: number;
  readonly #timer: ReturnType<typeof setInterval>;
  #chain: Promise<void> = Promise.resolve();
  #dirty = false;

  constructor(readonly fs: DataFs, options: LogSinkOptions = {}) {
    this.#append = appendsInPlace(fs.driver);
    this.#capBytes = options.capBytes ?? LOG_CAP_BYTES;
    this.#timer = setInterval(() => {
      if (this.#dirty) void this.flush();
    }, options.flushMs ?? 1000);
    Deno.unrefTimer(this.#timer);
  }

  /** Adds a line to the log at `path` (relative to the data dir); a long line is cut. */
  line(path: string, text: string): void {
    let entry = this.#entries.get(path);
    if (!entry) this.#entries.set(path, entry = { pending: [], quiet: 0, bytes: -1 });
    entry.pending.push(capLine(text, MAX_NOTED_LINE_BYTES));
    this.#dirty = true;
  }

  /** Writes every buffered line; resolves when they are stored. */
  flush(): Promise<void> {
    this.#chain = this.#chain.then(() => this.#flush()).catch((error) => {
      console.error(`kt-deno: cannot write task logs: ${(error as Error).message}`);
    });
    return this.#chain;
  }

  /** Writes what is buffered and stops the timer. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  async #flush(): Promise<void> {
    this.#dirty = false;
    const work: [string, Entry][] = [];
    for (const [path, entry] of this.#entries) {
      if (entry.pending.length > 0) work.push([path, entry]);
      else if (++entry.quiet >= QUIET_FLUSHES) this.#entries.delete(path);
    }
    let next = 0;
    const writer = async () => {
      for (let i = next++; i < work.length; i = next++) await this.#write(...work[i]);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_WRITES, work.length) }, writer));
  }

  async #write(path: string, entry: Entry): Promise<void> {
    const lines = entry.pending;
    entry.pending = [];
    entry.quiet = 0;
    const added = lines.join("\n") + "\n";
    if (!entry.cut && entry.bytes < 0) {
      // What an earlier process (a retried task's first attempt) left in the log.
      if (this.#append) entry.bytes = (await this.fs.stat(path))?.size ?? 0;
      else {
        entry.text = await this.fs.read(path).catch(() => "");
        entry.bytes = utf8Length(entry.text);
      }
    }
    if (!entry.cut) {
      const size = utf8Length(added);
      if (entry.bytes + size <= this.#capBytes) {
        entry.bytes += size;
        if (this.#append) return await this.fs.append(path, added);
        entry.text += added;
        return await this.fs.write(path, entry.text!);
      }
      const before = this.#append ? await this.fs.read(path).catch(() => "") : entry.text!;
      entry.text = undefined;
      entry.cut = { head: "", tail: [], first: 0, tailBytes: 0, lines: 0, dropped: 0 };
      this.#keep(entry.cut, linesOf(before).concat(lines), true);
    } else this.#keep(entry.cut, lines, false);
    await this.fs.write(path, this.#cutText(entry.cut));
  }

  /** Puts lines into a cut log: into its start while that has room, else into its end. */
  #keep(cut: NonNullable<Entry["cut"]>, lines: string[], start: boolean): void {
    const half = Math.floor(this.#capBytes / 2);
    let headBytes = start ? utf8Length(cut.head) : half;
    let i = 0;
    if (start) {
      const head: string[] = [];
      for (; i < lines.length; i++) {
        const size = utf8Length(lines[i]) + 1;
        if (headBytes + size > half) break;
        head.push(lines[i]);
        headBytes += size;
      }
      cut.head = head.length ? head.join("\n") + "\n" : "";
    }
    for (; i < lines.length; i++) {
      cut.tail.push(lines[i]);
      cut.tailBytes += utf8Length(lines[i]) + 1;
      // The end keeps at least its last line (lines are at most 64 KiB).
      while (cut.tailBytes > half && cut.tail.length - cut.first > 1) {
        cut.tailBytes -= utf8Length(cut.tail[cut.first]) + 1;
        cut.dropped += utf8Length(cut.tail[cut.first]) + 1;
        cut.lines++;
        cut.first++;
      }
      if (cut.first > 1024 && cut.first * 2 > cut.tail.length) {
        cut.tail = cut.tail.slice(cut.first);
        cut.first = 0;
      }
    }
  }

  #cutText(cut: NonNullable<Entry["cut"]>): string {
    const kept = cut.tail.slice(cut.first);
    const note = cut.lines > 0
      ? `[kt-deno: log cut at ${this.#capBytes} bytes: ${cut.lines} line${
        cut.lines === 1 ? "" : "s"
      } (${cut.dropped} bytes) between its start and its end not kept]\n`
      : "";
    return cut.head + note + (kept.length ? kept.join("\n") + "\n" : "");
  }
}
