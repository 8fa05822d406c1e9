/**
 * The local-filesystem storage driver: a data dir that is a folder on this machine.
 * Every path is checked against the data dir's real path first (`guard.ts`), so a
 * symlink cannot lead a read or a write out of it.
 *
 * A path's folder is resolved (a `realpath`) at most once per {@linkcode REAL_DIR_MS}, and
 * its last segment is looked at with an `lstat`, which is also the `stat` of a path that
 * is not a symlink: a folder of 10,000 files costs one `realpath`, not 10,000. A path
 * whose last segment is a symlink, or whose folder is not there yet, is resolved whole.
 * That `lstat` is synchronous: a look at metadata the kernel keeps, about 2 µs, where an
 * asynchronous call's round trip costs 10–15 µs of the caller's thread.
 *
 * @module
 */
import { type EntryInfo, NotFoundError, type StorageDriver } from "./driver.ts";
import { PathEscapeError, realRelative, refuseRootRemoval } from "./guard.ts";

/**
 * How long (ms) a folder's real location, once resolved, is used for the paths in it.
 * Within this time a folder of the data dir that another process replaces by a symlink
 * is not seen as one (the check and the use of a path are never one step: without the
 * memo the window is the time between them); `rmdir` through the driver forgets at once.
 */
export const REAL_DIR_MS = 1000;

/** Files up to this size (bytes) that {@linkcode LocalDriver.read} reads synchronously. */
const SYNC_READ_BYTES = 64 * 1024;

/** A path's last segment, looked at: its real location and what `lstat` said. */
interface Located {
  real: string;
  info: Deno.FileInfo | null;
}

/**
 * A {@linkcode StorageDriver} over a local folder.
 *
 * @example
 * ```ts
 * import { LocalDriver } from "./local.ts";
 * const store = new LocalDriver(await Deno.makeTempDir());
 * await store.write("a/b.txt", new TextEncoder().encode("hi"));
 * ```
 */
export class LocalDriver implements StorageDriver {
  readonly #base: string;
  #realBase: string | null = null;
  /** Real locations (relative to the data dir) of folders, and when they were resolved. */
  readonly #realDirs = new Map<string, { real: string; at: number }>();

  constructor(readonly root: string) {
    this.#base = root.replace(/\/+$/, "") || "/";
  }

  /** The data dir's real path, or `null` while it does not exist. */
  async #real(): Promise<string | null> {
    if (this.#realBase !== null) return this.#realBase;
    try {
      return this.#realBase = await Deno.realPath(this.#base);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  /** Where a path really is, relative to the data dir; throws when a symlink leads out. */
  async where(path: string): Promise<string> {
    const realBase = await this.#real();
    const located = await this.#locate(path, realBase);
    return located ? located.real : await realRelative(this.#base, realBase, path);
  }

  /**
   * The real location of a folder that exists inside the data dir (remembered for
   * {@linkcode REAL_DIR_MS}), or `null` when it is not there or not inside (then the whole
   * path is resolved, which says why).
   */
  async #realDir(dir: string, realBase: string): Promise<string | null> {
    if (dir === "") return "";
    const now = performance.now();
    const known = this.#realDirs.get(dir);
    if (known && now - known.at < REAL_DIR_MS) return known.real;
    let real: string;
    try {
      real = await Deno.realPath(this.#abs(dir));
    } catch {
      return null;
    }
    const prefix = realBase === "/" ? "/" : `${realBase}/`;
    const relative = real === realBase
      ? ""
      : real.startsWith(prefix)
      ? real.slice(prefix.length)
      : null;
    if (relative === null) return null;
    if (this.#realDirs.size >= 100_000) this.#realDirs.clear();
    this.#realDirs.set(dir, { real: relative, at: now });
    return relative;
  }

  /**
   * A path's real location from its folder's (see {@linkcode #realDir}) and one `lstat`
   * of it; `undefined` when it must be resolved whole: its folder is not there (or leads
   * out), or its last segment is a symlink or cannot be looked at.
   */
  async #locate(path: string, realBase: string | null): Promise<Located | undefined> {
    if (realBase === null || path === "") return undefined;
    const slash = path.lastIndexOf("/");
    const dir = slash < 0 ? "" : path.slice(0, slash);
    const realDir = await this.#realDir(dir, realBase);
    if (realDir === null) return undefined;
    let info: Deno.FileInfo | null;
    try {
      info = Deno.lstatSync(this.#abs(path));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) return undefined;
      info = null;
    }
    if (info?.isSymlink) return undefined;
    const name = path.slice(slash + 1);
    return { real: realDir === "" ? name : `${realDir}/${name}`, info };
  }

  /** The absolute path of a path that stays inside the data dir. */
  async #inside(path: string): Promise<string> {
    await this.where(path);
    return this.#abs(path);
  }

  #abs(path: string): string {
    return path === "" ? this.#base : `${this.#base}/${path}`;
  }

  async #parent(path: string): Promise<void> {
    const slash = path.lastIndexOf("/");
    await Deno.mkdir(slash < 0 ? this.#base : this.#abs(path.slice(0, slash)), {
      recursive: true,
    });
  }

  async #notFound<T>(path: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw new NotFoundError(path, this.root);
      throw error;
    }
  }

  read(path: string): Promise<Uint8Array> {
    return this.#notFound(path, async () => {
      // A small regular file that is not a symlink (its lstat said so) is read at once: one
      // synchronous call instead of a trip through the blocking pool (a cache entry, an input).
      const located = await this.#locate(path, await this.#real());
      const info = located?.info;
      if (info?.isFile && info.size <= SYNC_READ_BYTES) return Deno.readFileSync(this.#abs(path));
      return await Deno.readFile(await this.#inside(path));
    });
  }

  async write(path: string, data: Uint8Array): Promise<void> {
    const target = await this.#inside(path);
    const temp = `${target}.kt-tmp-${crypto.randomUUID()}`;
    try {
      // Its folder is made when the write finds it missing: most writes go to one that is.
      await Deno.writeFile(temp, data).catch(async (error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        await this.#parent(path);
        await Deno.writeFile(temp, data);
      });
      await Deno.rename(temp, target);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
  }

  readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.#notFound(path, async () => {
      using file = await Deno.open(await this.#inside(path));
      const size = (await file.stat()).size;
      const out = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      await file.seek(offset, Deno.SeekMode.Start);
      let filled = 0;
      while (filled < out.length) {
        const read = await file.read(out.subarray(filled));
        if (read === null) break;
        filled += read;
      }
      return out.subarray(0, filled);
    });
  }

  async append(path: string, data: Uint8Array): Promise<void> {
    const target = await this.#inside(path);
    await this.#parent(path);
    await Deno.writeFile(target, data, { append: true });
  }

  readStream(path: string): Promise<ReadableStream<Uint8Array>> {
    return this.#notFound(path, async () => (await Deno.open(await this.#inside(path))).readable);
  }

  async writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<void> {
    const target = await this.#inside(path);
    await this.#parent(path);
    const temp = `${target}.kt-tmp-${crypto.randomUUID()}`;
    try {
      const file = await Deno.open(temp, { write: true, create: true, truncate: true });
      await stream.pipeTo(file.writable);
      await Deno.rename(temp, target);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
  }

  async stat(path: string): Promise<EntryInfo | null> {
    try {
      // A path that is not a symlink: its lstat is its stat.
      const located = await this.#locate(path, await this.#real());
      if (located && !located.info) return null;
      const info = located?.info ?? await Deno.stat(await this.#inside(path));
      return {
        path,
        type: info.isDirectory ? "directory" : "file",
        size: info.isDirectory ? 0 : info.size,
        mtime: info.mtime,
        ino: info.ino,
      };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  list(path: string): Promise<string[]> {
    return this.#notFound(path, async () => {
      const names: string[] = [];
      for await (const entry of Deno.readDir(await this.#inside(path))) names.push(entry.name);
      return names.sort();
    });
  }

  async walk(path: string): Promise<EntryInfo[]> {
    const out: EntryInfo[] = [];
    // Its own stack, not recursion: a tree of any depth and size is walked.
    for (const folders = [path]; folders.length > 0;) {
      const folder = folders.pop()!;
      for (const name of await this.list(folder)) {
        const child = folder === "" ? name : `${folder}/${name}`;
        // A symlink that leads out of the data dir is not part of it.
        const info = await this.stat(child).catch((error) => {
          if (error instanceof PathEscapeError) return null;
          throw error;
        });
        if (!info) continue;
        out.push(info);
        // A symlinked folder is listed, not walked into: a link to its own parent would
        // make the walk endless.
        const link = await Deno.lstat(this.#abs(child)).then((i) => i.isSymlink, () => true);
        if (info.type === "directory" && !link) folders.push(child);
      }
    }
    return out.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  }

  async mkdir(path: string): Promise<void> {
    await Deno.mkdir(await this.#inside(path), { recursive: true });
  }

  remove(path: string): Promise<void> {
    return this.#notFound(path, async () => {
      if ((await Deno.stat(await this.#inside(path))).isDirectory) {
        throw new Error(`not a file in data dir ${this.root}: ${path} (use rmdir)`);
      }
      await Deno.remove(this.#abs(path));
    });
  }

  rmdir(path: string): Promise<void> {
    try {
      refuseRootRemoval(path);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#realDirs.clear();
    return this.#notFound(
      path,
      async () => Deno.remove(await this.#inside(path), { recursive: true }),
    );
  }

  async check(): Promise<void> {
    try {
      const info = await Deno.stat(this.#base);
      if (!info.isDirectory) throw new Error(`data dir ${this.root} is not a directory`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}
