/**
 * A whole pipeline run on this machine: the engine, the local executor and the data dir's
 * storage driver, tied together by the driver loop.
 *
 * @module
 */
import { PipelineRun } from "../engine/pipeline_run.ts";
import type { ExecutorEvents } from "../executors/executor.ts";
import { LocalExecutor } from "../executors/local.ts";
import type { Pipeline } from "../spec/schema.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { VERSION } from "../version.ts";
import { drivePipeline } from "./drive.ts";

/** Settings of a local run. */
export interface LocalRunOptions {
  runId: string;
  dataDir: string;
  functionsDir: string;
  concurrency?: number;
  signal?: AbortSignal;
  events?: ExecutorEvents;
  onChange?: (run: PipelineRun) => void;
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
  const storage = openStorage(options.dataDir);
  const run = PipelineRun.start(options.runId, pipeline, new Date(), VERSION);
  const executor = new LocalExecutor({
    runId: options.runId,
    dataDir: options.dataDir,
    functionsDir: options.functionsDir,
    concurrency: options.concurrency,
    events: options.events,
  });
  return await drivePipeline(run, executor, new DataFs(storage), {
    signal: options.signal,
    onChange: options.onChange,
  });
}
