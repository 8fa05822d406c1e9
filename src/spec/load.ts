/**
 * Loading a spec file: YAML or JSON, then validation. Text that `JSON.parse` accepts
 * takes that fast path, and the YAML parser is not even loaded; everything else (YAML,
 * flow style included) goes through {@linkcode parseSpec} of `parse.ts`.
 *
 * @module
 */
import type { Pipeline } from "./schema.ts";
import { SpecError, validatePipeline } from "./validate.ts";

/** The value of text that is JSON (an object or a list), or undefined. */
export function parseJson(text: string): unknown {
  if (!/^\s*[{[]/.test(text)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Validates a parsed spec; throws {@linkcode SpecError} naming `source`. */
export function checkSpec(raw: unknown, source: string): Pipeline {
  const result = validatePipeline(raw);
  if (!result.ok) throw new SpecError(result.problems, `invalid pipeline spec ${source}`);
  return result.value;
}

/**
 * Reads and validates a spec file; `-` is standard input.
 *
 * @example
 * ```ts
 * import { loadSpec } from "./load.ts";
 * const pipeline = await loadSpec("examples/hello-world/pipeline.yaml");
 * ```
 */
export async function loadSpec(path: string): Promise<Pipeline> {
  const source = path === "-" ? "(standard input)" : path;
  let text: string;
  try {
    text = path === "-"
      ? await new Response(Deno.stdin.readable).text()
      : await Deno.readTextFile(path);
  } catch (error) {
    throw new SpecError([{ message: `cannot read ${source}: ${(error as Error).message}` }]);
  }
  const raw = parseJson(text);
  if (raw !== undefined) return checkSpec(raw, source);
  const { parseSpec } = await import("./parse.ts");
  return parseSpec(text, source);
}
