/**
 * Launching a run on the cluster from this process and, with `wait`, following it to its
 * end on the terminal. `run --image` and `resume --image` both go through here.
 *
 * @module
 */
import { PipelineRun } from "../engine/pipeline_run.ts";
import { failureReport } from "../records/failures.ts";
import { reportPath } from "../records/layout.ts";
import { newRunId } from "../records/run_id.ts";
import { progressView } from "../run/progress.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { type ClusterRunOptions, runOnCluster } from "./cluster_run.ts";

/** What a run on the cluster is launched with (the run id is drawn here). */
export type ClusterHereOptions = Omit<ClusterRunOptions, "newRunId">;

/**
 * Launches a run on the cluster of the kubeconfig (a controller Job) and, with `wait`,
 * follows it; resolves to the exit code (0 completed or launched, 1 failed, 3 gave up).
 */
export async function runOnClusterHere(options: ClusterHereOptions): Promise<number> {
  const { dataDir } = options;
  const view = progressView();
  const end = await runOnCluster({ ...options, newRunId }, {
    warn: (line) => console.error(`kt-deno: warning: ${line}`),
    launched: ({ runId, namespace, controller }) => {
      console.log(`run id: ${runId}`);
      console.log(`controller: job/${controller} in namespace ${namespace}`);
      console.log(`follow: kubectl logs -f job/${controller} -n ${namespace}`);
      console.log(`status: kt-deno status ${runId} --data-dir ${dataDir}`);
      console.log(`report: ${reportPath(runId)} in ${dataDir} (when the run ends)`);
    },
    update: (run) => view.update(run),
    events: { progress: (p) => view.tasks(p) },
    outage: (line) => {
      if (line) console.error(`kt-deno: ${line}`);
      else console.error("kt-deno: reachable again, following the run");
    },
  });
  const { runId, namespace, controller } = end;
  if (end.outcome === "Launched") return 0;
  if (end.outcome === "CannotStart") {
    console.error(`kt-deno: the controller cannot start: ${end.problem}`);
    console.error(
      `kt-deno: its Job is kept for inspection; delete it with kubectl delete job/${controller} -n ${namespace}`,
    );
    console.log(`run ${runId} Failed`);
    return 1;
  }
  if (end.state) {
    view.close(PipelineRun.resume(end.state));
    const report = await failureReport(new DataFs(openStorage(dataDir)), end.state);
    if (report) console.error(report.replace(/^\n/, ""));
  }
  if (end.outcome === "GaveUp") {
    console.error(
      `kt-deno: gave up following run ${runId} (${end.reason}); it may still be going: kt-deno status ${runId} --data-dir ${dataDir}`,
    );
    return 3;
  }
  console.log(`run ${runId} ${end.state?.status ?? end.outcome}`);
  if (end.reason) {
    console.error(`kt-deno: ${end.reason}; see kubectl logs job/${controller} -n ${namespace}`);
  }
  return end.outcome === "Completed" ? 0 : 1;
}
