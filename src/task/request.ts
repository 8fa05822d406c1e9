/**
 * One task to run, and the environment every task sees, locally or in a pod.
 *
 * @module
 */
import type { Job } from "../spec/schema.ts";
import { dynamicOutputPath } from "../records/layout.ts";
import type { TaskDefinition } from "../records/task_files.ts";
import { taskAt } from "../spec/packed_tasks.ts";
import type { FunctionFinder, FunctionModule } from "./function_lookup.ts";
import { POD_ENV } from "./pod_env.ts";

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
  /**
   * The module of `function`, found once per run by the executor (absent: a command task,
   * or one for the runner to find, as a pod's one task).
   */
  found?: FunctionModule;
}

/**
 * What the task path needs of a job: its name and kind, its tasks (or its function and
 * args), how they are retried, timed and spread, whether they use the cache, and the memory
 * that caps a local task.
 * A job of the state is one; a packed pod builds one from its environment.
 */
export type JobTasks =
  & Pick<
    Job,
    | "name"
    | "type"
    | "tasks"
    | "function"
    | "args"
    | "retries"
    | "timeout"
    | "parallelism"
    | "cache"
  >
  & { memory?: string };

/**
 * The request for task `index` of a job, its function found by `finder` (the run's); the
 * error that says why a function cannot be found, when it cannot.
 */
export function taskRequest(
  job: Readonly<JobTasks>,
  index: number,
  where: { runId: string; dataDir: string; functionsDir: string },
  finder: FunctionFinder,
): TaskRequest | Error {
  const base = { ...where, job: job.name, kind: job.type, index, memory: job.memory };
  const task = job.type === "dynamic"
    ? { function: job.function, args: job.args ?? {} }
    : taskAt(job.tasks!, index)!;
  if (task.function === undefined) return { ...base, args: task.args, command: task.command };
  const found = finder.find(task.function);
  if (found instanceof Error) return found;
  return { ...base, function: task.function, args: task.args, found };
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
  // A UTF-16 unit is at most 3 bytes of UTF-8: most args are counted without encoding them.
  const large = json.length * 3 > ARGS_ENV_LIMIT &&
    new TextEncoder().encode(json).length > ARGS_ENV_LIMIT;
  return { json, large };
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
    [POD_ENV.dataDir]: request.dataDir,
    [POD_ENV.runId]: request.runId,
    [TASK_ENV.runId]: request.runId,
    [POD_ENV.job]: request.job,
    [POD_ENV.index]: String(request.index),
    [TASK_ENV.index]: String(request.index),
    ...(large ? { [TASK_ENV.argsFile]: argsFile! } : { [TASK_ENV.args]: json }),
    [TASK_ENV.specPath]: dynamicOutputPath(request.runId, request.job),
    [POD_ENV.functionsDir]: request.functionsDir,
  };
}

/**
 * The names of a task's environment beyond those a pod has ({@linkcode POD_ENV}):
 * kube-transform's, for code written for it.
 */
export const TASK_ENV = {
  runId: "pipeline_run_id",
  index: "JOB_INDEX",
  args: "KT_JOB_ARGS",
  argsFile: "KT_JOB_ARGS_FILE",
  specPath: "KT_ORCH_SPEC_PATH",
} as const;

/** The names {@linkcode taskEnv} gives a value: every one of them, or all but one. */
export const TASK_ENV_NAMES: readonly string[] = [
  POD_ENV.dataDir,
  POD_ENV.runId,
  POD_ENV.job,
  POD_ENV.index,
  POD_ENV.functionsDir,
  ...Object.values(TASK_ENV),
];

/**
 * Sets a task's environment in this process: each variable only when its value differs (a
 * worker's tasks of one job differ in their index alone, and the C library keeps every value
 * set), and the one of `KT_JOB_ARGS`, `KT_JOB_ARGS_FILE` that the task has not, removed.
 */
export function setTaskEnv(env: Record<string, string>): void {
  for (const key in env) if (Deno.env.get(key) !== env[key]) Deno.env.set(key, env[key]);
  for (const key of [TASK_ENV.args, TASK_ENV.argsFile]) {
    if (!(key in env) && Deno.env.has(key)) Deno.env.delete(key);
  }
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
