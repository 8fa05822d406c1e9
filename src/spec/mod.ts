/**
 * The pipeline spec: schema, validation, loading, names and quantities.
 *
 * @module
 */
export * from "./schema.ts";
export * from "./validate.ts";
export * from "./load.ts";
export * from "./parse.ts";
export * from "./parse_spec.ts";
export * from "./names.ts";
export * from "./quantity.ts";
