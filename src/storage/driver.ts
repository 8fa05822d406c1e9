/**
 * The storage driver interface: what kt-deno needs of a file store.
 *
 * Every path a driver takes is relative to the data dir and already normalized by
 * {@linkcode normalizePath} (forward slashes, no `.` or `..` segments, no leading slash;
 * `""` is the data dir itself). Drivers never see a path that escapes the data dir.
 *
 * @module
 */

/** What {@linkcode StorageDriver.stat} reports of one entry. */
export interface EntryInfo {
  /** Path relative to the data dir. */
  path: string;
  type: "file" | "directory";
  /** Size in bytes; 0 for directories. */
  size: number;
  /** Last modification time, when the store knows it. */
  mtime: Date | null;
  /**
   * A digest of the contents that the store keeps in its metadata, when it has one: an
   * object store's ETag, MD5 or CRC32C (see `digest.ts`). Absent for a local folder.
   */
  tag?: string;
  /** A local file's inode, which with size and mtime says whether it may have changed. */
  ino?: number | null;
}

/** A file store rooted at a data dir: a local folder or an object store prefix. */
export interface StorageDriver {
  /** The data dir this driver is bound to, as the user gave it (a path or a URL). */
  readonly root: string;
  /** Whole contents of a file. Throws {@linkcode NotFoundError} when it does not exist. */
  read(path: string): Promise<Uint8Array>;
  /** Replaces a file atomically: a reader sees the old contents or the new, never a mix. */
  write(path: string, data: Uint8Array): Promise<void>;
  /** Appends to a file, creating it when missing. */
  append(path: string, data: Uint8Array): Promise<void>;
  /**
   * Bytes `[offset, offset + length)` of a file, fewer when the file ends first (none past
   * its end), read without the rest of the file: a seek and a read locally, a ranged GET on
   * an object store. Throws {@linkcode NotFoundError} when the file does not exist.
   */
  readRange(path: string, offset: number, length: number): Promise<Uint8Array>;
  /** Streams a file's contents. Throws {@linkcode NotFoundError} when it does not exist. */
  readStream(path: string): Promise<ReadableStream<Uint8Array>>;
  /** Writes a file from a stream without holding it all in memory. */
  writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<void>;
  /** Entry info, or `null` when nothing is at that path. */
  stat(path: string): Promise<EntryInfo | null>;
  /** Names (not paths) of the direct children of a directory, sorted. */
  list(path: string): Promise<string[]>;
  /** Every file and directory below a directory (recursively), sorted by path. */
  walk(path: string): Promise<EntryInfo[]>;
  /** Creates a directory and its parents; no error when it exists. */
  mkdir(path: string): Promise<void>;
  /** Removes one file. Throws {@linkcode NotFoundError} when it does not exist. */
  remove(path: string): Promise<void>;
  /** Removes a directory and everything below it. */
  rmdir(path: string): Promise<void>;
  /** Fails with a message naming the data dir when the store cannot be used at all. */
  check(): Promise<void>;
  /**
   * Where a path really is, relative to the data dir, when the store has links (a local
   * folder's symlinks); throws a `PathEscapeError` when that is outside the data dir.
   */
  where?(path: string): Promise<string>;
}

/** Raised when a path does not exist in the store. */
export class NotFoundError extends Error {
  constructor(readonly path: string, readonly root: string, detail?: string) {
    super(`no such file in data dir ${root}: ${path}${detail ? ` (${detail})` : ""}`);
    this.name = "NotFoundError";
  }
}

export { normalizePath, PathEscapeError } from "./guard.ts";
