/**
 * The launcher: starts a run on a cluster (the spec in the data dir, a controller Job).
 * Following it to the end is follow.ts's.
 *
 * @module
 */
import { METADATA_ROOT, metadataDir } from "../records/layout.ts";
import type { Pipeline } from "../spec/schema.ts";
import { DataFs } from "../storage/data_fs.ts";
import { isLocalDataDir, openStorage } from "../storage/open.ts";
import { VERSION } from "../version.ts";
import { ApiError, type KubeClient } from "./client.ts";
import {
  controllerJob,
  type PullPolicy,
  type RunAs,
  type RunSettings,
  SERVICE_ACCOUNT,
} from "./manifests.ts";
import { writeKeptSpec } from "../records/kept_spec.ts";

/**
 * Starts a run: writes its (validated) spec to the run's metadata in the data dir, then creates the controller Job, whose settings travel in its
 * environment.
 */
export async function launchRun(kube: KubeClient, settings: RunSettings, pipeline: Pipeline) {
  const ns = settings.namespace;
  await checkServiceAccount(kube, ns);
  const fs = new DataFs(openStorage(settings.dataDir));
  await writeKeptSpec(fs, settings.runId, pipeline);
  if (isLocalDataDir(settings.dataDir)) await shareWithPods(settings.dataDir, settings.runId);
  await kube.request("POST", `/apis/batch/v1/namespaces/${ns}/jobs`, {
    body: controllerJob(settings),
  });
}

/**
 * Fails, saying how to make it, when the namespace has no `kt-pod` service account (a
 * person who may not read service accounts is let through).
 */
export async function checkServiceAccount(kube: KubeClient, ns: string): Promise<void> {
  await kube.request("GET", `/api/v1/namespaces/${ns}/serviceaccounts/${SERVICE_ACCOUNT}`).catch(
    (error) => {
      if (error instanceof ApiError && error.status === 404) {
        throw new Error(
          `service account ${SERVICE_ACCOUNT} not found in namespace ${ns}: run \`kt-deno rbac --namespace ${ns} | kubectl apply -f -\` first`,
        );
      }
      if (!(error instanceof ApiError && error.status === 403)) throw error;
    },
  );
}

/**
 * Gives the folders the launcher made in a local data dir the data dir's own owner and
 * mode, so that pods, which may run as another user, can write the run's files there.
 * Changing the owner needs root; without it, the mode alone has to do.
 */
async function shareWithPods(dataDir: string, runId: string): Promise<void> {
  const root = dataDir.replace(/^file:\/\//, "");
  const { uid, gid, mode } = await Deno.stat(root);
  for (const dir of [METADATA_ROOT, metadataDir(runId)]) {
    const path = `${root}/${dir}`;
    if (uid !== null && gid !== null) await Deno.chown(path, uid, gid).catch(() => {});
    if (mode !== null) await Deno.chmod(path, mode & 0o7777).catch(() => {});
  }
}

/** Default settings for a launch, filled from the launcher's flags. */
export function runSettings(options: {
  runId: string;
  namespace: string;
  image: string;
  controllerImage?: string;
  pullPolicy?: PullPolicy;
  runAs?: RunAs;
  dataDir: string;
  hostDataPath: string | null;
  ttlSecondsAfterFinished?: number;
  env?: Record<string, string>;
  envFromSecrets?: string[];
  cache?: boolean;
}): RunSettings {
  return {
    runId: options.runId,
    namespace: options.namespace,
    image: options.image,
    controllerImage: options.controllerImage ?? options.image,
    pullPolicy: options.pullPolicy ?? null,
    runAs: options.runAs ?? null,
    dataDir: options.dataDir,
    version: VERSION,
    hostDataPath: options.hostDataPath,
    ttlSecondsAfterFinished: options.ttlSecondsAfterFinished ?? 3600,
    env: options.env ?? {},
    envFromSecrets: options.envFromSecrets ?? [],
    ...(options.cache ? { cache: true } : {}),
  };
}
