/**
 * The data-dir layout: every path a run keeps under `kt-metadata/`, relative to the data
 * dir, for every reader and writer (the state, the kept spec, the task definitions, logs,
 * the heartbeat, task times, the report and the launch record). No other module spells a
 * path under `kt-metadata/`.
 *
 * ```text
 * kt-metadata/<run id>/
 *   pipeline_run_state.json        the state document
 *   pipeline_spec.json             the validated spec the run started with
 *   spec_tasks/<job>.json          a long task list of that spec
 *   launch.json                    how the run was started
 *   heartbeat.json                 who drives the run, and a summary
 *   dynamic_job_output/<job>.json  the jobs a dynamic job returned
 *   tasks/<job>/chunk-<c>.json     task definitions for pods (and <index>.json)
 *   task_errors/<job>/<index>.txt  why a pod's task failed
 *   task_times.json                a local run's task times
 *   task_times/<job>/<index>.json  one pod's task time
 *   tasks_done/<job>/<first>.json  the finished tasks of a block that starts at <first>
 *   logs/<job>/<index>.log         one task's output
 *   logs/controller.log            the controller's log
 *   report.html                    the report
 *   cache/<job>.json               with --cache: each task cached or ran, and why
 * kt-metadata/cache/               the incremental runs' cache (see cache.ts)
 *   entries/<kk>/<key>.json        one task's entry: its key's parts, reads and writes
 *   tasks/<job>.json               the latest key of each task of a job (for `why`, `lineage`)
 *   digest_memo.json               local files' digests by (size, mtime, inode)
 * kt-schedules/<name>/
 *   spec.json                      a schedule's spec, copied into each run it starts
 * ```
 *
 * @module
 */

/** The folder of every schedule's kept spec, relative to the data dir. */
export const SCHEDULES_ROOT = "kt-schedules";

/** The folder of one schedule's records. */
export function scheduleDir(name: string): string {
  return `${SCHEDULES_ROOT}/${name}`;
}

/**
 * The spec a schedule runs (with the version of the kt-deno that kept it): its controller
 * copies it into each run it starts, as {@linkcode keptSpecPath}.
 *
 * @example
 * ```ts
 * import { scheduleSpecPath } from "./layout.ts";
 * scheduleSpecPath("nightly"); // "kt-schedules/nightly/spec.json"
 * ```
 */
export function scheduleSpecPath(name: string): string {
  return `${scheduleDir(name)}/spec.json`;
}

/** The folder of every run's metadata, relative to the data dir. */
export const METADATA_ROOT = "kt-metadata";

/**
 * Where a run's metadata lives, relative to the data dir.
 *
 * @example
 * ```ts
 * import { metadataDir } from "./layout.ts";
 * metadataDir("ktpr0000abcd"); // "kt-metadata/ktpr0000abcd"
 * ```
 */
export function metadataDir(runId: string): string {
  return `${METADATA_ROOT}/${runId}`;
}

/** Path of the state document. */
export function statePath(runId: string): string {
  return `${metadataDir(runId)}/pipeline_run_state.json`;
}

/** Path of a dynamic job's output (the jobs it returned). */
export function dynamicOutputPath(runId: string, job: string): string {
  return `${metadataDir(runId)}/dynamic_job_output/${job}.json`;
}

/** The validated spec the run was started with (for `resume`). */
export function keptSpecPath(runId: string): string {
  return `${metadataDir(runId)}/pipeline_spec.json`;
}

/** Where a job's long task list is kept, beside the kept spec. */
export function keptTasksPath(runId: string, job: string): string {
  return `${metadataDir(runId)}/spec_tasks/${job}.json`;
}

/** How a run was started (spec file, functions folder or namespace), for `resume` and `cancel`. */
export function launchPath(runId: string): string {
  return `${metadataDir(runId)}/launch.json`;
}

/** The heartbeat: who drives the run, where, and a summary for `kt-deno list`. */
export function heartbeatPath(runId: string): string {
  return `${metadataDir(runId)}/heartbeat.json`;
}

/** The folder of a run's logs. */
export function logsDir(runId: string): string {
  return `${metadataDir(runId)}/logs`;
}

/**
 * One task's log: `kt-metadata/<run id>/logs/<job>/<index>.log`.
 *
 * @example
 * ```ts
 * import { taskLogPath } from "./layout.ts";
 * taskLogPath("ktpr0000abcd", "load", 3); // "kt-metadata/ktpr0000abcd/logs/load/3.log"
 * ```
 */
export function taskLogPath(runId: string, job: string, index: number): string {
  return `${jobLogsDir(runId, job)}/${index}.log`;
}

/** The folder of one job's task logs. */
export function jobLogsDir(runId: string, job: string): string {
  return `${logsDir(runId)}/${job}`;
}

/**
 * The task index of a file name in {@linkcode jobLogsDir} (`3.log`), the inverse of
 * {@linkcode taskLogPath}; undefined for any other name.
 *
 * @example
 * ```ts
 * import { taskLogIndex } from "./layout.ts";
 * taskLogIndex("3.log"); // 3
 * taskLogIndex("notes.txt"); // undefined
 * ```
 */
export function taskLogIndex(name: string): number | undefined {
  const match = /^(\d+)\.log$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** The controller's log (a file beside the job folders; job names cannot contain a dot). */
export function controllerLogPath(runId: string): string {
  return `${logsDir(runId)}/controller.log`;
}

/** Path of chunk `chunk` of a job's task definitions (written for pods). */
export function taskChunkPath(runId: string, job: string, chunk: number): string {
  return `${metadataDir(runId)}/tasks/${job}/chunk-${chunk}.json`;
}

/** Path of a task definition too large for a chunk. */
export function taskFilePath(runId: string, job: string, index: number): string {
  return `${metadataDir(runId)}/tasks/${job}/${index}.json`;
}

/** Path where a pod leaves the reason its task failed, for the controller's report. */
export function taskErrorPath(runId: string, job: string, index: number): string {
  return `${metadataDir(runId)}/task_errors/${job}/${index}.txt`;
}

/** Path of a local run's task times. */
export function runTimesPath(runId: string): string {
  return `${metadataDir(runId)}/task_times.json`;
}

/** Path of one task's time (written by its pod). */
export function podTimePath(runId: string, job: string, index: number): string {
  return `${metadataDir(runId)}/task_times/${job}/${index}.json`;
}

/** The folder of a job's done records (see task_done.ts). */
export function tasksDoneDir(runId: string, job: string): string {
  return `${metadataDir(runId)}/tasks_done/${job}`;
}

/**
 * The done record of the block of a job's tasks that starts at task `first`: a packed pod's
 * tasks, or a thousand tasks of a local run.
 *
 * @example
 * ```ts
 * import { taskDonePath } from "./layout.ts";
 * taskDonePath("ktpr0000abcd", "load", 200); // "kt-metadata/ktpr0000abcd/tasks_done/load/200.json"
 * ```
 */
export function taskDonePath(runId: string, job: string, first: number): string {
  return `${tasksDoneDir(runId, job)}/${first}.json`;
}

/** Path of a run's report. */
export function reportPath(runId: string): string {
  return `${metadataDir(runId)}/report.html`;
}

/** The incremental runs' cache, shared by every run of the data dir. */
export const CACHE_ROOT = `${METADATA_ROOT}/cache`;

/** Path of a parsed YAML spec by the digest of its text (see `cache.ts`, `ParsedSpecs`). */
export function parsedSpecPath(digest: string): string {
  return `${CACHE_ROOT}/specs/${digest}.json`;
}

/** The folder of the parsed YAML specs. */
export function parsedSpecsDir(): string {
  return `${CACHE_ROOT}/specs`;
}

/**
 * Path of a cache entry by its key (64 hex characters).
 *
 * @example
 * ```ts
 * import { cacheEntryPath } from "./layout.ts";
 * cacheEntryPath("ab12".padEnd(64, "0")); // "kt-metadata/cache/entries/ab/ab1200...0.json"
 * ```
 */
export function cacheEntryPath(key: string): string {
  return `${CACHE_ROOT}/entries/${key.slice(0, 2)}/${key}.json`;
}

/** The folder of every cache entry. */
export function cacheEntriesDir(): string {
  return `${CACHE_ROOT}/entries`;
}

/** The folder of the jobs' latest keys. */
export function cacheTasksDir(): string {
  return `${CACHE_ROOT}/tasks`;
}

/** The latest key of each task of a job, by index. */
export function cacheTasksPath(job: string): string {
  return `${cacheTasksDir()}/${job}.json`;
}

/** The memo of local files' digests. */
export function digestMemoPath(): string {
  return `${CACHE_ROOT}/digest_memo.json`;
}

/** What the cache decided for each task of a job in a run (cached or ran, and why). */
export function cacheDecisionsPath(runId: string, job: string): string {
  return `${metadataDir(runId)}/cache/${job}.json`;
}

/** The folder of a run's cache decisions. */
export function cacheDecisionsDir(runId: string): string {
  return `${metadataDir(runId)}/cache`;
}
