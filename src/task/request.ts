/**
 * One task to run, and the environment every task sees, locally or in a pod.
 *
 * @module
 */
import { dynamicOutputPath } from "../records/layout.ts";
import type { JobState } from "../engine/state.ts";
import type { TaskDefinition } from "../records/task_files.ts";
import { taskAt } from "../spec/packed_tasks.ts";

/** Everything needed to run one task of one job. */
export interface TaskRequest extends TaskDefinition {
  runId: string;
  job: string;
  index: number;
  dataDir: string;
  functionsDir: string;
  /** The job's memory, which caps a local function task's heap. */
  memory?: string;
  /** Record the task's file operations, for the cache (see `executors/task_cache.ts`). */
  record?: boolean;
}

/** The request for task `index` of a job. */
export function taskRequest(
  job: Readonly<JobState>,
  index: number,
  where: { runId: string; dataDir: string; functionsDir: string },
): TaskRequest {
  const base = { ...where, job: job.name, kind: job.type, index, memory: job.memory };
  if (job.type === "dynamic") return { ...base, function: job.function, args: job.args ?? {} };
  const task = taskAt(job.tasks!, index)!;
  return { ...base, function: task.function, args: task.args, command: task.command };
}

/**
 * The largest args (as JSON, in bytes) passed in `KT_JOB_ARGS`; larger ones go in a file
 * named by `KT_JOB_ARGS_FILE`, as Linux refuses to start a program with an environment
 * variable over 128 KiB.
 */
export const ARGS_ENV_LIMIT = 64 * 1024;

/** The task's args as JSON, and whether they are too large for `KT_JOB_ARGS`. */
export function argsJson(request: Pick<TaskRequest, "args">): { json: string; large: boolean } {
  const json = JSON.stringify(request.args);
  return { json, large: new TextEncoder().encode(json).length > ARGS_ENV_LIMIT };
}

/**
 * The environment variables of a task: kt-deno's names, and kube-transform's
 * (`pipeline_run_id`, `JOB_INDEX`, `KT_JOB_ARGS`, `KT_ORCH_SPEC_PATH`) for code written for it.
 * Args over {@linkcode ARGS_ENV_LIMIT} are in the file `argsFile` instead (`KT_JOB_ARGS_FILE`).
 */
export function taskEnv(
  request: Omit<TaskRequest, "function" | "command">,
  argsFile?: string,
): Record<string, string> {
  const { json, large } = argsJson(request);
  if (large && argsFile === undefined) {
    throw new Error(`the task's args (${json.length} bytes) need a file for KT_JOB_ARGS_FILE`);
  }
  return {
    DATA_DIR: request.dataDir,
    KT_RUN_ID: request.runId,
    pipeline_run_id: request.runId,
    KT_JOB_NAME: request.job,
    JOB_COMPLETION_INDEX: String(request.index),
    JOB_INDEX: String(request.index),
    ...(large ? { KT_JOB_ARGS_FILE: argsFile! } : { KT_JOB_ARGS: json }),
    KT_ORCH_SPEC_PATH: dynamicOutputPath(request.runId, request.job),
    KT_FUNCTIONS_DIR: request.functionsDir,
  };
}

/**
 * Writes args too large for `KT_JOB_ARGS` to a temporary file; returns its path, or
 * `undefined` when the args fit in the variable.
 */
export async function argsFile(request: Pick<TaskRequest, "args">): Promise<string | undefined> {
  const { json, large } = argsJson(request);
  if (!large) return undefined;
  const path = await Deno.makeTempFile({ prefix: "kt-args-", suffix: ".json" });
  await Deno.writeTextFile(path, json);
  return path;
}
