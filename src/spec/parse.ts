/**
 * Parsing spec text, YAML or JSON (which takes the fast path of `JSON.parse`).
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { checkSpec, parseJson } from "./load.ts";
import type { Pipeline } from "./schema.ts";
import { SpecError } from "./problems.ts";

/**
 * Parses spec text (YAML or JSON) and validates it; throws {@linkcode SpecError}.
 *
 * @example
 * ```ts
 * import { parseSpec } from "./parse.ts";
 * parseSpec("{name: flow, jobs: [{name: a, type: static}]}").jobs[0].name; // "a"
 * ```
 */
export function parseSpec(text: string, source = "spec"): Pipeline {
  let raw = parseJson(text, source);
  try {
    raw ??= parseYaml(text, { merge: true, logLevel: "error" });
  } catch (error) {
    const reason = /Maximum call stack/.test((error as Error).message)
      ? "nested too deeply to parse (lists and objects within each other)"
      : (error as Error).message;
    throw new SpecError([{ message: `cannot parse ${source}: ${reason}` }]);
  }
  return checkSpec(raw, source);
}
