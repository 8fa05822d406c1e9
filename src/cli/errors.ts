/**
 * The error for bad command-line input: the CLI prints it and exits with code 2.
 *
 * @module
 */

/** Bad usage: a wrong flag value, a missing file. Exit code 2, nothing done. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parses a positive integer flag value, or throws a {@linkcode UsageError}. */
export function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

/**
 * `~` or `~/...` with the home folder put in, as a shell would (a quoted `'~/x'` reaches
 * kt-deno as is); `~user` and a `~` with no HOME are a {@linkcode UsageError} naming the
 * expansion. Other paths come back as they are.
 *
 * @example
 * ```ts
 * import { expandHome } from "./errors.ts";
 * expandHome("--data-dir", "~/runs", "/home/ana"); // "/home/ana/runs"
 * expandHome("--data-dir", "./runs", "/home/ana"); // "./runs"
 * ```
 */
export function expandHome(flag: string, path: string, home = Deno.env.get("HOME")): string {
  if (!path.startsWith("~")) return path;
  if (path !== "~" && !path.startsWith("~/")) {
    throw new UsageError(
      `${flag} ${path}: kt-deno expands ~ and ~/..., not ~user; write the path in full`,
    );
  }
  if (!home) throw new UsageError(`${flag} ${path}: ~ means $HOME, which is not set`);
  return home.replace(/\/+$/, "") + path.slice(1);
}

/** Flags naming a place to read or write: empty, they would mean the working dir or `/`. */
const PATH_FLAGS = { dataDir: "--data-dir", functions: "--functions", output: "--output" };

/**
 * Throws a {@linkcode UsageError} for a path flag given as empty or blank text (an unset
 * variable: `--data-dir "$OUT"`), or a data dir that is the file system's root; expands a
 * leading `~` ({@linkcode expandHome}), passing the new value to `set`.
 *
 * @example
 * ```ts
 * import { checkPathFlags } from "./errors.ts";
 * checkPathFlags({ dataDir: "./kt-data" }); // fine
 * // checkPathFlags({ dataDir: "" }) throws: --data-dir is empty
 * ```
 */
export function checkPathFlags(
  flags: Record<string, unknown>,
  set: (key: string, value: string) => void = () => {},
): void {
  for (const [key, flag] of Object.entries(PATH_FLAGS)) {
    const value = flags[key];
    if (typeof value === "string" && value.trim() === "") {
      throw new UsageError(
        `${flag} is ${value === "" ? "empty" : "blank"}: expected a path (an unset variable?)`,
      );
    }
    if (typeof value === "string" && value.startsWith("~")) {
      flags[key] = expandHome(flag, value);
      set(key, flags[key] as string);
    }
  }
  const dataDir = flags.dataDir;
  if (typeof dataDir === "string" && /^(file:\/\/)?\/+\.?\/*$/.test(dataDir.trim())) {
    throw new UsageError(`--data-dir ${dataDir}: the file system's root cannot be a data dir`);
  }
}

/**
 * Escapes what a terminal would act on instead of print (control characters such as ESC
 * and NUL, C1 controls, bidirectional overrides), keeping line breaks and tabs, so that an
 * error quoting bad input (a spec of random bytes) prints as text.
 *
 * @example
 * ```ts
 * import { printable } from "./errors.ts";
 * printable("bad \x1b[2J byte\0"); // "bad \\x1b[2J byte\\x00"
 * ```
 */
export function printable(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => {
      const code = c.charCodeAt(0);
      return code <= 0xff
        ? `\\x${code.toString(16).padStart(2, "0")}`
        : `\\u${code.toString(16).padStart(4, "0")}`;
    },
  );
}
