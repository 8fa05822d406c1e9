/**
 * Files a Python task has open through `kt_deno.open`: each is read or written a chunk at
 * a time through the data dir's streams, so a file larger than memory passes through
 * neither process whole. Handles are numbers the task holds; those left open when its
 * task ends are dropped (a file being written is then not written).
 *
 * @module
 */
import type { DataFs } from "../../storage/data_fs.ts";

type Open =
  | { kind: "read"; reader: ReadableStreamDefaultReader<Uint8Array>; pending?: Uint8Array }
  | { kind: "write"; writer: WritableStreamDefaultWriter<Uint8Array>; done: Promise<void> };

const EMPTY = new Uint8Array();

/**
 * The open files of one worker's task.
 *
 * @example
 * ```ts ignore
 * const streams = new FsStreams();
 * const id = await streams.openRead(fs, "input/big.csv");
 * const chunk = await streams.read(id, 1 << 20); // empty at the end
 * await streams.close(id);
 * ```
 */
export class FsStreams {
  readonly #open = new Map<number, Open>();
  #next = 0;

  /** Opens a file to read; resolves to its handle. Throws when it is missing. */
  async openRead(fs: DataFs, path: string): Promise<number> {
    const reader = (await fs.readStream(path)).getReader();
    this.#open.set(++this.#next, { kind: "read", reader });
    return this.#next;
  }

  /** Opens a file to write, replacing it when closed (atomically); resolves to its handle. */
  openWrite(fs: DataFs, path: string): number {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const done = fs.writeStream(path, readable);
    done.catch(() => {});
    this.#open.set(++this.#next, { kind: "write", writer: writable.getWriter(), done });
    return this.#next;
  }

  #get(id: unknown, kind: Open["kind"]): Open {
    const open = this.#open.get(Number(id));
    if (open?.kind !== kind) throw new TypeError(`no file open to ${kind} as handle ${id}`);
    return open;
  }

  /** The next bytes of a file open to read, at most `size`; empty at its end. */
  async read(id: unknown, size: number): Promise<Uint8Array> {
    const open = this.#get(id, "read") as Extract<Open, { kind: "read" }>;
    let chunk = open.pending;
    open.pending = undefined;
    while (!chunk?.length) {
      const { value, done } = await open.reader.read();
      if (done) return EMPTY;
      chunk = value;
    }
    if (chunk.length > size) {
      open.pending = chunk.subarray(size);
      chunk = chunk.subarray(0, size);
    }
    return chunk;
  }

  /** Adds bytes to a file open to write. */
  async write(id: unknown, data: Uint8Array): Promise<void> {
    const open = this.#get(id, "write") as Extract<Open, { kind: "write" }>;
    await Promise.race([open.writer.write(data), open.done]);
  }

  /** Closes a file: one open to write is stored now, and its errors thrown. */
  async close(id: unknown): Promise<void> {
    const open = this.#open.get(Number(id));
    this.#open.delete(Number(id));
    if (open?.kind === "read") await open.reader.cancel();
    if (open?.kind === "write") {
      await open.writer.close().catch(() => {});
      await open.done;
    }
  }

  /** Drops every file still open (its task is over): none of them is written. */
  async drop(): Promise<void> {
    const open = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(open.map(async (file) => {
      if (file.kind === "read") await file.reader.cancel().catch(() => {});
      else await file.writer.abort(new Error("the task ended with the file open")).catch(() => {});
    }));
  }
}
