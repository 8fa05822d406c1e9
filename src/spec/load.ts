/**
 * Loading a spec file: YAML or JSON, then validation. Text that `JSON.parse` accepts
 * takes that fast path; everything else (YAML, flow style included) goes through the
 * `yaml` parser.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import type { Pipeline } from "./schema.ts";
import { SpecError, validatePipeline } from "./validate.ts";

/** The value of text that is JSON (an object or a list), or undefined. */
function parseJson(text: string): unknown {
  if (!/^\s*[{[]/.test(text)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Parses spec text (YAML or JSON) and validates it; throws {@linkcode SpecError}. */
export function parseSpec(text: string, source = "spec"): Pipeline {
  let raw: unknown;
  try {
    raw = parseJson(text) ?? parseYaml(text);
  } catch (error) {
    throw new SpecError([{ message: `cannot parse ${source}: ${(error as Error).message}` }]);
  }
  const result = validatePipeline(raw);
  if (!result.ok) throw new SpecError(result.problems, `invalid pipeline spec ${source}`);
  return result.value;
}

/**
 * Reads and validates a spec file.
 *
 * @example
 * ```ts
 * import { loadSpec } from "./load.ts";
 * const pipeline = await loadSpec("examples/hello-world/pipeline.yaml");
 * ```
 */
export async function loadSpec(path: string): Promise<Pipeline> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new SpecError([{ message: `cannot read ${path}: ${(error as Error).message}` }]);
  }
  return parseSpec(text, path);
}
