/**
 * The file operations a Python task asks of kt-deno (the `kt_deno` module and kt-deno's
 * `kube_transform.fsutil`), carried out on the task's data dir through {@linkcode DataFs},
 * so the data-dir guard, the S3 driver and its retries are the TypeScript tasks' own.
 *
 * @module
 */
import type { DataFs } from "../../storage/data_fs.ts";
import { NotFoundError, PathEscapeError } from "../../storage/driver.ts";
import type { Frame } from "./frames.ts";
import type { FsStreams } from "./fs_streams.ts";

/** The answer to one request: a header (`ok`, `value` or `type` and `message`) and a body. */
export type FsReply = Frame;

const EMPTY = new Uint8Array();

function text(args: Record<string, unknown>, name: string): string {
  const value = args[name] ?? "";
  if (typeof value !== "string") throw new TypeError(`${name} must be a string`);
  return value;
}

/** The largest range one request reads: a larger read is several requests. */
export const MAX_RANGE = 16 << 20;

function fileExists(path: string): Error {
  return Object.assign(new Error(`File exists: ${path}`), { pythonType: "FileExistsError" });
}

/** Copies a file, or with `recursive` a folder and all it holds, to another path. */
async function copy(fs: DataFs, from: string, to: string, recursive: boolean): Promise<void> {
  const info = await fs.stat(from);
  if (info === null) throw new NotFoundError(from, fs.root);
  if (info.type === "file") return await fs.copy(from, to);
  if (!recursive) {
    throw Object.assign(new Error(`Is a directory: ${from} (pass recursive=True)`), {
      pythonType: "IsADirectoryError",
    });
  }
  await fs.mkdir(to);
  for (const entry of await fs.walk(from)) {
    const target = fs.join(to, entry.path.slice(info.path.length));
    if (entry.type === "directory") await fs.mkdir(target);
    else await fs.copy(entry.path, target);
  }
}

async function perform(
  fs: DataFs,
  streams: FsStreams,
  op: string,
  args: Record<string, unknown>,
  body: Uint8Array,
) {
  const path = () => text(args, "path");
  switch (op) {
    case "open_read": {
      const info = await fs.stat(path());
      if (info === null) throw new NotFoundError(path(), fs.root);
      if (info.type === "directory") {
        throw Object.assign(new Error(`Is a directory: ${path()}`), {
          pythonType: "IsADirectoryError",
        });
      }
      return info.size;
    }
    case "open_write":
      if (args.exclusive === true && await fs.exists(path())) throw fileExists(path());
      return streams.openWrite(fs, path());
    case "write_chunk":
      return await streams.write(args.id, body);
    case "close":
      return await streams.close(args.id);
    case "abort":
      return await streams.abort(args.id);
    case "listdir":
      return await fs.listdir(path());
    case "isfile":
      return await fs.isfile(path());
    case "isdir":
      return await fs.isdir(path());
    case "exists":
      return await fs.exists(path());
    case "stat": {
      const info = await fs.stat(path());
      return info && {
        name: info.path,
        size: info.size,
        type: info.type,
        mtime: info.mtime ? info.mtime.getTime() / 1000 : null,
      };
    }
    case "walk":
      if ((await fs.stat(path()))?.type !== "directory") return [];
      return (await fs.walk(path())).map((e) => [e.path, e.type === "directory"]);
    case "mkdir":
      if (args.exist_ok === false && await fs.exists(path())) {
        throw Object.assign(new Error(`Directory ${path()} already exists.`), {
          pythonType: "FileExistsError",
        });
      }
      return await fs.mkdir(path());
    case "remove":
      return await fs.remove(path());
    case "rmdir":
      if (!await fs.exists(path())) throw new NotFoundError(path(), fs.root);
      return await fs.rmdir(path());
    case "copy":
    case "move": {
      const [from, to] = [path(), text(args, "target")];
      const recursive = args.recursive === true;
      if (from === to) return;
      const isDir = (await fs.stat(from))?.type === "directory";
      await copy(fs, from, to, recursive);
      if (op === "move") await (isDir ? fs.rmdir(from) : fs.remove(from));
      return;
    }
    case "glob":
      return await fs.glob(text(args, "pattern"));
    case "write":
      return await fs.writeBytes(path(), body);
    case "append":
      return await fs.appendBytes(path(), body);
    default:
      throw new TypeError(`unknown file operation ${JSON.stringify(op)}`);
  }
}

/** The Python exception type that says what an error of the store means. */
function pythonType(error: unknown): string {
  if (error instanceof NotFoundError) return "FileNotFoundError";
  if (error instanceof PathEscapeError || error instanceof TypeError) return "ValueError";
  const named = (error as { pythonType?: string }).pythonType;
  if (named) return named;
  if (error instanceof Deno.errors.NotFound) return "FileNotFoundError";
  if (error instanceof Deno.errors.IsADirectory) return "IsADirectoryError";
  if (error instanceof Deno.errors.NotADirectory) return "NotADirectoryError";
  if (error instanceof Deno.errors.PermissionDenied) return "PermissionError";
  if (/\(use rmdir\)/.test((error as Error).message)) return "IsADirectoryError";
  return "OSError";
}

/**
 * Carries out one file operation of a Python task and returns the reply frame; a failure
 * is a reply too, naming the Python exception to raise.
 *
 * @example
 * ```ts ignore
 * const reply = await serveFs(fs, streams, { t: "fs", op: "listdir", args: { path: "input" } }, body);
 * ```
 */
export async function serveFs(
  fs: DataFs,
  streams: FsStreams,
  header: Record<string, unknown>,
  body: Uint8Array,
): Promise<FsReply> {
  try {
    const args = (header.args ?? {}) as Record<string, unknown>;
    if (header.op === "read") {
      return { header: { ok: true }, body: await fs.readBytes(text(args, "path")) };
    }
    if (header.op === "read_range") {
      const length = Math.min(Number(args.length), MAX_RANGE);
      const data = await fs.readRange(text(args, "path"), Number(args.offset), length);
      return { header: { ok: true }, body: data };
    }
    const value = await perform(fs, streams, String(header.op), args, body);
    return { header: { ok: true, value: value ?? null }, body: EMPTY };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { header: { ok: false, type: pythonType(error), message }, body: EMPTY };
  }
}
