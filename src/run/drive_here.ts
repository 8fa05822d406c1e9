/**
 * Driving a run in this process: its progress shown on the terminal, the stop signals
 * listened to, and its end reported. `run` and `resume` both drive their local runs here.
 *
 * @module
 */
import type { StateDocument } from "../engine/state.ts";
import type { PipelineRun } from "../engine/pipeline_run.ts";
import type { LocalRunOptions } from "./local_run.ts";
import { progressView } from "./progress.ts";
import { exitCodeOf, stopSignals } from "./stop_signals.ts";

/** What a run driven here is shown with and stopped by. */
export type ShownRun = Pick<LocalRunOptions, "signal" | "cancel" | "events" | "onChange">;

/**
 * Drives a run here (`drive`), showing its progress and stopping it on the stop signals,
 * then hands its state to `end` (the end report); resolves to the exit code.
 */
export async function driveHere(
  drive: (shown: ShownRun) => Promise<PipelineRun>,
  end: (doc: Readonly<StateDocument>) => Promise<void>,
): Promise<number> {
  const view = progressView();
  const stops = stopSignals();
  let run: PipelineRun;
  try {
    run = await drive({
      signal: stops.interrupt,
      cancel: stops.cancel,
      events: { progress: (p) => view.tasks(p), log: (job, i, line) => view.log(job, i, line) },
      onChange: (r) => view.update(r),
    });
  } finally {
    stops.dispose();
  }
  view.close(run);
  await end(run.document);
  return exitCodeOf(run.status, stops.stoppedBy);
}
