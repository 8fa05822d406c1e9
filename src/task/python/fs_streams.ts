/**
 * Files a Python task has open to write through `kt_deno.open`: each is stored a chunk at a
 * time through the data dir's streams, so a file larger than memory passes through neither
 * process whole, and appears (atomically) only when it is closed. Handles are numbers the
 * task holds; a file aborted, or left open when its task ends, is not written. (Files open
 * to read need no handle here: Python reads them by ranges, `readRange`.)
 *
 * @module
 */
import type { DataFs } from "../../storage/data_fs.ts";

interface Open {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  done: Promise<void>;
}

/**
 * The files one worker's task has open to write.
 *
 * @example
 * ```ts ignore
 * const streams = new FsStreams();
 * const id = streams.openWrite(fs, "output/big.csv");
 * await streams.write(id, new TextEncoder().encode("a,b\n"));
 * await streams.close(id); // output/big.csv appears now
 * ```
 */
export class FsStreams {
  readonly #open = new Map<number, Open>();
  #next = 0;

  /** Opens a file to write, replacing it when closed (atomically); returns its handle. */
  openWrite(fs: DataFs, path: string): number {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const done = fs.writeStream(path, readable);
    done.catch(() => {});
    this.#open.set(++this.#next, { writer: writable.getWriter(), done });
    return this.#next;
  }

  #get(id: unknown): Open {
    const open = this.#open.get(Number(id));
    if (!open) throw new TypeError(`no file open to write as handle ${id}`);
    return open;
  }

  /** Adds bytes to a file open to write. */
  async write(id: unknown, data: Uint8Array): Promise<void> {
    const open = this.#get(id);
    await Promise.race([open.writer.write(data), open.done]);
  }

  /** Closes a file: it is stored now, and the store's errors thrown. */
  async close(id: unknown): Promise<void> {
    const open = this.#get(id);
    this.#open.delete(Number(id));
    // A write the store refused (the data dir's guard) ends `done` while a chunk still
    // waits in the stream, which then never closes: whichever comes first.
    await Promise.race([open.writer.close(), open.done]).catch(() => {});
    await open.done;
  }

  /** Drops a file open to write: nothing is stored, what was there stays. */
  async abort(id: unknown): Promise<void> {
    const open = this.#get(id);
    this.#open.delete(Number(id));
    await this.#abort(open);
  }

  async #abort(open: Open): Promise<void> {
    await open.writer.abort(new Error("the file was discarded")).catch(() => {});
    await open.done.catch(() => {});
  }

  /** Drops every file still open (its task is over): none of them is written. */
  async drop(): Promise<void> {
    const open = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(open.map((file) => this.#abort(file)));
  }
}
