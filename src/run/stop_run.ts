/**
 * Stopping a run, wherever it is driven: its launcher on this machine (SIGUSR2), its
 * controller on a cluster (deleted, through what the caller passes in), or nothing when
 * its driver is gone; then the run is marked `Cancelled`.
 *
 * @module
 */
import { until } from "../async/until.ts";
import { PipelineRun } from "../engine/pipeline_run.ts";
import { cancelRun } from "../engine/reopen.ts";
import type { RunStatus, StateDocument } from "../engine/state.ts";
import {
  type Heartbeat,
  heartbeatOf,
  livenessOf,
  processAlive,
  readHeartbeat,
} from "../records/heartbeat.ts";
import { readKeptSpec } from "../records/kept_spec.ts";
import { type LaunchRecord, readLaunch } from "../records/launch.ts";
import { heartbeatPath, statePath } from "../records/layout.ts";
import type { DataFs } from "../storage/data_fs.ts";

/**
 * The signal that asks a local launcher to cancel its run. Not SIGTERM: a launcher that a
 * service manager or `kill` terminates says `terminated by SIGTERM`, not that a user ran
 * `kt-deno cancel`.
 */
export const CANCEL_SIGNAL = "SIGUSR2";

/** Which cluster a run is on, as far as the caller knows. */
export interface ClusterOf {
  namespace?: string;
  context?: string;
  /** The run's controller Job, when it is not `kt-controller-<run id>` (a schedule's). */
  controllerJob?: string;
}

/** Settings of {@linkcode stopRun}. */
export interface StopOptions {
  /** Most seconds to wait for the run to stop. */
  timeoutSeconds: number;
  /** Where the run is, when the caller says (else its heartbeat and launch record say). */
  cluster: ClusterOf;
  /** Reads the run's state document (throwing the caller's error when there is none). */
  readState: () => Promise<StateDocument>;
  /** Deletes the run from its cluster and waits until it is gone. */
  deleteOnCluster: (runId: string, cluster: ClusterOf, timeoutSeconds: number) => Promise<void>;
}

/** How {@linkcode stopRun} ended. */
export type StopOutcome =
  | { outcome: "AlreadyEnded"; status: RunStatus }
  | { outcome: "DeletedOnCluster" }
  | { outcome: "LauncherStopped"; pid: number }
  | { outcome: "LauncherGone" }
  | { outcome: "DrivenElsewhere"; host: string; pid: number };

/**
 * Stops a run and marks it `Cancelled`; a run driven by a live launcher on another host is
 * left alone (`DrivenElsewhere`).
 *
 * @example
 * ```ts ignore
 * const end = await stopRun(fs, "ktpr0000abcd", {
 *   timeoutSeconds: 120,
 *   cluster: {},
 *   readState: () => fs.readJson(statePath("ktpr0000abcd")),
 *   deleteOnCluster: cancelOnCluster,
 * });
 * end.outcome; // "LauncherStopped"
 * ```
 */
export async function stopRun(
  fs: DataFs,
  runId: string,
  options: StopOptions,
): Promise<StopOutcome> {
  const launch = await readLaunch(fs, runId);
  const stateNow = () => stateOrStart(fs, runId, launch, options.readState);
  const doc = await stateNow();
  if (doc.status !== "Running") return { outcome: "AlreadyEnded", status: doc.status };
  const beat = await readHeartbeat(fs, runId);
  const namespace = options.cluster.namespace ?? beat?.namespace ?? launch?.namespace;
  const context = options.cluster.context ?? launch?.context;
  if (beat?.role === "controller" || namespace !== undefined || context !== undefined) {
    const controllerJob = launch?.controller_job;
    await options.deleteOnCluster(
      runId,
      { namespace, context, ...(controllerJob ? { controllerJob } : {}) },
      options.timeoutSeconds,
    );
    await markIfRunning(fs, await stateNow(), beat, "controller Job deleted");
    return { outcome: "DeletedOnCluster" };
  }
  const here = beat?.host === Deno.hostname();
  if (beat && here && processAlive(beat.pid) === true && isKtDeno(beat.pid)) {
    Deno.kill(beat.pid, CANCEL_SIGNAL);
    await until(`the launcher (pid ${beat.pid}) to stop`, options.timeoutSeconds, async () => {
      const now = await readHeartbeat(fs, runId);
      return now?.status !== "Running" || processAlive(beat.pid) === false;
    }, { everyMs: 250, retryErrors: false });
    await markIfRunning(fs, await options.readState(), beat, "the launcher stopped");
    return { outcome: "LauncherStopped", pid: beat.pid };
  }
  if (beat && livenessOf(beat, new Date()).alive && !here) {
    return { outcome: "DrivenElsewhere", host: beat.host, pid: beat.pid };
  }
  await markIfRunning(fs, doc, beat, "its launcher was gone");
  return { outcome: "LauncherGone" };
}

/**
 * The run's state; for a run on Kubernetes whose controller has not written one yet, its
 * first state, from the kept spec.
 */
async function stateOrStart(
  fs: DataFs,
  runId: string,
  launch: LaunchRecord | null,
  readState: () => Promise<StateDocument>,
): Promise<StateDocument> {
  try {
    return await readState();
  } catch (error) {
    const pipeline = launch?.namespace === undefined
      ? null
      : await readKeptSpec(fs, runId).catch(() => null);
    if (!pipeline) throw error;
    return PipelineRun.start(runId, pipeline, new Date()).document as StateDocument;
  }
}

/** Marks a run whose driver is gone (or was deleted) as Cancelled, unless it ended. */
async function markIfRunning(
  fs: DataFs,
  doc: StateDocument,
  beat: Heartbeat | null,
  why: string,
): Promise<void> {
  if (doc.status !== "Running") return;
  const cancelled = cancelRun(doc, `by kt-deno cancel (${why})`, new Date());
  await fs.writeJson(statePath(doc.pipeline_run_id), cancelled);
  const driver = beat ?? { role: "launcher" as const, pid: 0, host: "" };
  await fs.writeJson(
    heartbeatPath(doc.pipeline_run_id),
    heartbeatOf(cancelled, driver, new Date()),
  );
}

function isKtDeno(pid: number): boolean {
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
    return cmdline.includes("kt-deno") || cmdline.includes("main.ts");
  } catch {
    return true;
  }
}
