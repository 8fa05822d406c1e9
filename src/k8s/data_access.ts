/**
 * How a run's pods reach its data dir: the user they run as, so that a local data dir
 * mounted from the node is theirs to write, and the S3 endpoint they use, which can differ
 * from the launcher's.
 *
 * @module
 */
import { SetupError } from "./errors.ts";
import type { RunAs } from "./manifests.ts";

function rootOwned(dataDir: string, why: string): SetupError {
  return new SetupError(
    `the data dir ${dataDir} ${why}, and pods run as non-root users, as the owner of a local data dir: ` +
      `give it to the user pods should run as (sudo chown -R 10001:10001 ${dataDir} for the worker image's user) ` +
      `or pass --run-as UID[:GID] of a user that can write it`,
  );
}

/**
 * The user a run's pods run as with a local data dir: `runAs` when given, else the owner
 * of the data dir on this machine, which must not be root. A missing data dir is created
 * here first, owned by the launcher's user (or by `runAs`, when the launcher may give it
 * away). Returns null where owners are unknown (Windows): pods run as the image's user.
 */
export async function podUser(dataDir: string, runAs?: RunAs): Promise<RunAs | null> {
  const info = await Deno.stat(dataDir).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  });
  if (info && !info.isDirectory) throw new SetupError(`the data dir ${dataDir} is not a folder`);
  if (!info) {
    if (!runAs && Deno.uid() === 0) {
      throw rootOwned(dataDir, "does not exist and would be made by root, this launcher's user");
    }
    await Deno.mkdir(dataDir, { recursive: true });
    if (runAs) await Deno.chown(dataDir, runAs.uid, runAs.gid).catch(() => {});
  }
  if (runAs) return runAs;
  const { uid, gid } = info ?? { uid: Deno.uid(), gid: Deno.gid() };
  if (uid === null) return null;
  if (uid === 0) throw rootOwned(dataDir, "is owned by root");
  return { uid, gid: gid ?? uid };
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" ||
      /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

/**
 * The S3 settings of the pods: the launcher's (`env`), with `inCluster` as the endpoint
 * when given. Returns a warning when the pods' endpoint is a loopback address, which is
 * the pod itself there.
 *
 * @example
 * ```ts
 * import { podS3Env } from "./data_access.ts";
 * const laptop = { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9000" };
 * podS3Env(laptop, "http://minio.storage:9000").env.AWS_ENDPOINT_URL_S3; // "http://minio.storage:9000"
 * podS3Env(laptop).warning; // "the S3 endpoint http://127.0.0.1:9000 is ..."
 * ```
 */
export function podS3Env(
  env: Record<string, string>,
  inCluster?: string,
): { env: Record<string, string>; warning?: string } {
  if (inCluster) return { env: { ...env, AWS_ENDPOINT_URL_S3: inCluster } };
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  if (!endpoint || !isLoopback(endpoint)) return { env };
  return {
    env,
    warning:
      `the S3 endpoint ${endpoint} is a loopback address, which pods cannot reach; give theirs with --s3-endpoint-in-cluster URL (or KT_S3_ENDPOINT_IN_CLUSTER)`,
  };
}
