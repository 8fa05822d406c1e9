/**
 * Content digests of the paths of a data dir, for incremental runs: what a task read and
 * wrote, in a form that changes exactly when the contents change.
 *
 * - a local file: `sha256:<hex>` of its bytes, remembered by (size, mtime, inode) in a
 *   {@linkcode DigestMemo} so that an unchanged tree is not read again;
 * - an object: the tag the store keeps in its metadata (S3 ETag or SHA-256 checksum, GCS
 *   MD5 or CRC32C, Azure Content-MD5 or ETag), from one HEAD, no download; an object
 *   without one is read and hashed;
 * - a directory: `dir`; nothing at the path: `absent`;
 * - a directory listing: `names:<hex>`, the SHA-256 of its sorted names.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { EntryInfo, StorageDriver } from "./driver.ts";

/** The digest of a path where nothing is. */
export const ABSENT = "absent";
/** The digest of a directory (its contents are digested as listings). */
export const DIRECTORY = "dir";

/** What the memo keeps of one local file. */
interface MemoEntry {
  size: number;
  mtime: number;
  ino: number | null;
  digest: string;
}

/**
 * Digests of local files by path, valid while the file's size, mtime and inode are those
 * recorded. A file changed just before it was hashed is not remembered (its mtime may not
 * move when it changes again), so it is hashed again next time.
 *
 * @example
 * ```ts
 * import { DigestMemo } from "./digest.ts";
 * const memo = DigestMemo.parse(new DigestMemo().serialize());
 * memo.size; // 0
 * ```
 */
export class DigestMemo {
  readonly #entries = new Map<string, MemoEntry>();
  #changed = false;

  /** A memo from its serialized form; an unreadable one is an empty memo. */
  static parse(text: string | null): DigestMemo {
    const memo = new DigestMemo();
    try {
      const rows = JSON.parse(text ?? "{}") as Record<string, [number, number, number, string]>;
      for (const [path, [size, mtime, ino, digest]] of Object.entries(rows)) {
        memo.#entries.set(path, { size, mtime, ino, digest });
      }
    } catch {
      // a memo is only a shortcut: without it files are hashed again
    }
    return memo;
  }

  /** Entries remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether entries were added since the memo was parsed. */
  get changed(): boolean {
    return this.#changed;
  }

  /** The remembered digest of a file whose info still matches, or `undefined`. */
  get(info: EntryInfo): string | undefined {
    const entry = this.#entries.get(info.path);
    if (!entry || !info.mtime) return undefined;
    const same = entry.size === info.size && entry.mtime === info.mtime.getTime() &&
      entry.ino === (info.ino ?? null);
    return same ? entry.digest : undefined;
  }

  /**
   * Remembers a file's digest, unless it changed too recently to be trusted: within 50 ms
   * (a write in the same tick would not move its mtime), or within 2 s on a file system
   * whose mtimes are whole seconds.
   */
  set(info: EntryInfo, digest: string, now = Date.now()): void {
    const mtime = info.mtime?.getTime();
    if (mtime === undefined || now - mtime < (mtime % 1000 === 0 ? 2000 : 50)) return;
    this.#entries.set(info.path, {
      size: info.size,
      mtime,
      ino: info.ino ?? null,
      digest,
    });
    this.#changed = true;
  }

  /** The memo as JSON text. */
  serialize(): string {
    const rows: Record<string, [number, number, number | null, string]> = {};
    for (const [path, e] of this.#entries) rows[path] = [e.size, e.mtime, e.ino, e.digest];
    return JSON.stringify(rows);
  }
}

/** Files up to this size (bytes) are read whole to be hashed; larger ones as a stream. */
const WHOLE_READ_BYTES = 1 << 20;

/** The SHA-256 of a text, as hex. */
export function sha256Hex(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * Digests paths of one data dir.
 *
 * @example
 * ```ts
 * import { Digester } from "./digest.ts";
 * import { LocalDriver } from "./local.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.txt`, "hi");
 * const digester = new Digester(new LocalDriver(dir));
 * await digester.digest("a.txt"); // "sha256:8f434346..."
 * await digester.digest("b.txt"); // "absent"
 * ```
 */
export class Digester {
  constructor(readonly driver: StorageDriver, readonly memo = new DigestMemo()) {}

  /** The digest of whatever is at a path now. */
  async digest(path: string): Promise<string> {
    const info = await this.driver.stat(path);
    if (!info) return ABSENT;
    if (info.type === "directory") return DIRECTORY;
    if (info.tag) return info.tag;
    const known = this.memo.get(info);
    if (known) return known;
    const hash = createHash("sha256");
    try {
      // A small file in one read: a stream costs an open, reads and a close, each a call.
      if (info.size <= WHOLE_READ_BYTES) hash.update(await this.driver.read(path));
      else for await (const chunk of await this.driver.readStream(path)) hash.update(chunk);
    } catch (error) {
      // Removed between the stat and the read.
      if ((error as Error).name === "NotFoundError") return ABSENT;
      throw error;
    }
    const digest = `sha256:${hash.digest("hex")}`;
    this.memo.set(info, digest);
    return digest;
  }

  /** The digest of a directory's sorted names (`absent` when it is not a directory). */
  async listing(path: string): Promise<string> {
    try {
      return namesDigest(await this.driver.list(path));
    } catch (error) {
      const name = (error as Error).name;
      if (name === "NotFoundError" || name === "NotADirectory") return ABSENT;
      throw error;
    }
  }
}

/** The digest of a list of names (a listing, or a glob's matches), sorted first. */
export function namesDigest(names: readonly string[]): string {
  return `names:${sha256Hex([...names].sort().join("\n"))}`;
}
