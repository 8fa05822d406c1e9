/**
 * The flag sets that several commands share, and their parsers: the S3 flags (every
 * command that reads a data dir), the flags of `run` (which `resume` takes too), the flags
 * of a run on Kubernetes (`run --image`, `resume --image`, `schedule create`), and the
 * check of a functions folder that holds Python.
 *
 * @module
 */
import { Command } from "commander";
import { defaultConcurrency } from "../executors/local.ts";
import type { ClusterRunOptions } from "../k8s/cluster_run.ts";
import type { ClusterHereOptions } from "../k8s/cluster_here.ts";
import type { Pipeline } from "../spec/schema.ts";
import { PULL_POLICIES, type RunAs } from "../k8s/manifests.ts";
import { isLocalDataDir } from "../storage/open.ts";
import { positiveInt, UsageError } from "./errors.ts";

/** Adds the S3 flags (`--s3-endpoint`, `--s3-path-style`) to a subcommand. */
export function withS3Flags(command: Command): Command {
  return command
    .option("--s3-endpoint <url>", "endpoint of an S3-compatible store (or AWS_ENDPOINT_URL_S3)")
    .option("--s3-path-style", "path-style S3 addressing (or KT_S3_FORCE_PATH_STYLE=true)");
}

/**
 * A subcommand about one run: its description, the run id argument, `--data-dir` and the
 * S3 flags.
 */
export function commandOnARun(name: string, description: string): Command {
  return withS3Flags(new Command(name))
    .description(description)
    .argument("<run-id>", "the run id that kt-deno run printed")
    .option("--data-dir <dir>", "data dir of the run", "./kt-data");
}

/** A parser of a flag whose value is one of `values`; anything else is a usage error. */
export function oneOf<T extends string>(flag: string, values: readonly T[]): (text: string) => T {
  return (text) => {
    if (!(values as readonly string[]).includes(text)) {
      throw new UsageError(
        `${flag} must be one of ${values.join(", ")}, got ${JSON.stringify(text)}`,
      );
    }
    return text as T;
  };
}

/**
 * Puts the S3 flags into this process's environment, where the S3 driver, the local
 * worker processes and the Kubernetes launcher (for the pods) all find them.
 */
export function applyS3Flags(flags: { s3Endpoint?: string; s3PathStyle?: boolean }): void {
  if (flags.s3Endpoint) Deno.env.set("AWS_ENDPOINT_URL_S3", flags.s3Endpoint);
  if (flags.s3PathStyle) Deno.env.set("KT_S3_FORCE_PATH_STYLE", "true");
}

/** The flags of a run on Kubernetes, as option names. */
export const CLUSTER_FLAGS = [
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

/** Options of `kt-deno run` (and `resume`): those of a local run, and those of a run on Kubernetes. */
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

/**
 * Adds the flags of `run` to a subcommand: the data dir, the functions folder, the
 * concurrency, the S3 flags, and with `--image` those of a run on Kubernetes.
 */
export function withRunFlags(command: Command): Command {
  withS3Flags(command)
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
    );
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
 * Parses `--run-as UID[:GID]` (the group defaults to the user id); root is refused, since
 * every pod runs as non-root.
 *
 * @example
 * ```ts
 * import { parseRunAs } from "./flags.ts";
 * parseRunAs("1000"); // { uid: 1000, gid: 1000 }
 * parseRunAs("1000:100"); // { uid: 1000, gid: 100 }
 * ```
 */
export function parseRunAs(text: string): RunAs {
  const match = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(text);
  const uid = Number(match?.[1]);
  if (!match || uid === 0 || uid > 2 ** 31 - 1 || Number(match[2] ?? 0) > 2 ** 31 - 1) {
    throw new UsageError(
      `--run-as must be UID[:GID] of a non-root user (numbers, UID not 0), got ${
        JSON.stringify(text)
      }`,
    );
  }
  return { uid, gid: match[2] === undefined ? uid : Number(match[2]) };
}

/** Checks `--s3-endpoint-in-cluster URL`: an http or https URL. */
export function parseEndpoint(flag: string): (text: string) => string {
  return (text) => {
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch { /* reported below */ }
    if (!url || !/^https?:$/.test(url.protocol)) {
      throw new UsageError(
        `${flag} must be an http:// or https:// URL, got ${JSON.stringify(text)}`,
      );
    }
    return text;
  };
}

/**
 * Adds the flags that say where and how a run's pods run (`--controller-image`,
 * `--pull-policy`, `--run-as`, `--s3-endpoint-in-cluster`, `--namespace`, `--context`,
 * `--host-path`, `--no-host-path`, `--ttl`, `--secret-env`) to a subcommand.
 */
export function withClusterFlags(command: Command): Command {
  return command
    .option("--controller-image <image>", "image of the controller Job (default: the --image)")
    .option(
      "--pull-policy <policy>",
      "image pull policy of every pod: Always, IfNotPresent or Never (default: Never for an image " +
        "name without a registry host, IfNotPresent otherwise)",
      oneOf("--pull-policy", PULL_POLICIES),
    )
    .option(
      "--run-as <uid[:gid]>",
      "user (and group) every pod runs as (default: the owner of a local data dir)",
      parseRunAs,
    )
    .option(
      "--s3-endpoint-in-cluster <url>",
      "S3 endpoint of the controller and pods, when --s3-endpoint is not reachable from them " +
        "(or KT_S3_ENDPOINT_IN_CLUSTER)",
      parseEndpoint("--s3-endpoint-in-cluster"),
    )
    .option("-n, --namespace <ns>", "namespace (default: the kubeconfig context's)")
    .option("--context <name>", "kubeconfig context (default: the current one)")
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
    );
}

/**
 * The data dir of a run on Kubernetes and the S3 endpoint of its pods, checked: a local
 * data dir must be an absolute path (it is mounted from the nodes).
 */
export function clusterDataDir(
  flags: { dataDir: string; s3EndpointInCluster?: string },
): { dataDir: string; inCluster?: string } {
  const local = isLocalDataDir(flags.dataDir);
  if (local && !flags.dataDir.replace(/^file:\/\//, "").startsWith("/")) {
    throw new UsageError(
      `--data-dir ${flags.dataDir}: a local data dir for Kubernetes must be an absolute path (it is mounted from the nodes)`,
    );
  }
  const dataDir = flags.dataDir.replace(/^file:\/\//, "");
  const inCluster = flags.s3EndpointInCluster ?? Deno.env.get("KT_S3_ENDPOINT_IN_CLUSTER");
  if (local && inCluster) {
    throw new UsageError("--s3-endpoint-in-cluster is for s3:// data dirs");
  }
  if (inCluster) parseEndpoint("KT_S3_ENDPOINT_IN_CLUSTER")(inCluster);
  return { dataDir, ...(inCluster ? { inCluster } : {}) };
}

/**
 * The options of a run on Kubernetes from the flags of `run` (or `resume`, which passes
 * the run it resumes), the data dir checked by {@linkcode clusterDataDir}.
 */
export function clusterRunOptions(
  pipeline: Pipeline,
  flags: RunFlags,
  resume?: ClusterRunOptions["resume"],
): ClusterHereOptions {
  const { dataDir, inCluster } = clusterDataDir(flags);
  return {
    ...flags,
    pipeline,
    image: flags.image!,
    dataDir,
    s3EndpointInCluster: inCluster,
    waitRetrySeconds: flags.waitRetry,
    resume,
  };
}
