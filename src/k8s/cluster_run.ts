/**
 * A run on a cluster, as `run --image` and `resume --image` start it: the kubeconfig, the
 * pods' user and S3 settings, the launch (a controller Job), the launch record, and with
 * `wait`, following the run to its end while watching that its controller can start.
 *
 * @module
 */
import type { PipelineRun } from "../engine/pipeline_run.ts";
import type { StateDocument } from "../engine/state.ts";
import type { ExecutorEvents } from "../executors/executor.ts";
import { absolute, writeLaunch } from "../records/launch.ts";
import { statePath } from "../records/layout.ts";
import type { Pipeline } from "../spec/schema.ts";
import { DataFs } from "../storage/data_fs.ts";
import { checkDataDir, isLocalDataDir, openStorage, storeEnvForPods } from "../storage/open.ts";
import { deleteRun } from "./cancel.ts";
import type { KubeClient } from "./client.ts";
import { connect } from "./connect.ts";
import { podS3Env, podUser } from "./data_access.ts";
import { type FollowResult, followRun } from "./follow.ts";
import { launchRun, runSettings } from "./launcher.ts";
import type { PullPolicy, RunAs, RunSettings } from "./manifests.ts";
import { controllerJobName, LABELS } from "./names.ts";
import { firstStartProblem } from "./pod_watch.ts";

/** What a run on a cluster is started with (the flags of `run --image`). */
export interface ClusterRunOptions {
  pipeline: Pipeline;
  /** The spec file, kept in the launch record. */
  specPath?: string;
  /** A local folder (an absolute path) or an object store URL (s3://, gs://, az://). */
  dataDir: string;
  image: string;
  controllerImage?: string;
  pullPolicy?: PullPolicy;
  runAs?: RunAs;
  /** The S3 endpoint of the controller and pods, when theirs differs from this machine's. */
  s3EndpointInCluster?: string;
  namespace?: string;
  context?: string;
  /** The host folder mounted at a local data dir (default: the data dir; false: none). */
  hostPath?: string | false;
  ttl?: number;
  secretEnv?: string[];
  /** Follow the run to its end. */
  wait?: boolean;
  /** With `wait`, how long the API server or data dir may stay unreachable. Default 300 s. */
  waitRetrySeconds?: number;
  /**
   * Resumes a run instead of starting one: its old controller is deleted, then its
   * reopened state is written, then it is launched again under its own id.
   */
  resume?: { runId: string; reopened: StateDocument };
  /** Makes a new run id. */
  newRunId: () => string;
  /** `--cache`: the controller answers cached tasks before it makes their Jobs. */
  cache?: boolean;
}

/** Where a launched run is. */
export interface LaunchedRun {
  runId: string;
  namespace: string;
  /** The name of its controller Job. */
  controller: string;
}

/** What a run on a cluster tells while it starts and goes on. */
export interface ClusterRunHooks {
  /** A warning about the settings (the run goes on). */
  warn(line: string): void;
  /** The run is launched. */
  launched(run: LaunchedRun): void;
  /** With `wait`: the run's state changed. */
  update(run: PipelineRun): void;
  /** With `wait`: task counts of a job. */
  events: ExecutorEvents;
  /** With `wait`: an outage started (a line to print) or ended (null). */
  outage(line: string | null): void;
}

/**
 * How a run on a cluster ended for this process: launched (without `wait`), its
 * controller unable to start, or followed to its end (or given up on).
 */
export type ClusterRunEnd =
  & LaunchedRun
  & (
    | { outcome: "Launched" }
    | { outcome: "CannotStart"; problem: string }
    | FollowResult
  );

/**
 * Launches a run on the cluster of the kubeconfig and, with `wait`, follows it.
 *
 * @example
 * ```ts ignore
 * const end = await runOnCluster({ pipeline, dataDir: "/data", image: "kt:1", wait: true,
 *   newRunId }, hooks);
 * end.outcome; // "Completed"
 * ```
 */
export async function runOnCluster(
  options: ClusterRunOptions,
  hooks: ClusterRunHooks,
): Promise<ClusterRunEnd> {
  if (!isLocalDataDir(options.dataDir)) await checkDataDir(options.dataDir);
  const kube = await connect(options.context);
  try {
    const runId = options.resume?.runId ?? options.newRunId();
    const settings = await clusterSettings(kube, options, runId, hooks.warn);
    const dataDir = settings.dataDir;
    const fs = new DataFs(openStorage(dataDir));
    if (options.resume) {
      await deleteRun(kube, settings.namespace, settings.runId, 120);
      await fs.writeJson(statePath(settings.runId), options.resume.reopened);
    }
    await launchRun(kube, settings, options.pipeline);
    if (!options.resume) {
      await writeLaunch(fs, settings.runId, {
        ...(options.specPath ? { spec_path: absolute(options.specPath) } : {}),
        namespace: settings.namespace,
        ...(options.context ? { context: options.context } : {}),
        ...(options.cache ? { cache: true } : {}),
      }).catch((error) =>
        // The run is launched; without its record, resume and cancel need --namespace.
        hooks.warn(`the run's launch record was not written: ${(error as Error).message}`)
      );
    }
    const launched = {
      runId: settings.runId,
      namespace: settings.namespace,
      controller: controllerJobName(settings.runId),
    };
    hooks.launched(launched);
    if (!options.wait) return { ...launched, outcome: "Launched" };
    return { ...launched, ...await followToEnd(kube, settings, options, hooks) };
  } finally {
    kube.close();
  }
}

/** What a run's settings are made from: the flags of `run --image` that say where and how. */
export type ClusterSettingsOptions = Pick<
  ClusterRunOptions,
  | "dataDir"
  | "image"
  | "controllerImage"
  | "pullPolicy"
  | "runAs"
  | "s3EndpointInCluster"
  | "namespace"
  | "hostPath"
  | "ttl"
  | "secretEnv"
  | "cache"
>;

/**
 * The settings of a run (or of a schedule's runs, with an empty run id) from the launcher's
 * flags: the pods' user (the owner of a local data dir), their S3 settings and the mount.
 */
export async function clusterSettings(
  kube: KubeClient,
  options: ClusterSettingsOptions,
  runId: string,
  warn: (line: string) => void,
): Promise<RunSettings> {
  const local = isLocalDataDir(options.dataDir);
  const dataDir = options.dataDir.replace(/^file:\/\//, "");
  const s3 = podS3Env(local ? {} : storeEnvForPods(), options.s3EndpointInCluster);
  if (s3.warning) warn(s3.warning);
  const runAs = local ? await podUser(dataDir, options.runAs) : options.runAs;
  return runSettings({
    runId,
    namespace: options.namespace ?? kube.namespace,
    image: options.image,
    controllerImage: options.controllerImage,
    pullPolicy: options.pullPolicy,
    runAs: runAs ?? undefined,
    dataDir,
    hostDataPath: !local || options.hostPath === false ? null : options.hostPath ?? dataDir,
    ttlSecondsAfterFinished: options.ttl,
    env: s3.env,
    envFromSecrets: options.secretEnv,
    cache: options.cache,
  });
}

/**
 * Follows a launched run to its end, racing the first problem of its controller's pod:
 * one that cannot start never finishes its Job.
 */
async function followToEnd(
  kube: KubeClient,
  settings: RunSettings,
  options: ClusterRunOptions,
  hooks: ClusterRunHooks,
): Promise<{ outcome: "CannotStart"; problem: string } | FollowResult> {
  const stop = new AbortController();
  const following = followRun(kube, settings, hooks, {
    signal: stop.signal,
    retryForMs: (options.waitRetrySeconds ?? 300) * 1000,
    onOutage: hooks.outage,
  });
  following.catch(() => {});
  type CannotStart = { outcome: "CannotStart"; problem: string };
  const stuck: Promise<CannotStart | FollowResult> = firstStartProblem(kube, {
    namespace: settings.namespace,
    selector: `${LABELS.runId}=${settings.runId},${LABELS.component}=controller`,
    signal: stop.signal,
  }).then<CannotStart | FollowResult>((problem) =>
    problem === undefined ? following : { outcome: "CannotStart", problem }
  );
  return await Promise.race([following, stuck]).finally(() => stop.abort());
}
