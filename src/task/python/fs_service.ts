/**
 * The file operations a Python task asks of kt-deno (the `kt_deno` module and kt-deno's
 * `kube_transform.fsutil`), carried out on the task's data dir through {@linkcode DataFs},
 * so the data-dir guard, the S3 driver and its retries are the TypeScript tasks' own.
 *
 * @module
 */
import type { DataFs } from "../../storage/data_fs.ts";
import { normalizePath, NotFoundError, PathEscapeError } from "../../storage/driver.ts";
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

async function perform(
  fs: DataFs,
  streams: FsStreams,
  op: string,
  args: Record<string, unknown>,
  body: Uint8Array,
) {
  const path = () => text(args, "path");
  switch (op) {
    case "open_read":
      return await streams.openRead(fs, path());
    case "open_write":
      return streams.openWrite(fs, path());
    case "write_chunk":
      return await streams.write(args.id, body);
    case "close":
      return await streams.close(args.id);
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
    case "glob":
      return await fs.glob(text(args, "pattern"));
    case "write":
      return await fs.writeBytes(path(), body);
    case "append":
      return await fs.driver.append(normalizePath(path()), body);
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
    if (header.op === "read_chunk") {
      return { header: { ok: true }, body: await streams.read(args.id, Number(args.size)) };
    }
    const value = await perform(fs, streams, String(header.op), args, body);
    return { header: { ok: true, value: value ?? null }, body: EMPTY };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { header: { ok: false, type: pythonType(error), message }, body: EMPTY };
  }
}
