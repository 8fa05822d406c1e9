/**
 * What a run's driver (the controller) keeps in the data dir while it works: its own log
 * (`controllerLogPath`) and the run's heartbeat.
 *
 * @module
 */
import type { PipelineRun } from "../engine/pipeline_run.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { LogSink } from "./log_sink.ts";
import { type Driver, HeartbeatWriter } from "./heartbeat.ts";
import { controllerLogPath } from "./layout.ts";

/** A driver's log (printed and kept) and a way to stop keeping records. */
export interface DriverRecords {
  log(line: string): void;
  stop(): Promise<void>;
}

/**
 * Starts the heartbeat of `run` and a kept copy of the driver's log lines.
 *
 * @example
 * ```ts ignore
 * const records = await keepRecords(fs, run, thisDriver("controller", namespace), console.error);
 * records.log("starting");
 * await records.stop();
 * ```
 */
export async function keepRecords(
  fs: DataFs,
  run: PipelineRun,
  driver: Driver,
  print: (line: string) => void,
): Promise<DriverRecords> {
  const sink = new LogSink(fs);
  const path = controllerLogPath(run.runId);
  const beat = new HeartbeatWriter(fs, driver, () => run.document);
  await beat.start();
  return {
    log(line) {
      print(line);
      sink.line(path, `${new Date().toISOString()} ${line}`);
    },
    async stop() {
      await sink.close();
      await beat.stop();
    },
  };
}
