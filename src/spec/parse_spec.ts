/**
 * Parsing and checking spec text in one call, YAML or JSON (which takes the fast path of
 * `JSON.parse`).
 *
 * @module
 */
import { parseJson } from "./load.ts";
import { parseYamlSpec } from "./parse.ts";
import type { Pipeline } from "./schema.ts";
import { checkSpec } from "./validate.ts";

/**
 * Parses spec text (YAML or JSON) and validates it; throws `SpecError`.
 *
 * @example
 * ```ts
 * import { parseSpec } from "./parse_spec.ts";
 * parseSpec("{name: flow, jobs: [{name: a, type: static}]}").jobs[0].name; // "a"
 * ```
 */
export function parseSpec(text: string, source = "spec"): Pipeline {
  return checkSpec(parseJson(text, source) ?? parseYamlSpec(text, source), source);
}
