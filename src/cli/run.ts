/**
 * `kt-deno run SPEC`: validates a spec and runs it, here by default.
 *
 * @module
 */
import { Command } from "commander";
import { defaultConcurrency } from "../executors/local.ts";
import { newRunId } from "../records/run_id.ts";
import { resolveFunctionsDir } from "../task/functions.ts";
import type { Pipeline } from "../spec/schema.ts";
import { positiveInt, UsageError } from "./errors.ts";
import { progressView } from "./progress.ts";
import { clusterDataDir, withClusterFlags } from "./cluster_flags.ts";
import type { ClusterRunOptions } from "../k8s/cluster_run.ts";
import { checkDataDir, openStorage } from "../storage/open.ts";
import type { StateDocument } from "../engine/state.ts";
import type { PipelineRun } from "../engine/pipeline_run.ts";
import type { LocalRunOptions } from "../run/local_run.ts";
import { DataFs } from "../storage/data_fs.ts";
import { failureReport } from "./failures.ts";
import { exitCodeOf, stopSignals } from "./stop_signals.ts";
import { reportPath, statePath } from "../records/layout.ts";

/** Options of `kt-deno run`: those of a local run, and those of a run on Kubernetes. */
export interface RunFlags extends Partial<Pick<ClusterRunOptions, (typeof CLUSTER_FLAGS)[number]>> {
  /** The spec file (set by the command, not a flag), kept with the run. */
  specPath?: string;
  dataDir: string;
  functions: string;
  concurrency?: number;
  image?: string;
  waitRetry?: number;
  s3Endpoint?: string;
  s3PathStyle?: boolean;
  cache?: boolean;
}

const CLUSTER_FLAGS = [
  "controllerImage",
  "pullPolicy",
  "runAs",
  "s3EndpointInCluster",
  "namespace",
  "context",
  "wait",
  "hostPath",
  "ttl",
  "secretEnv",
] as const;

function usesFunctions(pipeline: Pipeline): boolean {
  for (const job of pipeline.jobs) {
    if (job.function !== undefined) return true;
    for (const task of job.tasks ?? []) if (task.function !== undefined) return true;
  }
  return false;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** Adds the S3 flags (`--s3-endpoint`, `--s3-path-style`) to a subcommand. */
export function withS3Flags(command: Command): Command {
  return command
    .option("--s3-endpoint <url>", "endpoint of an S3-compatible store (or AWS_ENDPOINT_URL_S3)")
    .option("--s3-path-style", "path-style S3 addressing (or KT_S3_FORCE_PATH_STYLE=true)");
}

/**
 * Puts the S3 flags into this process's environment, where the S3 driver, the local
 * worker processes and the Kubernetes launcher (for the pods) all find them.
 */
export function applyS3Flags(flags: { s3Endpoint?: string; s3PathStyle?: boolean }): void {
  if (flags.s3Endpoint) Deno.env.set("AWS_ENDPOINT_URL_S3", flags.s3Endpoint);
  if (flags.s3PathStyle) Deno.env.set("KT_S3_FORCE_PATH_STYLE", "true");
}

/**
 * Runs a spec file locally; resolves to the exit code (0 completed, 1 failed or
 * cancelled, 130 interrupted).
 */
export async function runCommand(specPath: string, flags: RunFlags): Promise<number> {
  const { loadSpec } = await import("../spec/load.ts");
  const pipeline = await loadSpec(specPath);
  applyS3Flags(flags);
  if (flags.image !== undefined) {
    const { podCountWarnings } = await import("../spec/pod_count.ts");
    for (const line of podCountWarnings(pipeline.jobs)) console.error(`kt-deno: warning: ${line}`);
    return await clusterCommand(pipeline, {
      ...flags,
      specPath: specPath === "-" ? undefined : specPath,
    });
  }
  const stray = [...CLUSTER_FLAGS, "waitRetry" as const].find((flag) => flags[flag] !== undefined);
  if (stray) {
    const name = stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    throw new UsageError(
      `--${
        name === "host-path" && flags.hostPath === false ? "no-host-path" : name
      } needs --image (it is for runs on Kubernetes)`,
    );
  }
  const functionsDir = resolveFunctionsDir(flags.functions);
  if (usesFunctions(pipeline) && !await isDirectory(functionsDir)) {
    throw new UsageError(
      `functions folder ${flags.functions} not found (the spec calls functions; set --functions DIR)`,
    );
  }
  await pythonReady(functionsDir);
  await checkDataDir(flags.dataDir, { write: true });
  const runId = newRunId();
  console.log(`run id: ${runId}`);
  const { runLocally } = await import("../run/local_run.ts");
  return await driveHere(flags.dataDir, (shown) =>
    runLocally(pipeline, {
      ...shown,
      runId,
      dataDir: flags.dataDir,
      functionsDir,
      concurrency: flags.concurrency,
      specPath: specPath === "-" ? undefined : specPath,
      cache: flags.cache,
    }));
}

/** What a run driven here is shown with and stopped by. */
export type ShownRun = Pick<LocalRunOptions, "signal" | "cancel" | "events" | "onChange">;

/**
 * Drives a run here (`drive`), showing its progress and stopping it on the stop signals,
 * then prints its end; resolves to the exit code.
 */
export async function driveHere(
  dataDir: string,
  drive: (shown: ShownRun) => Promise<PipelineRun>,
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
  await reportEnd(dataDir, run.document);
  return exitCodeOf(run.status, stops.stoppedBy);
}

/**
 * Before a local run whose functions folder holds Python: a missing or too old `python3`
 * is a usage error (exit 2), before any task runs or anything is written.
 */
export async function pythonReady(functionsDir: string): Promise<void> {
  const { checkPythonFor, PythonUnavailableError } = await import(
    "../task/python/python_check.ts"
  );
  try {
    await checkPythonFor(functionsDir);
  } catch (error) {
    if (error instanceof PythonUnavailableError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * The last lines of a run: why its failed jobs failed, where its state is, and its HTML
 * report (written now).
 */
export async function reportEnd(dataDir: string, doc: Readonly<StateDocument>): Promise<void> {
  const fs = new DataFs(openStorage(dataDir));
  const failures = await failureReport(fs, doc);
  if (failures) console.error(failures.replace(/^\n/, ""));
  const { reportAfterRun } = await import("../report/write.ts");
  const report = await reportAfterRun(
    fs,
    doc.pipeline_run_id,
    (line) => console.error(`kt-deno: ${line}`),
  );
  console.log(
    `run ${doc.pipeline_run_id} ${doc.status}; state: ${
      statePath(doc.pipeline_run_id)
    } in ${dataDir}`,
  );
  if (report) console.log(`report: ${report} in ${dataDir}`);
}

/**
 * Launches a run on the cluster of the kubeconfig (a controller Job) and, with --wait,
 * follows it; resolves to the exit code. `resume` is given to resume a run in place.
 */
export async function clusterCommand(
  pipeline: Pipeline,
  flags: RunFlags,
  resume?: ClusterRunOptions["resume"],
): Promise<number> {
  const { dataDir, inCluster } = clusterDataDir(flags);
  const { runOnCluster } = await import("../k8s/cluster_run.ts");
  const { PipelineRun } = await import("../engine/pipeline_run.ts");
  const view = progressView();
  const end = await runOnCluster({
    ...flags,
    pipeline,
    image: flags.image!,
    dataDir,
    s3EndpointInCluster: inCluster,
    waitRetrySeconds: flags.waitRetry,
    resume,
    newRunId,
  }, {
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

/** The `run` subcommand. */
export function runSubcommand(exit: (code: number) => void): Command {
  const command = withS3Flags(new Command("run"))
    .description("validate a pipeline spec (YAML or JSON) and run it")
    .argument("<spec>", "pipeline spec file, or - for standard input")
    .option(
      "--data-dir <dir>",
      "data dir: a local folder, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix",
      "./kt-data",
    )
    .option("--functions <dir>", "folder of task function modules", "./kt_functions")
    .option(
      "--concurrency <n>",
      `most tasks running at once (default: CPU count, ${defaultConcurrency()})`,
      positiveInt("--concurrency"),
    )
    .option(
      "--cache",
      "skip function tasks whose code, args and the files they read are unchanged since a run that stored them (see kt-deno why)",
    )
    .option(
      "--image <image>",
      "run on Kubernetes with this worker image (kt-deno on PATH, functions in /app/kt_functions)",
    );
  return withClusterFlags(command)
    .option(
      "--wait",
      "follow the run on the cluster until it ends; exit 0 or 1 like a local run, 3 if it gave up",
    )
    .option(
      "--wait-retry <seconds>",
      "with --wait, how long the API server or data dir may stay unreachable before exit 3 (default 300)",
      positiveInt("--wait-retry"),
    )
    .action(async (spec: string, flags: RunFlags) => exit(await runCommand(spec, flags)));
}
