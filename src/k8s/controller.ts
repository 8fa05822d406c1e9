/**
 * `kt-deno controller`, the command of a run's controller Job: drives the engine with the
 * Kubernetes executor, resuming from the state document and the Jobs that already exist
 * when it is a restarted controller.
 *
 * @module
 */
import { PipelineRun } from "../engine/pipeline_run.ts";
import { type StateDocument, statePath } from "../engine/state.ts";
import { KubernetesExecutor } from "../executors/kubernetes.ts";
import { drivePipeline } from "../run/drive.ts";
import type { Pipeline } from "../spec/schema.ts";
import { DataFs } from "../storage/data_fs.ts";
import { NotFoundError } from "../storage/driver.ts";
import { openStorage } from "../storage/open.ts";
import { VersionMismatchError } from "../task/pod_task.ts";
import { VERSION } from "../version.ts";
import { inClusterConnection, KubeClient, type KubeConnection } from "./client.ts";
import type { Owner, RunSettings } from "./manifests.ts";
import { controllerJobName } from "./names.ts";

/** Where a controller gets its run and how it reaches the API server. */
export interface ControllerOptions {
  /** The folder of the run's ConfigMap (pipeline_spec.json, run.json). */
  configDir: string;
  /** Defaults to the in-cluster connection. */
  connection?: KubeConnection;
  /** Receives progress lines (default: stderr, which is the pod's log). */
  log?: (line: string) => void;
}

/** Loads the run state: the state document if an earlier controller left one, else new. */
async function loadRun(
  fs: DataFs,
  settings: RunSettings,
  pipeline: Pipeline,
): Promise<PipelineRun> {
  try {
    const doc = await fs.readJson<StateDocument>(statePath(settings.runId));
    return PipelineRun.resume(doc);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    return PipelineRun.start(settings.runId, pipeline, new Date(), settings.version);
  }
}

/**
 * Runs (or resumes) the pipeline of this controller's run; resolves to the exit code:
 * 0 when it completed, 1 when it failed, 2 when the controller cannot run it.
 */
export async function runController(options: ControllerOptions): Promise<number> {
  const log = options.log ??
    ((line: string) => console.error(`${new Date().toISOString()} ${line}`));
  const settings = JSON.parse(
    await Deno.readTextFile(`${options.configDir}/run.json`),
  ) as RunSettings;
  if (settings.version !== VERSION) {
    log(new VersionMismatchError(settings.version, VERSION, "controller image").message);
    return 2;
  }
  const pipeline = JSON.parse(
    await Deno.readTextFile(`${options.configDir}/pipeline_spec.json`),
  ) as Pipeline;
  const kube = new KubeClient(options.connection ?? inClusterConnection());
  try {
    const name = controllerJobName(settings.runId);
    const self = await kube.request<{ metadata: { uid: string } }>(
      "GET",
      `/apis/batch/v1/namespaces/${settings.namespace}/jobs/${name}`,
    );
    const owner: Owner = { apiVersion: "batch/v1", kind: "Job", name, uid: self.metadata.uid };
    const fs = new DataFs(openStorage(settings.dataDir));
    const run = await loadRun(fs, settings, pipeline);
    const resumed = run.jobs().some((job) => job.status !== "Pending");
    log(
      `kt-deno controller ${VERSION}: ${resumed ? "resuming" : "starting"} run ${settings.runId}`,
    );
    const seen = new Map<string, string>();
    const executor = new KubernetesExecutor({ kube, settings, fs, owner });
    await executor.start();
    await drivePipeline(run, executor, fs, {
      onChange: (r) => {
        for (const job of r.jobs()) {
          if (seen.get(job.name) === job.status) continue;
          seen.set(job.name, job.status);
          log(`${job.name} ${job.status}${job.error ? `: ${job.error}` : ""}`);
        }
      },
    });
    log(`run ${settings.runId} ${run.status}`);
    const { reportInChildProcess } = await import("../report/write.ts");
    const report = await reportInChildProcess(settings.dataDir, settings.runId, log);
    if (report) log(`report: ${report}`);
    return run.status === "Completed" ? 0 : 1;
  } finally {
    kube.close();
  }
}
