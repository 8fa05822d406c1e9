/**
 * The environment of a task pod, in one place: the controller's manifest writes it
 * ({@linkcode podEnvVars}, in `k8s/manifests.ts`) and `kt-deno task` reads it
 * ({@linkcode readPodEnv}), for a one-task pod and a packed pod alike.
 *
 * @module
 */
import { VERSION } from "../version.ts";

/** Where the worker image keeps the task functions. */
export const IMAGE_FUNCTIONS_DIR = "/app/kt_functions";

/** The name of each variable of a task pod's environment. */
export const POD_ENV = {
  dataDir: "DATA_DIR",
  runId: "KT_RUN_ID",
  job: "KT_JOB_NAME",
  /** Set by Kubernetes from the pod's completion index. */
  index: "JOB_COMPLETION_INDEX",
  tasksPerChunk: "KT_TASKS_PER_CHUNK",
  version: "KT_VERSION",
  functionsDir: "KT_FUNCTIONS_DIR",
  image: "KT_IMAGE_PATH",
  tasksPerPod: "KT_TASKS_PER_POD",
  taskCount: "KT_TASK_COUNT",
  retries: "KT_TASK_RETRIES",
  workers: "KT_POD_WORKERS",
  /** Set (to `1`) when the job uses the cache: the pod skips its cached tasks, stores the others. */
  cache: "KT_CACHE",
  /**
   * The task of each completion index, comma-separated, when the Job runs only some of its
   * job's tasks (those the cache did not answer): pod `i` runs task `indexes[i]`.
   */
  taskIndexes: "KT_TASK_INDEXES",
} as const;

/** What a packed pod (`tasks_per_pod` > 1) is told beyond a one-task pod. */
export interface PackedPodEnv {
  perPod: number;
  /** The job's tasks. */
  count: number;
  retries: number;
  /** Tasks it runs at once. */
  workers: number;
}

/** What a task pod is told. */
export interface PodEnv {
  runId: string;
  job: string;
  /** The pod's completion index: its task, or (packed) its block of tasks. */
  index: number;
  dataDir: string;
  version: string;
  tasksPerChunk: number;
  functionsDir: string;
  image?: string;
  packed?: PackedPodEnv;
  /** The job uses the cache (`--cache`, `cache: true`). */
  cache?: boolean;
  /** The tasks of the completion indexes, when the Job runs only some of them. */
  taskIndexes?: number[];
}

/** Raised when the controller or a pod runs under another kt-deno version than the launcher's. */
export class VersionMismatchError extends Error {
  constructor(launcher: string, here: string, where: string) {
    super(
      `kt-deno version mismatch: the run was launched by kt-deno ${launcher}, but this ${where} has kt-deno ${here}; use an image with kt-deno ${launcher}`,
    );
    this.name = "VersionMismatchError";
  }
}

/**
 * The variables a pod's manifest sets (all but `JOB_COMPLETION_INDEX`, which Kubernetes
 * sets in each pod).
 *
 * @example
 * ```ts
 * import { podEnvVars } from "./pod_env.ts";
 * const env = podEnvVars({
 *   runId: "ktpr0000abcd",
 *   job: "load",
 *   dataDir: "s3://bucket/data",
 *   version: "0.1.0",
 *   tasksPerChunk: 1,
 *   functionsDir: "/app/kt_functions",
 * });
 * env.KT_JOB_NAME; // "load"
 * ```
 */
export function podEnvVars(env: Omit<PodEnv, "index">): Record<string, string> {
  const vars: Record<string, string> = {
    [POD_ENV.dataDir]: env.dataDir,
    [POD_ENV.runId]: env.runId,
    [POD_ENV.job]: env.job,
    [POD_ENV.tasksPerChunk]: String(env.tasksPerChunk),
    [POD_ENV.version]: env.version,
    [POD_ENV.functionsDir]: env.functionsDir,
  };
  if (env.image !== undefined) vars[POD_ENV.image] = env.image;
  if (env.cache) vars[POD_ENV.cache] = "1";
  if (env.taskIndexes) vars[POD_ENV.taskIndexes] = env.taskIndexes.join(",");
  if (env.packed) {
    vars[POD_ENV.tasksPerPod] = String(env.packed.perPod);
    vars[POD_ENV.taskCount] = String(env.packed.count);
    vars[POD_ENV.retries] = String(env.packed.retries);
    vars[POD_ENV.workers] = String(env.packed.workers);
  }
  return vars;
}

/** A pod environment variable that must be set; throws naming it when it is not. */
function required(name: string): string {
  const value = Deno.env.get(name);
  if (value === undefined || value === "") throw new Error(`${name} is not set in the pod`);
  return value;
}

function whole(name: string, value = required(name)): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) {
    throw new Error(`${name} must be a whole number, found ${JSON.stringify(value)}`);
  }
  return number;
}

/**
 * This pod's environment; throws naming the first variable missing or wrong (but for
 * `KT_VERSION`, see {@linkcode checkPodVersion}). `functionsDir` is the folder as set,
 * which the caller resolves.
 */
export function readPodEnv(): PodEnv {
  const env: PodEnv = {
    runId: required(POD_ENV.runId),
    job: required(POD_ENV.job),
    index: whole(POD_ENV.index),
    dataDir: required(POD_ENV.dataDir),
    version: Deno.env.get(POD_ENV.version) ?? "",
    tasksPerChunk: Number(Deno.env.get(POD_ENV.tasksPerChunk) ?? "1"),
    functionsDir: Deno.env.get(POD_ENV.functionsDir) ?? IMAGE_FUNCTIONS_DIR,
    image: Deno.env.get(POD_ENV.image),
  };
  if (Deno.env.get(POD_ENV.cache) === "1") env.cache = true;
  const indexes = Deno.env.get(POD_ENV.taskIndexes);
  if (indexes !== undefined) {
    const task = indexes.split(",")[env.index];
    if (task === undefined) {
      throw new Error(`${POD_ENV.taskIndexes} has no task for completion index ${env.index}`);
    }
    env.index = whole(POD_ENV.taskIndexes, task);
  }
  if (Deno.env.get(POD_ENV.tasksPerPod) !== undefined) {
    env.packed = {
      perPod: whole(POD_ENV.tasksPerPod),
      count: whole(POD_ENV.taskCount),
      retries: Number(Deno.env.get(POD_ENV.retries) ?? "0"),
      workers: Math.max(1, Number(Deno.env.get(POD_ENV.workers) ?? "1")),
    };
  }
  return env;
}

/** Throws {@linkcode VersionMismatchError} when this pod's kt-deno is not the launcher's. */
export function checkPodVersion(env: Pick<PodEnv, "version">): void {
  if (env.version === "") required(POD_ENV.version);
  if (env.version !== VERSION) throw new VersionMismatchError(env.version, VERSION, "image");
}
