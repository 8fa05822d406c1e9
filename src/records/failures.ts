/**
 * Why a run failed, in words: each failed job's error and the last lines of the logs of
 * its failed tasks. Shown by `status` and at the end of `run`.
 *
 * @module
 */
import { type JobState, JobStatus, type StateDocument } from "../engine/state.ts";
import { taskLogPath } from "./layout.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { lastLines } from "./log_tail.ts";

const MAX_JOBS = 10;

/**
 * The indexes of a failed job's failed tasks: the job's one task, or those its error
 * names (at most three), kept with the job when it failed.
 *
 * @example
 * ```ts
 * import { failedTasks } from "./failures.ts";
 * failedTasks({ type: "static", tasks: [{ args: {} }, { args: {} }], failed_tasks: [1] }); // [1]
 * ```
 */
export function failedTasks(job: Pick<JobState, "type" | "tasks" | "failed_tasks">): number[] {
  if (job.type === "dynamic" || (job.tasks ?? []).length === 1) return [0];
  return job.failed_tasks ?? [];
}

/** The last `count` lines of a task's log, or [] when it wrote none. */
export async function logTail(
  fs: DataFs,
  runId: string,
  job: string,
  index: number,
  count: number,
): Promise<string[]> {
  return await lastLines(fs, taskLogPath(runId, job, index), count).catch(() => undefined) ?? [];
}

/**
 * A report of the failed jobs of a run (at most ten): the error, and under it the last
 * lines of each failed task's log. Empty when no job failed.
 */
export async function failureReport(
  fs: DataFs,
  doc: Readonly<StateDocument>,
  lines = 5,
): Promise<string> {
  // A run that completed has no failed job: its 10,000 jobs need no look.
  if (doc.status === "Completed") return "";
  const failed = Object.values(doc.jobs).filter((job) => job.status === JobStatus.Failed);
  if (failed.length === 0) return "";
  const out = ["", "failed jobs:"];
  for (const job of failed.slice(0, MAX_JOBS)) {
    out.push(`  ${job.name}: ${job.error ?? "failed"}`);
    for (const index of failedTasks(job)) {
      const tail = await logTail(fs, doc.pipeline_run_id, job.name, index, lines);
      if (tail.length === 0) continue;
      out.push(`    last lines of ${job.name}[${index}]:`);
      for (const line of tail) out.push(`      ${line}`);
    }
  }
  if (failed.length > MAX_JOBS) {
    out.push(`  … and ${failed.length - MAX_JOBS} more (kt-deno status ${doc.pipeline_run_id})`);
  }
  return out.join("\n");
}
