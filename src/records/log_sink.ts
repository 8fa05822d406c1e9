/**
 * Task logs kept in the data dir: lines are buffered and written about once a second, so
 * a follower sees a running task's output while it runs.
 *
 * A local data dir gets appends. An object store cannot append (an append is a read and
 * a rewrite of the whole object), so there each log is kept in memory while it grows and
 * the whole object is rewritten on each flush: at most once a second per log that has new
 * lines, capped at {@linkcode LogSinkOptions.capBytes}, with a last write on close. A log
 * that has been quiet for a while is dropped from memory and, should it get more lines,
 * read back before its next rewrite.
 *
 * @module
 */
import type { DataFs } from "../storage/data_fs.ts";
import { LocalDriver } from "../storage/local.ts";

/** Settings of a {@linkcode LogSink}. */
export interface LogSinkOptions {
  /** Milliseconds between flushes (default 1000). */
  flushMs?: number;
  /** Largest log kept on an object store, in bytes (default 4 MiB). */
  capBytes?: number;
}

interface Entry {
  pending: string[];
  /** Rewrite mode: the whole log, once read back or started. */
  content?: string;
  dropped: number;
  quiet: number;
}

const QUIET_FLUSHES = 30;
const PARALLEL_WRITES = 16;

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
    this.#append = fs.driver instanceof LocalDriver;
    this.#capBytes = options.capBytes ?? 4 * 1024 * 1024;
    this.#timer = setInterval(() => {
      if (this.#dirty) void this.flush();
    }, options.flushMs ?? 1000);
    Deno.unrefTimer(this.#timer);
  }

  /** Adds a line to the log at `path` (relative to the data dir). */
  line(path: string, text: string): void {
    let entry = this.#entries.get(path);
    if (!entry) this.#entries.set(path, entry = { pending: [], dropped: 0, quiet: 0 });
    entry.pending.push(text);
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
    if (this.#append) {
      this.#entries.delete(path);
      await this.fs.append(path, lines.join("\n") + "\n");
      return;
    }
    entry.content ??= await this.fs.read(path).catch(() => "");
    for (const text of lines) {
      if (entry.dropped === 0 && entry.content.length + text.length < this.#capBytes) {
        entry.content += text + "\n";
      } else entry.dropped++;
    }
    const cut = entry.dropped
      ? `[kt-deno: log cut at ${this.#capBytes} bytes; ${entry.dropped} more lines not kept]\n`
      : "";
    await this.fs.write(path, entry.content + cut);
  }
}
