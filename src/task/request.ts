/**
 * One task to run, and the environment every task sees, locally or in a pod.
 *
 * @module
 */
import { dynamicOutputPath } from "../engine/state.ts";
import type { JobState } from "../engine/state.ts";

/** Everything needed to run one task of one job. */
export interface TaskRequest {
  runId: string;
  job: string;
  kind: "static" | "dynamic";
  index: number;
  function?: string;
  args: Record<string, unknown>;
  command?: string[];
  dataDir: string;
  functionsDir: string;
}

/** The request for task `index` of a job. */
export function taskRequest(
  job: Readonly<JobState>,
  index: number,
  where: { runId: string; dataDir: string; functionsDir: string },
): TaskRequest {
  const base = { ...where, job: job.name, kind: job.type, index };
  if (job.type === "dynamic") return { ...base, function: job.function, args: job.args ?? {} };
  const task = job.tasks![index];
  return { ...base, function: task.function, args: task.args, command: task.command };
}

/**
 * The environment variables of a task: kt-deno's names, and kube-transform's
 * (`pipeline_run_id`, `JOB_INDEX`, `KT_JOB_ARGS`, `KT_ORCH_SPEC_PATH`) for code written for it.
 */
export function taskEnv(
  request: Omit<TaskRequest, "function" | "command">,
): Record<string, string> {
  return {
    DATA_DIR: request.dataDir,
    KT_RUN_ID: request.runId,
    pipeline_run_id: request.runId,
    KT_JOB_NAME: request.job,
    JOB_COMPLETION_INDEX: String(request.index),
    JOB_INDEX: String(request.index),
    KT_JOB_ARGS: JSON.stringify(request.args),
    KT_ORCH_SPEC_PATH: dynamicOutputPath(request.runId, request.job),
    KT_FUNCTIONS_DIR: request.functionsDir,
  };
}
