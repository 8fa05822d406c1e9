/**
 * The context a task function receives beside its args.
 *
 * @module
 */
import type { DataFs } from "../storage/data_fs.ts";

/**
 * What a task function gets as its second argument.
 *
 * @example
 * ```ts
 * import type { TaskContext } from "./context.ts";
 * export async function count(args: { path: string }, ctx: TaskContext) {
 *   const text = await ctx.fs.read(args.path);
 *   ctx.log(`job ${ctx.jobName} task ${ctx.taskIndex}: ${text.length} characters`);
 * }
 * ```
 */
export interface TaskContext {
  /** File operations relative to the data dir. */
  fs: DataFs;
  /** The pipeline run's id (`ktpr` + 8 hex characters). */
  runId: string;
  /** The kt job this task belongs to. */
  jobName: string;
  /** The task's index in its job (the Job completion index on Kubernetes). */
  taskIndex: number;
  /** Writes one line to the task's log. */
  log: (...parts: unknown[]) => void;
}
