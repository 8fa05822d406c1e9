/**
 * Where a run keeps what outlives its processes, relative to the data dir: task logs,
 * the controller's log, the heartbeat and the spec it was started with.
 *
 * @module
 */
import { metadataDir } from "../engine/state.ts";

/** The folder of a run's logs. */
export function logsDir(runId: string): string {
  return `${metadataDir(runId)}/logs`;
}

/**
 * One task's log: `kt-metadata/<run id>/logs/<job>/<index>.log`.
 *
 * @example
 * ```ts
 * import { taskLogPath } from "./run_files.ts";
 * taskLogPath("ktpr0000abcd", "load", 3); // "kt-metadata/ktpr0000abcd/logs/load/3.log"
 * ```
 */
export function taskLogPath(runId: string, job: string, index: number): string {
  return `${logsDir(runId)}/${job}/${index}.log`;
}

/** The controller's log (a file beside the job folders; job names cannot contain a dot). */
export function controllerLogPath(runId: string): string {
  return `${logsDir(runId)}/controller.log`;
}

/** The heartbeat: who drives the run, where, and a summary for `kt-deno list`. */
export function heartbeatPath(runId: string): string {
  return `${metadataDir(runId)}/heartbeat.json`;
}

/** The validated spec the run was started with (for `resume`). */
export function keptSpecPath(runId: string): string {
  return `${metadataDir(runId)}/pipeline_spec.json`;
}

/** How a run was started (spec file, functions folder or namespace), for `resume` and `cancel`. */
export function launchPath(runId: string): string {
  return `${metadataDir(runId)}/launch.json`;
}

/** How a run was started, kept in the run (`launch.json`) for `resume` and `cancel`. */
export interface LaunchRecord {
  /** The spec file, as an absolute path. */
  spec_path?: string;
  /** The functions folder of a local run, as an absolute path. */
  functions_dir?: string;
  /** The namespace of a run on Kubernetes. */
  namespace?: string;
  /** The kubeconfig context it was launched with, if one was named. */
  context?: string;
}

/** A path made absolute against the working directory (for the launch record). */
export function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}
