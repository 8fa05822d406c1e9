/**
 * The flags of a run on Kubernetes that `run --image`, `resume --image` and `schedule create`
 * share, and their parsers: `--run-as`, the S3 endpoint pods use, the data dir.
 *
 * @module
 */
import type { Command } from "commander";
import { PULL_POLICIES, type RunAs } from "../k8s/manifests.ts";
import { isLocalDataDir } from "../storage/open.ts";
import { positiveInt, UsageError } from "./errors.ts";

/**
 * Parses `--run-as UID[:GID]` (the group defaults to the user id); root is refused, since
 * every pod runs as non-root.
 *
 * @example
 * ```ts
 * import { parseRunAs } from "./cluster_flags.ts";
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
      (value: string) => {
        if (!(PULL_POLICIES as string[]).includes(value)) {
          throw new UsageError(
            `--pull-policy must be one of ${PULL_POLICIES.join(", ")}, got ${
              JSON.stringify(value)
            }`,
          );
        }
        return value;
      },
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
