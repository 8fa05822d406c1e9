/**
 * kt-deno's version, from deno.json.
 *
 * @module
 */
import config from "../deno.json" with { type: "json" };

/** This build's version (deno.json's `version`). */
export const VERSION: string = config.version;
