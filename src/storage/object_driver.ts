/**
 * A {@linkcode StorageDriver} over any object store that can get, put, list by prefix and
 * delete whole objects: the folder semantics (key prefixes, `folder/` markers for empty
 * folders, listing, walking, recursive removal) written once for the S3, GCS and Azure Blob
 * drivers, which only supply an {@linkcode ObjectStore}.
 *
 * @module
 */
import { type EntryInfo, NotFoundError, type StorageDriver } from "./driver.ts";
import { refuseRootRemoval } from "./guard.ts";

/** One object, as a listing reports it. */
export interface ObjectInfo {
  key: string;
  size: number;
  mtime: Date | null;
  /** A digest of the contents from the store's metadata (see `EntryInfo.tag`). */
  tag?: string;
}

/** One page of a listing: objects, and with a delimiter the "folders" (prefixes ending in `/`). */
export interface ObjectPage {
  objects: ObjectInfo[];
  folders: string[];
  /** Where the next page starts; undefined on the last page. */
  next?: string;
}

/**
 * What a cloud's SDK must provide. Keys are whole object names in the bucket or container.
 * A missing object is `null` (get, getStream, head), or for get and getStream a
 * {@linkcode NotFoundError} the store throws itself (to name its own error code); other
 * errors are the store's own, marked `transient` when trying again later may work.
 */
export interface ObjectStore {
  get(key: string): Promise<Uint8Array | null>;
  getStream(key: string): Promise<ReadableStream<Uint8Array> | null>;
  /**
   * Bytes `[offset, offset + length)` of an object in one ranged request (`length` > 0),
   * fewer at its end, none past it.
   */
  getRange(key: string, offset: number, length: number): Promise<Uint8Array | null>;
  /** Replaces an object in one request: readers see the old object or the new one. */
  put(key: string, data: Uint8Array): Promise<void>;
  /** Uploads from a stream; the object appears whole when the upload commits. */
  putStream(key: string, stream: ReadableStream<Uint8Array>): Promise<void>;
  head(key: string): Promise<Omit<ObjectInfo, "key"> | null>;
  /** One page of keys below `prefix`; `limit` is a hint (at most that many) a store may ignore. */
  list(
    prefix: string,
    delimiter: "/" | undefined,
    page?: string,
    limit?: number,
  ): Promise<ObjectPage>;
  /** Deletes objects; one that is already gone is not an error. */
  delete(keys: string[]): Promise<void>;
  /** Fails, saying what to fix, when the bucket or container cannot be used. */
  check(prefix: string): Promise<void>;
}

/**
 * A data dir on an object store, from its URL (`gs://bucket/prefix`, `az://container/prefix`),
 * the key prefix below which it lives, and the store.
 *
 * @example
 * ```ts ignore
 * import { ObjectDriver } from "./object_driver.ts";
 * import { GcsStore } from "./gcs.ts";
 * const store = new ObjectDriver("gs://bucket/runs", "runs", new GcsStore("bucket"));
 * ```
 */
export class ObjectDriver implements StorageDriver {
  constructor(readonly root: string, readonly prefix: string, readonly store: ObjectStore) {}

  #key(path: string): string {
    return this.prefix ? (path ? `${this.prefix}/${path}` : this.prefix) : path;
  }

  /** The key prefix of a folder's contents (`prefix/path/`, or `prefix/` for the root). */
  #folder(path: string): string {
    const key = this.#key(path);
    return key ? `${key}/` : "";
  }

  async read(path: string): Promise<Uint8Array> {
    const data = await this.store.get(this.#key(path));
    if (data === null) throw new NotFoundError(path, this.root);
    return data;
  }

  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    if (length <= 0) {
      if (await this.store.head(this.#key(path)) === null) throw new NotFoundError(path, this.root);
      return new Uint8Array();
    }
    const data = await this.store.getRange(this.#key(path), offset, length);
    if (data === null) throw new NotFoundError(path, this.root);
    return data;
  }

  write(path: string, data: Uint8Array): Promise<void> {
    return this.store.put(this.#key(path), data);
  }

  /** Appends by reading and rewriting the object: not safe against concurrent appends. */
  async append(path: string, data: Uint8Array): Promise<void> {
    const old = await this.store.get(this.#key(path)).catch((error) => {
      if (error instanceof NotFoundError) return null;
      throw error;
    }) ?? new Uint8Array();
    const both = new Uint8Array(old.length + data.length);
    both.set(old);
    both.set(data, old.length);
    await this.store.put(this.#key(path), both);
  }

  async readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    const stream = await this.store.getStream(this.#key(path));
    if (stream === null) throw new NotFoundError(path, this.root);
    return stream;
  }

  writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<void> {
    return this.store.putStream(this.#key(path), stream);
  }

  async stat(path: string): Promise<EntryInfo | null> {
    if (path !== "") {
      const head = await this.store.head(this.#key(path));
      if (head) return { path, type: "file", ...head };
    }
    if (path === "") return { path, type: "directory", size: 0, mtime: null };
    const page = await this.store.list(this.#folder(path), "/", undefined, 1);
    if (page.objects.length > 0 || page.folders.length > 0) {
      return { path, type: "directory", size: 0, mtime: null };
    }
    return null;
  }

  async #listAll(prefix: string, delimiter?: "/") {
    const objects: ObjectInfo[] = [];
    const folders: string[] = [];
    let next: string | undefined;
    do {
      const page = await this.store.list(prefix, delimiter, next);
      objects.push(...page.objects);
      folders.push(...page.folders);
      next = page.next;
    } while (next);
    return { objects, folders };
  }

  async list(path: string): Promise<string[]> {
    const folder = this.#folder(path);
    const { objects, folders } = await this.#listAll(folder, "/");
    const names = [
      ...folders.map((f) => f.slice(folder.length, -1)),
      ...objects.filter((o) => o.key !== folder).map((o) => o.key.slice(folder.length)),
    ];
    if (names.length === 0 && objects.length === 0 && path !== "") {
      const info = await this.stat(path);
      if (info === null) throw new NotFoundError(path, this.root);
      if (info.type === "file") {
        throw new Error(`not a directory in data dir ${this.root}: ${path}`);
      }
    }
    return [...new Set(names)].sort();
  }

  async walk(path: string): Promise<EntryInfo[]> {
    const folder = this.#folder(path);
    const base = path ? `${path}/` : "";
    const entries = new Map<string, EntryInfo>();
    for (const { key, size, mtime } of (await this.#listAll(folder)).objects) {
      const relative = key.slice(folder.length);
      const parts = relative.split("/");
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join("/");
        // A key with an empty first part (`folder//x`) makes no folder of its own.
        if (dir) {
          entries.set(base + dir, {
            path: base + dir,
            type: "directory",
            size: 0,
            mtime: null,
          });
        }
      }
      if (relative && !relative.endsWith("/")) {
        entries.set(base + relative, { path: base + relative, type: "file", size, mtime });
      }
    }
    return [...entries.values()].sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  }

  async mkdir(path: string): Promise<void> {
    if (path === "") return;
    await this.store.put(this.#folder(path), new Uint8Array());
  }

  async remove(path: string): Promise<void> {
    const info = await this.stat(path);
    if (info === null) throw new NotFoundError(path, this.root);
    if (info.type === "directory") {
      throw new Error(`not a file in data dir ${this.root}: ${path} (use rmdir)`);
    }
    await this.store.delete([this.#key(path)]);
  }

  async rmdir(path: string): Promise<void> {
    refuseRootRemoval(path);
    const { objects } = await this.#listAll(this.#folder(path));
    if (objects.length === 0) throw new NotFoundError(path, this.root);
    await this.store.delete(objects.map((o) => o.key));
  }

  check(): Promise<void> {
    return this.store.check(this.#folder(""));
  }
}

/** Runs `work` on every item with at most `limit` at a time. */
export async function inParallel<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) await work(items[i]);
  }));
}

/**
 * An error of a cloud object store (GCS, Azure Blob), with the store's error code and the
 * URL it concerns in its message. `transient` says whether trying again later may work
 * (an outage, throttling), for the retrying driver.
 */
export class ObjectStoreError extends Error {
  constructor(
    readonly service: string,
    readonly code: string,
    readonly url: string,
    detail: string,
    readonly transient = false,
  ) {
    super(`${service} ${code} for ${url}: ${detail}`);
    this.name = "ObjectStoreError";
  }
}

const NETWORK =
  /ECONNREFUSED|ECONNRESET|ECONNABORTED|EPIPE|ETIMEDOUT|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|socket hang up|connection (refused|reset|closed)|error sending request|timed? ?out|fetch failed|other side closed/i;

/** True for an HTTP status or a network failure worth trying again later. */
export function isTransientHttp(status: number | undefined, message: string): boolean {
  if (status !== undefined && status > 0) return status >= 500 || status === 429 || status === 408;
  return NETWORK.test(message);
}

/** True for a message that says the endpoint could not be reached at all. */
export function isUnreachable(message: string): boolean {
  return NETWORK.test(message) || /ENOTFOUND|dns error|failed to lookup/i.test(message);
}
