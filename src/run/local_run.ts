/**
 * A whole pipeline run on this machine: the engine, the local executor and the data dir's
 * storage driver, tied together by the driver loop, with the run's task logs and its
 * heartbeat kept in the data dir.
 *
 * @module
 */
import { PipelineRun } from "../engine/pipeline_run.ts";
import { cancelRun } from "../engine/reopen.ts";
import { metadataDir, statePath } from "../records/layout.ts";
import type { ExecutorEvents } from "../executors/executor.ts";
import { LocalExecutor } from "../executors/local.ts";
import type { Pipeline } from "../spec/schema.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { LogSink } from "../records/log_sink.ts";
import { VERSION } from "../version.ts";
import { drivePipeline } from "./drive.ts";
import { HeartbeatWriter, thisDriver } from "../records/heartbeat.ts";
import { writeKeptSpec } from "../records/kept_spec.ts";
import { absolute, type LaunchRecord, writeLaunch } from "../records/launch.ts";
import { taskLogPath } from "../records/layout.ts";

/** Settings of a local run. */
export interface LocalRunOptions {
  runId: string;
  dataDir: string;
  functionsDir: string;
  concurrency?: number;
  /** Aborting stops the run: running work is stopped and the state says Interrupted. */
  signal?: AbortSignal;
  /** Aborting cancels the run: running work is stopped and the state says Cancelled. */
  cancel?: AbortSignal;
  events?: ExecutorEvents;
  onChange?: (run: PipelineRun) => void;
  /** The spec file the run was started from, kept for `resume`. */
  specPath?: string;
  /** A resumed run: tasks recorded done are not run again. */
  resuming?: boolean;
  /** Function tasks whose cache entry holds are skipped (`kt-deno run --cache`). */
  cache?: boolean;
}

/**
 * Runs a validated pipeline here and returns its final state. Check the data dir first
 * (`checkDataDir`) to fail early on a store that cannot be used.
 *
 * @example
 * ```ts ignore
 * const run = await runLocally(pipeline, { runId: newRunId(), dataDir: "./kt-data", functionsDir: "./kt_functions" });
 * run.status; // "Completed"
 * ```
 */
export async function runLocally(
  pipeline: Pipeline,
  options: LocalRunOptions,
): Promise<PipelineRun> {
  const fs = new DataFs(openStorage(options.dataDir));
  const launch: LaunchRecord = {
    ...(options.specPath ? { spec_path: absolute(options.specPath) } : {}),
    functions_dir: absolute(options.functionsDir),
    ...(options.cache ? { cache: true } : {}),
  };
  const run = PipelineRun.start(options.runId, pipeline, new Date(), VERSION);
  try {
    await writeKeptSpec(fs, options.runId, pipeline);
    await writeLaunch(fs, options.runId, launch);
    return await driveLocally(run, fs, options);
  } catch (error) {
    // No half-record: a run that failed before its first state write would show in
    // `list` (by its heartbeat) as one that nobody drives.
    if (!await fs.exists(statePath(options.runId)).catch(() => true)) {
      await fs.rmdir(metadataDir(options.runId)).catch(() => {});
    }
    throw error;
  }
}

/**
 * Drives a run here to its end: a new one, or a reopened one (`resume`). Task output
 * goes to the run's logs as well as to `events.log`; the heartbeat beats until the end.
 */
export async function driveLocally(
  start: PipelineRun,
  fs: DataFs,
  options: LocalRunOptions,
): Promise<PipelineRun> {
  let run = start;
  const sink = new LogSink(fs);
  const beat = new HeartbeatWriter(fs, thisDriver("launcher"), () => run.document);
  const executor = new LocalExecutor({
    runId: options.runId,
    dataDir: options.dataDir,
    functionsDir: options.functionsDir,
    concurrency: options.concurrency,
    resuming: options.resuming,
    cache: options.cache,
    events: {
      progress: options.events?.progress,
      log: (job, index, line) => {
        sink.line(taskLogPath(options.runId, job, index), line);
        options.events?.log?.(job, index, line);
      },
    },
  });
  const stops = [options.signal, options.cancel].filter((s): s is AbortSignal => s !== undefined);
  await beat.start();
  try {
    run = await drivePipeline(run, executor, fs, {
      signal: stops.length ? AbortSignal.any(stops) : undefined,
      cancel: options.cancel,
      onChange: options.onChange,
    });
    if (options.cancel?.aborted && run.status !== "Completed" && run.status !== "Failed") {
      const reason = String(options.cancel.reason ?? "by kt-deno cancel");
      run = PipelineRun.resume(cancelRun(run.document, reason, new Date()));
      await fs.writeJson(statePath(run.runId), run.document);
    }
    return run;
  } finally {
    await sink.close();
    await beat.stop();
  }
}
