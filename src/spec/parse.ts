/**
 * Parsing YAML spec text (the schema is not loaded here: `load.ts` parses a spec before
 * it checks it).
 *
 * @module
 */
import process from "node:process";
import { parse as parseYaml } from "yaml";
import { SpecError } from "./problems.ts";

/**
 * The YAML parser and its settings: part of the key of a parsed spec kept by `run --cache`
 * (`records/cache.ts`); kept in step with deno.json's `yaml` import by a test.
 */
export const YAML_PARSER = "npm:yaml@2.9.1 merge";

/** Parses YAML spec text into its value, not yet validated; throws {@linkcode SpecError}. */
export function parseYamlSpec(text: string, source = "spec"): unknown {
  try {
    return withoutEnvLookups(() => parseYaml(text, { merge: true, logLevel: "error" }));
  } catch (error) {
    const reason = /Maximum call stack/.test((error as Error).message)
      ? "nested too deeply to parse (lists and objects within each other)"
      : (error as Error).message;
    throw new SpecError([{ message: `cannot parse ${source}: ${reason}` }]);
  }
}

/**
 * Runs `parse` (synchronous) while `process.env` is a plain object holding the one variable
 * the YAML parser reads: it reads `LOG_TOKENS` once per token, and each read of Deno's
 * `process.env` is a call into the runtime (about a fifth of the parse of a large spec).
 */
function withoutEnvLookups<T>(parse: () => T): T {
  const property = Object.getOwnPropertyDescriptor(process, "env");
  if (!property?.configurable || !("value" in property)) return parse();
  const tokens = process.env.LOG_TOKENS;
  Object.defineProperty(process, "env", {
    ...property,
    value: tokens === undefined ? {} : { LOG_TOKENS: tokens },
  });
  try {
    return parse();
  } finally {
    Object.defineProperty(process, "env", property);
  }
}
