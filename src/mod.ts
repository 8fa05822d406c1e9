/**
 * kt-deno's public API for code: the types of specs written in TypeScript and of task
 * functions, and the pieces to run a pipeline from a program.
 *
 * @example
 * ```ts
 * import type { PipelineSpec, TaskContext } from "./mod.ts";
 * export const spec: PipelineSpec = {
 *   name: "demo",
 *   jobs: [{ type: "static", tasks: [{ function: "demo.hello", args: { who: "world" } }] }],
 * };
 * export function hello(args: { who: string }, ctx: TaskContext) {
 *   return ctx.fs.write("hello.txt", `hello ${args.who}\n`);
 * }
 * ```
 *
 * @module
 */
export type { Job, JobSpec, Pipeline, PipelineSpec, Task, TaskSpec } from "./spec/schema.ts";
export { loadSpec } from "./spec/load.ts";
export { parseSpec } from "./spec/parse_spec.ts";
export { validatePipeline } from "./spec/validate.ts";
export type { TaskContext } from "./task/context.ts";
export type { TaskFunction } from "./task/functions.ts";
export type { DataFs } from "./storage/data_fs.ts";
export { PipelineRun } from "./engine/pipeline_run.ts";
export type { JobState, StateDocument } from "./engine/state.ts";
export { runLocally } from "./run/local_run.ts";
export { newRunId } from "./records/run_id.ts";
