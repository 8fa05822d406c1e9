/**
 * `kt-deno run SPEC`: validates a spec and runs it, here by default.
 *
 * @module
 */
import { Command } from "commander";
import { defaultConcurrency } from "../executors/local.ts";
import { newRunId } from "../run/run_id.ts";
import { resolveFunctionsDir } from "../task/functions.ts";
import type { Pipeline } from "../spec/schema.ts";
import { positiveInt, UsageError } from "./errors.ts";
import { progressView } from "./progress.ts";
import { defaultControllerImage } from "../k8s/manifests.ts";
import { controllerJobName } from "../k8s/names.ts";
import { checkDataDir, isLocalDataDir } from "../storage/open.ts";
import { s3EnvForPods } from "../storage/s3.ts";

/** Options of `kt-deno run`. */
export interface RunFlags {
  dataDir: string;
  functions: string;
  concurrency?: number;
  image?: string;
  controllerImage?: string;
  namespace?: string;
  context?: string;
  wait?: boolean;
  hostPath?: string | false;
  ttl?: number;
  secretEnv?: string[];
  waitRetry?: number;
  s3Endpoint?: string;
  s3PathStyle?: boolean;
}

const CLUSTER_FLAGS = [
  "controllerImage",
  "namespace",
  "context",
  "wait",
  "hostPath",
  "ttl",
  "secretEnv",
  "waitRetry",
] as const;

function usesFunctions(pipeline: Pipeline): boolean {
  return pipeline.jobs.some((job) =>
    job.function !== undefined || (job.tasks ?? []).some((task) => task.function !== undefined)
  );
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

/** Runs a spec file locally; resolves to the exit code (0 completed, 1 failed, 130 interrupted). */
export async function runCommand(specPath: string, flags: RunFlags): Promise<number> {
  const { loadSpec } = await import("../spec/load.ts");
  const pipeline = await loadSpec(specPath);
  applyS3Flags(flags);
  if (flags.image !== undefined) return await runOnCluster(pipeline, flags);
  const stray = CLUSTER_FLAGS.find((flag) => flags[flag] !== undefined);
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
  await checkDataDir(flags.dataDir);
  const runId = newRunId();
  console.log(`run id: ${runId}`);
  const view = progressView();
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) Deno.exit(130);
    abort.abort("SIGINT");
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const { runLocally } = await import("../run/local_run.ts");
  let run: Awaited<ReturnType<typeof runLocally>>;
  try {
    run = await runLocally(pipeline, {
      runId,
      dataDir: flags.dataDir,
      functionsDir,
      concurrency: flags.concurrency,
      signal: abort.signal,
      events: { progress: (p) => view.tasks(p), log: (job, i, line) => view.log(job, i, line) },
      onChange: (r) => view.update(r),
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
  view.close(run);
  console.log(
    `run ${runId} ${run.status}; state: kt-metadata/${runId}/pipeline_run_state.json in ${flags.dataDir}`,
  );
  return run.status === "Completed" ? 0 : run.status === "Interrupted" ? 130 : 1;
}

/**
 * Launches a run on the cluster of the kubeconfig (a controller Job) and, with --wait,
 * follows it; resolves to the exit code.
 */
async function runOnCluster(pipeline: Pipeline, flags: RunFlags): Promise<number> {
  const local = isLocalDataDir(flags.dataDir);
  if (local && !flags.dataDir.replace(/^file:\/\//, "").startsWith("/")) {
    throw new UsageError(
      `--data-dir ${flags.dataDir}: a local data dir for Kubernetes must be an absolute path (it is mounted from the nodes)`,
    );
  }
  const dataDir = flags.dataDir.replace(/^file:\/\//, "");
  const hostDataPath = !local || flags.hostPath === false ? null : flags.hostPath ?? dataDir;
  if (!local) await checkDataDir(dataDir);
  const { KubeClient, kubeconfigConnection } = await import("../k8s/client.ts");
  const { launchRun, runSettings } = await import("../k8s/launcher.ts");
  const { followRun } = await import("../k8s/follow.ts");
  const { PipelineRun } = await import("../engine/pipeline_run.ts");
  const connection = await kubeconfigConnection(flags.context).catch((error) => {
    throw new UsageError(`cannot use the kubeconfig: ${(error as Error).message}`);
  });
  const kube = new KubeClient(connection);
  try {
    const settings = runSettings({
      runId: newRunId(),
      namespace: flags.namespace ?? kube.namespace,
      image: flags.image!,
      controllerImage: flags.controllerImage,
      dataDir,
      hostDataPath,
      ttlSecondsAfterFinished: flags.ttl,
      env: local ? {} : s3EnvForPods(),
      envFromSecrets: flags.secretEnv,
    });
    await launchRun(kube, settings, pipeline);
    const controller = controllerJobName(settings.runId);
    console.log(`run id: ${settings.runId}`);
    console.log(`controller: job/${controller} in namespace ${settings.namespace}`);
    console.log(`follow: kubectl logs -f job/${controller} -n ${settings.namespace}`);
    console.log(`status: kt-deno status ${settings.runId} --data-dir ${dataDir}`);
    if (!flags.wait) return 0;
    const view = progressView();
    const result = await followRun(kube, settings, {
      update: (run) => view.update(run),
      events: { progress: (p) => view.tasks(p) },
    }, {
      retryForMs: (flags.waitRetry ?? 300) * 1000,
      onOutage: (line) => {
        if (line) console.error(`kt-deno: ${line}`);
        else console.error("kt-deno: reachable again, following the run");
      },
    });
    if (result.state) view.close(PipelineRun.resume(result.state));
    if (result.outcome === "GaveUp") {
      console.error(
        `kt-deno: gave up following run ${settings.runId} (${result.reason}); it may still be going: kt-deno status ${settings.runId} --data-dir ${dataDir}`,
      );
      return 3;
    }
    console.log(`run ${settings.runId} ${result.state?.status ?? result.outcome}`);
    if (result.reason) {
      console.error(
        `kt-deno: ${result.reason}; see kubectl logs job/${controller} -n ${settings.namespace}`,
      );
    }
    return result.outcome === "Completed" ? 0 : 1;
  } finally {
    kube.close();
  }
}

/** The `run` subcommand. */
export function runSubcommand(exit: (code: number) => void): Command {
  return withS3Flags(new Command("run"))
    .description("validate a pipeline spec (YAML or JSON) and run it")
    .argument("<spec>", "pipeline spec file")
    .option("--data-dir <dir>", "data dir: a local folder or s3://bucket/prefix", "./kt-data")
    .option("--functions <dir>", "folder of task function modules", "./kt_functions")
    .option(
      "--concurrency <n>",
      `most tasks running at once (default: CPU count, ${defaultConcurrency()})`,
      positiveInt("--concurrency"),
    )
    .option(
      "--image <image>",
      "run on Kubernetes with this worker image (kt-deno on PATH, functions in /app/kt_functions)",
    )
    .option(
      "--controller-image <image>",
      `image of the controller Job (default: ${defaultControllerImage()})`,
    )
    .option("-n, --namespace <ns>", "namespace (default: the kubeconfig context's)")
    .option("--context <name>", "kubeconfig context (default: the current one)")
    .option(
      "--wait",
      "follow the run on the cluster until it ends; exit 0 or 1 like a local run, 3 if it gave up",
    )
    .option(
      "--wait-retry <seconds>",
      "with --wait, how long the API server or data dir may stay unreachable before exit 3 (default 300)",
      positiveInt("--wait-retry"),
    )
    .option(
      "--host-path <dir>",
      "host folder mounted at a local data dir in every pod (default: the data dir)",
    )
    .option("--no-host-path", "mount no host folder (the data dir is reachable otherwise)")
    .option("--ttl <seconds>", "keep finished Jobs this long (default 3600)", positiveInt("--ttl"))
    .option(
      "--secret-env <secret>",
      "a Secret whose keys become environment variables of the controller and every pod (repeatable)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .action(async (spec: string, flags: RunFlags) => exit(await runCommand(spec, flags)));
}
