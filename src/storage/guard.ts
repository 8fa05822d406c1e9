/**
 * The data dir's guard: every path kt-deno's storage takes goes through it. A path is
 * relative to the data dir and stays inside it: absolute paths, `..` that leads out, and
 * (on a local data dir) symlinks whose target is outside are refused; the data dir's root
 * cannot be written or removed; folders marked read-only (the run records, for tasks)
 * cannot be changed. Every refusal names the path and the rule.
 *
 * @module
 */

/** Raised when a path breaks a rule of the data dir; names the path and the rule. */
export class PathEscapeError extends Error {
  constructor(readonly path: string, readonly rule = "it leads out of the data dir") {
    super(`refused path ${JSON.stringify(path)}: ${rule}`);
    this.name = "PathEscapeError";
  }
}

/**
 * What an operation does to its path: reads it, makes a folder there (the root is one
 * already), writes a file there, or removes what is there.
 */
export type Access = "read" | "mkdir" | "write" | "remove";

/**
 * Normalizes a path relative to the data dir (forward slashes, no `.` or `..` segments,
 * no leading slash; `""` is the data dir itself) and refuses one that leaves it.
 *
 * @example
 * ```ts
 * import { normalizePath } from "./guard.ts";
 * normalizePath("a//b/./c"); // "a/b/c"
 * normalizePath("a/../b"); // "b"
 * ```
 */
export function normalizePath(path: string): string {
  if (typeof path !== "string") {
    throw new PathEscapeError(String(path), `expected a path (text), got ${typeof path}`);
  }
  if (path.includes("\0")) throw new PathEscapeError(path, "a path cannot hold a NUL byte");
  const slashed = path.replaceAll("\\", "/");
  if (slashed.startsWith("/")) {
    throw new PathEscapeError(
      path,
      "an absolute path is not in the data dir (paths are relative to it)",
    );
  }
  const out: string[] = [];
  for (const segment of slashed.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (out.length === 0) throw new PathEscapeError(path, "'..' leads out of the data dir");
      out.pop();
    } else {
      out.push(segment);
    }
  }
  return out.join("/");
}

const ROOT_REMOVAL = "removing the data dir's root is refused";

/**
 * Refuses to remove the data dir's root (`""`): what every driver's `rmdir` checks first,
 * and {@linkcode guardPath} for a guarded data dir.
 */
export function refuseRootRemoval(path: string): void {
  if (path === "") throw new PathEscapeError(path, ROOT_REMOVAL);
}

/** Settings of {@linkcode guardPath}. */
export interface GuardRules {
  /** Folders (relative to the data dir) that may be read but not changed. */
  readOnly?: readonly string[];
}

/** True when `path` is `folder` or below it. */
export function isWithin(path: string, folder: string): boolean {
  return folder === "" || path === folder || path.startsWith(`${folder}/`);
}

/**
 * Checks one path for one access and returns it normalized: the rules that need no look
 * at the store (the symlink rule is the local driver's, see {@linkcode realInside}).
 *
 * @example
 * ```ts
 * import { guardPath } from "./guard.ts";
 * guardPath("out/./a.txt", "write"); // "out/a.txt"
 * // guardPath("", "remove") throws: removing the data dir's root is refused
 * // guardPath("records/x", "write", { readOnly: ["records"] }) throws
 * ```
 */
export function guardPath(path: string, access: Access, rules: GuardRules = {}): string {
  const normal = normalizePath(path);
  if (access === "read") return normal;
  if (normal === "" && access !== "mkdir") {
    throw new PathEscapeError(
      path,
      access === "remove" ? ROOT_REMOVAL : "the data dir's root is a folder, not a file to write",
    );
  }
  if (access === "write" && /[/\\]\.?$/.test(path)) {
    throw new PathEscapeError(path, "a path ending in '/' names a folder, not a file to write");
  }
  for (const folder of rules.readOnly ?? []) {
    if (isWithin(normal, folder)) {
      throw new PathEscapeError(
        path,
        `${folder}/ holds kt-deno's records of runs: tasks may read it, not change it`,
      );
    }
  }
  return normal;
}

/**
 * Where a local path really is: the real path of the path, or of its nearest existing
 * ancestor with the rest appended. A symlink that leads nowhere is refused.
 */
async function realLocation(base: string, path: string): Promise<string> {
  const segments = path === "" ? [] : path.split("/");
  for (let n = segments.length; n >= 0; n--) {
    const abs = n === 0 ? base : `${base}/${segments.slice(0, n).join("/")}`;
    try {
      const real = await Deno.realPath(abs);
      return [real, ...segments.slice(n)].join("/");
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      const link = await Deno.lstat(abs).then((info) => info.isSymlink, () => false);
      if (link) {
        throw new PathEscapeError(
          path,
          `${segments.slice(0, n).join("/")} is a symlink that leads nowhere`,
        );
      }
    }
  }
  return base;
}

/**
 * Where a normalized path of a local data dir (its folder is `base`) really is, relative
 * to the data dir, once symlinks are followed; throws when that is outside the data dir.
 * `realBase` is the data dir's own real path, or `null` while it does not exist (when
 * nothing below it does either).
 *
 * @example
 * ```ts ignore
 * await realRelative("/data", "/data", "link/secret.txt"); // throws when link -> /elsewhere
 * ```
 */
export async function realRelative(
  base: string,
  realBase: string | null,
  path: string,
): Promise<string> {
  if (realBase === null || path === "") return path;
  const real = await realLocation(base, path);
  if (real === realBase) return "";
  const prefix = realBase === "/" ? "/" : `${realBase}/`;
  if (!real.startsWith(prefix)) {
    throw new PathEscapeError(path, `it leads out of the data dir through a symlink (to ${real})`);
  }
  return real.slice(prefix.length);
}

/**
 * Refuses a change to a read-only folder reached through a symlink: `real` is where
 * `path` really is (see {@linkcode realRelative}).
 */
export function guardReal(path: string, real: string, rules: GuardRules): void {
  for (const folder of rules.readOnly ?? []) {
    if (isWithin(real, folder)) {
      throw new PathEscapeError(
        path,
        `it leads into ${folder}/ through a symlink; tasks may read ${folder}/, not change it`,
      );
    }
  }
}
