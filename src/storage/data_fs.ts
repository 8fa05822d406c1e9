/**
 * The `fs` helper that task functions receive: file operations relative to the data dir,
 * on whichever driver the data dir uses.
 *
 * @module
 */
import type { EntryInfo, StorageDriver } from "./driver.ts";
import { globBase, globToRegExp } from "./glob.ts";
import type { FsRecorder } from "./fs_recorder.ts";
import { type Access, guardPath, guardReal, type GuardRules } from "./guard.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Text or bytes to write, as bytes; anything else is a `TypeError` naming the value's type. */
function contents(operation: string, path: string, value: unknown): Uint8Array {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  const type = value === null ? "null" : Array.isArray(value) ? "a list" : typeof value;
  throw new TypeError(
    `fs.${operation}(${
      JSON.stringify(path)
    }, ...): expected text or bytes (a string or a Uint8Array), got ${type}; fs.writeJson writes values`,
  );
}

/**
 * File operations bound to one data dir. Every path is relative to the data dir and goes
 * through its guard (`guard.ts`): a path that escapes it (`../x`, `/etc/passwd`, a symlink
 * to elsewhere), a write to its root or a change to a read-only folder throws a
 * `PathEscapeError` naming the path and the rule. With a `recorder`, every path it is
 * asked about is recorded there (for incremental runs, see `fs_recorder.ts`).
 *
 * @example
 * ```ts
 * import { DataFs } from "./data_fs.ts";
 * import { LocalDriver } from "./local.ts";
 * const fs = new DataFs(new LocalDriver(await Deno.makeTempDir()));
 * await fs.write(fs.join("out", "a.txt"), "hello\n");
 * await fs.listdir("out"); // ["a.txt"]
 * ```
 */
export class DataFs {
  constructor(
    readonly driver: StorageDriver,
    readonly rules: GuardRules = {},
    readonly recorder?: FsRecorder,
  ) {}

  /** The path, normalized, once the guard allows `access` to it; recorded as `use`. */
  async #path(
    path: string,
    access: Access,
    use: "read" | "list" | "glob" | "write" = access === "read" ? "read" : "write",
  ): Promise<string> {
    const normal = guardPath(path, access, this.rules);
    if (access !== "read" && this.rules.readOnly?.length && this.driver.where) {
      guardReal(path, await this.driver.where(normal), this.rules);
    }
    const recorder = this.recorder;
    if (recorder) {
      if (use === "read") recorder.read(normal);
      else if (use === "list") recorder.listed(normal);
      else if (use === "glob") recorder.globbed(normal);
      else recorder.wrote(normal);
    }
    return normal;
  }

  /** The data dir, as given. */
  get root(): string {
    return this.driver.root;
  }

  /** Joins path segments with `/`. */
  join(...parts: string[]): string {
    return parts.filter((part) => part !== "").join("/").replace(/\/{2,}/g, "/");
  }

  /** Names of the entries of a directory, sorted. */
  async listdir(path = ""): Promise<string[]> {
    return await this.driver.list(await this.#path(path, "read", "list"));
  }

  /** True when a file is at the path. */
  async isfile(path: string): Promise<boolean> {
    return (await this.driver.stat(await this.#path(path, "read")))?.type === "file";
  }

  /** True when a directory is at the path. */
  async isdir(path: string): Promise<boolean> {
    return (await this.driver.stat(await this.#path(path, "read")))?.type === "directory";
  }

  /** True when anything is at the path. */
  async exists(path: string): Promise<boolean> {
    return (await this.driver.stat(await this.#path(path, "read"))) !== null;
  }

  /** Type, size and modification time, or `null` when nothing is at the path. */
  async stat(path: string): Promise<EntryInfo | null> {
    return await this.driver.stat(await this.#path(path, "read"));
  }

  /** Creates a directory and its parents. */
  async mkdir(path: string): Promise<void> {
    await this.driver.mkdir(await this.#path(path, "mkdir"));
  }

  /** Removes a file. */
  async remove(path: string): Promise<void> {
    await this.driver.remove(await this.#path(path, "remove"));
  }

  /** Removes a directory and all it holds, recursively (the data dir's root is refused). */
  async rmdir(path: string): Promise<void> {
    await this.driver.rmdir(await this.#path(path, "remove"));
  }

  /** Paths (relative to the data dir) matching a glob pattern, sorted. */
  async glob(pattern: string): Promise<string[]> {
    const normalized = await this.#path(pattern, "read", "glob");
    const base = globBase(normalized);
    const baseInfo = await this.driver.stat(base);
    if (baseInfo?.type !== "directory") return [];
    const regexp = globToRegExp(normalized);
    return (await this.driver.walk(base)).map((entry) => entry.path).filter((path) =>
      regexp.test(path)
    );
  }

  /** A file's contents as UTF-8 text. */
  async read(path: string): Promise<string> {
    return decoder.decode(await this.driver.read(await this.#path(path, "read")));
  }

  /**
   * Replaces a file with UTF-8 text (or bytes), creating parent directories. Any other
   * value is a `TypeError` (`writeJson` writes values).
   */
  async write(path: string, text: string | Uint8Array): Promise<void> {
    const data = contents("write", path, text);
    await this.driver.write(await this.#path(path, "write"), data);
  }

  /** Appends UTF-8 text (or bytes) to a file; any other value is a `TypeError`. */
  async append(path: string, text: string | Uint8Array): Promise<void> {
    const data = contents("append", path, text);
    await this.driver.append(await this.#path(path, "write"), data);
  }

  /** Appends bytes to a file. */
  async appendBytes(path: string, data: Uint8Array): Promise<void> {
    await this.driver.append(await this.#path(path, "write"), data);
  }

  /** A file's contents as bytes. */
  async readBytes(path: string): Promise<Uint8Array> {
    return await this.driver.read(await this.#path(path, "read"));
  }

  /** Replaces a file with bytes. */
  async writeBytes(path: string, data: Uint8Array): Promise<void> {
    await this.driver.write(await this.#path(path, "write"), data);
  }

  /**
   * Bytes `[offset, offset + length)` of a file, fewer when it ends first: a seek locally, a
   * ranged request on an object store, never the whole file.
   *
   * @example
   * ```ts
   * import { DataFs } from "./data_fs.ts";
   * import { LocalDriver } from "./local.ts";
   * const fs = new DataFs(new LocalDriver(await Deno.makeTempDir()));
   * await fs.write("a.txt", "0123456789");
   * await fs.readRange("a.txt", 8, 100); // the bytes of "89"
   * ```
   */
  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    for (const [name, value] of [["offset", offset], ["length", length]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new TypeError(`a range's ${name} must be a whole number of bytes, got ${value}`);
      }
    }
    return await this.driver.readRange(await this.#path(path, "read"), offset, length);
  }

  /** Every file and folder below a folder, recursively, sorted by path. */
  async walk(path = ""): Promise<EntryInfo[]> {
    return await this.driver.walk(await this.#path(path, "read"));
  }

  /** Copies a file, streamed (never whole in memory); the copy appears whole, atomically. */
  async copy(from: string, to: string): Promise<void> {
    const target = await this.#path(to, "write");
    await this.driver.writeStream(target, await this.readStream(from));
  }

  /** A readable stream of a file's bytes. */
  async readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    return await this.driver.readStream(await this.#path(path, "read"));
  }

  /** Writes a file from a stream of bytes. */
  async writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<void> {
    await this.driver.writeStream(await this.#path(path, "write"), stream);
  }

  /** Parses a JSON file. */
  async readJson<T = unknown>(path: string): Promise<T> {
    return JSON.parse(await this.read(path)) as T;
  }

  /** Writes a value as a JSON file, atomically. */
  async writeJson(path: string, value: unknown): Promise<void> {
    await this.write(path, JSON.stringify(value, null, 2) + "\n");
  }
}
