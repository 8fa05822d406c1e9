/**
 * The pure pipeline engine and its state document.
 *
 * @module
 */
export * from "./pipeline_run.ts";
export * from "./state.ts";
