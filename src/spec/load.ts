/**
 * Loading a spec file: YAML or JSON, then validation. JSON takes the fast path of
 * `JSON.parse`; YAML (of which JSON is a subset) goes through the `yaml` parser.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import type { Pipeline } from "./schema.ts";
import { SpecError, validatePipeline } from "./validate.ts";

/** Parses spec text (YAML or JSON) and validates it; throws {@linkcode SpecError}. */
export function parseSpec(text: string, source = "spec"): Pipeline {
  let raw: unknown;
  try {
    raw = /^\s*[{[]/.test(text) ? JSON.parse(text) : parseYaml(text);
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
