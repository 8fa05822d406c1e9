/**
 * Loading a spec file: YAML or JSON, then validation. Text that `JSON.parse` accepts
 * takes that fast path, and the YAML parser is not even loaded; everything else (YAML,
 * flow style included) goes through the YAML parser of `parse.ts`. A spec file is
 * read only when it is a regular file of at most {@linkcode MAX_SPEC_BYTES}, and only
 * when it is UTF-8.
 *
 * @module
 */
import { duplicateKey, jsonComment } from "./json_text.ts";
import type { Pipeline } from "./schema.ts";
import { SpecError } from "./problems.ts";

/** The largest spec kt-deno reads: 256 MiB. */
export const MAX_SPEC_BYTES = 256 * 2 ** 20;

function unreadable(source: string, why: string): SpecError {
  return new SpecError([{ message: `cannot read ${source}: ${why}` }]);
}

/**
 * The value of text that is JSON (an object or a list), or undefined. JSON with a key
 * written twice in one object, or with comments, is a {@linkcode SpecError}.
 */
export function parseJson(text: string, source = "spec"): unknown {
  if (!/^\s*[{[]/.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const comment = jsonComment(text);
    if (comment) {
      throw new SpecError([{
        message: `cannot parse ${source}: JSON has no comments (line ${comment.line}: ${
          comment.text.slice(0, 60)
        }); remove them, or write the spec in YAML, where comments start with #`,
      }]);
    }
    return undefined;
  }
  const twice = duplicateKey(text);
  if (twice) {
    throw new SpecError([{
      message: `cannot parse ${source}: key ${
        JSON.stringify(twice.text.slice(0, 60))
      } is written twice in one object (line ${twice.line}); a key may appear once, as in YAML`,
    }]);
  }
  return value;
}

/** The byte offset of the first byte that is not UTF-8 in `bytes`, or -1. */
export function invalidUtf8At(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    const size = b < 0x80
      ? 1
      : b >= 0xc2 && b <= 0xdf
      ? 2
      : b >= 0xe0 && b <= 0xef
      ? 3
      : b >= 0xf0 &&
          b <= 0xf4
      ? 4
      : 0;
    if (size === 0) return i;
    for (let k = 1; k < size; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
    }
    if (size === 3) {
      const c = bytes[i + 1];
      if ((b === 0xe0 && c < 0xa0) || (b === 0xed && c > 0x9f)) return i;
    } else if (size === 4) {
      const c = bytes[i + 1];
      if ((b === 0xf0 && c < 0x90) || (b === 0xf4 && c > 0x8f)) return i;
    }
    i += size;
  }
  return -1;
}

/**
 * Spec bytes as text: UTF-8 only (a Latin-1 byte is an error naming its offset, never a
 * silent U+FFFD); a BOM is dropped.
 */
export function specText(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new SpecError([{
      message: `cannot read ${source}: not UTF-8 (byte offset ${invalidUtf8At(bytes)})`,
    }]);
  }
}

/**
 * Reads a stream (stdin) up to {@linkcode MAX_SPEC_BYTES}; more is a {@linkcode SpecError}
 * before it is read whole.
 */
export async function readSpecStream(
  stream: ReadableStream<Uint8Array>,
  source: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > MAX_SPEC_BYTES) {
      throw unreadable(
        source,
        `larger than ${MAX_SPEC_BYTES} bytes (256 MiB), the most kt-deno reads`,
      );
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/**
 * A spec file's bytes: only a regular file (not `/dev/zero`, a FIFO, a folder) of at most
 * {@linkcode MAX_SPEC_BYTES}, checked before it is read.
 */
async function readSpecFile(path: string): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    // Looked at before it is opened: opening a FIFO would wait for a writer.
    if (!(await Deno.stat(path)).isFile) {
      throw unreadable(path, "not a regular file (a spec is read from a file, whole)");
    }
    file = await Deno.open(path);
  } catch (error) {
    if (error instanceof SpecError) throw error;
    throw unreadable(path, (error as Error).message);
  }
  try {
    const stat = await file.stat();
    if (stat.size > MAX_SPEC_BYTES) {
      throw unreadable(
        path,
        `${stat.size} bytes, larger than ${MAX_SPEC_BYTES} (256 MiB), the most kt-deno reads`,
      );
    }
    // A file that grows while it is read is read no further than the bound.
    return await readSpecStream(file.readable, path);
  } catch (error) {
    if (error instanceof SpecError) throw error;
    throw unreadable(path, (error as Error).message);
  } finally {
    try {
      file.close();
    } catch {
      // closed by its readable
    }
  }
}

/**
 * Parsed YAML specs kept by the digest of their text (`run --cache` keeps them in the data
 * dir, `records/cache.ts`): a large spec run again unchanged is not parsed again.
 */
export interface ParsedSpecs {
  /** The parsed value of the spec whose text has this digest, or `undefined`. */
  get(digest: string): Promise<unknown>;
  /** Keeps a parsed value (JSON text of a value JSON gives back exactly). */
  set(digest: string, json: string): void;
}

/** Specs smaller than this (bytes of text) are parsed each time: their parse is quick. */
export const PARSED_SPEC_MIN = 64 * 1024;

/**
 * JSON text of a parsed value when JSON gives the very same value back (plain objects and
 * lists, text, booleans, null and finite numbers), or `undefined`.
 */
export function exactJson(value: unknown): string | undefined {
  const exact = (v: unknown, depth: number): boolean => {
    if (v === null || typeof v === "string" || typeof v === "boolean") return true;
    if (typeof v === "number") return Number.isFinite(v) && !Object.is(v, -0);
    if (typeof v !== "object" || depth > 256) return false;
    if (Array.isArray(v)) return v.every((item) => exact(item, depth + 1));
    if (Object.getPrototypeOf(v) !== Object.prototype) return false;
    for (const key of Object.keys(v)) {
      if (key === "__proto__" || !exact((v as Record<string, unknown>)[key], depth + 1)) {
        return false;
      }
    }
    return true;
  };
  return exact(value, 0) ? JSON.stringify(value) : undefined;
}

/**
 * Reads and validates a spec file; `-` is standard input. With `parsed`, a large YAML spec
 * seen before is taken from it, and one not seen yet is kept there. `onParsed` sees the
 * spec's value once it is parsed, before it is checked (the schema loads meanwhile): what
 * it finds there may be anything a file can hold.
 *
 * @example
 * ```ts
 * import { loadSpec } from "./load.ts";
 * const pipeline = await loadSpec("examples/hello-world/pipeline.yaml");
 * ```
 */
export async function loadSpec(
  path: string,
  parsed?: ParsedSpecs,
  onParsed?: (value: unknown) => void,
): Promise<Pipeline> {
  const source = path === "-" ? "(standard input)" : path;
  const value = await readSpec(path, source, parsed);
  onParsed?.(value);
  // The schema (zod) loads here, not with this module.
  const { checkSpec } = await import("./validate.ts");
  return checkSpec(value, source);
}

/** A spec file's value, parsed (YAML or JSON) and not yet checked; `source` names it. */
async function readSpec(path: string, source: string, parsed?: ParsedSpecs): Promise<unknown> {
  const bytes = path === "-"
    ? await readSpecStream(Deno.stdin.readable, source).catch((error) => {
      if (error instanceof SpecError) throw error;
      throw unreadable(source, (error as Error).message);
    })
    : await readSpecFile(path);
  const text = specText(bytes, source);
  const raw = parseJson(text, source);
  if (raw !== undefined) return raw;
  const { parseYamlSpec, YAML_PARSER } = await import("./parse.ts");
  if (!parsed || text.length < PARSED_SPEC_MIN) return parseYamlSpec(text, source);
  const { createHash } = await import("node:crypto");
  const digest = createHash("sha256").update(`${YAML_PARSER}\0`).update(text).digest("hex");
  const known = await parsed.get(digest).catch(() => undefined);
  if (known !== undefined) return known;
  const value = parseYamlSpec(text, source);
  const json = exactJson(value);
  if (json !== undefined) parsed.set(digest, json);
  return value;
}
