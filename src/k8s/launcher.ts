/**
 * The launcher: starts a run on a cluster (the spec in a ConfigMap, a controller Job) and,
 * when asked, follows it to the end.
 *
 * @module
 */
import { PipelineRun } from "../engine/pipeline_run.ts";
import { JobStatus, type StateDocument, statePath } from "../engine/state.ts";
import { finishedCondition, type KubeJob, parseIndexes } from "../executors/kubernetes.ts";
import type { ExecutorEvents } from "../executors/executor.ts";
import type { Pipeline } from "../spec/schema.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { VERSION } from "../version.ts";
import { ApiError, type KubeClient } from "./client.ts";
import {
  controllerJob,
  type PullPolicy,
  type RunAs,
  type RunSettings,
  SERVICE_ACCOUNT,
  specConfigMap,
} from "./manifests.ts";
import { controllerJobName, LABELS, specConfigMapName } from "./names.ts";

/** Creates a run's ConfigMap and controller Job; the ConfigMap is then owned by the Job. */
export async function launchRun(kube: KubeClient, settings: RunSettings, pipeline: Pipeline) {
  const ns = settings.namespace;
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
  await kube.request("POST", `/api/v1/namespaces/${ns}/configmaps`, {
    body: specConfigMap(settings, pipeline),
  });
  const job = await kube.request<{ metadata: { uid: string; name: string } }>(
    "POST",
    `/apis/batch/v1/namespaces/${ns}/jobs`,
    { body: controllerJob(settings) },
  );
  await kube.request(
    "PATCH",
    `/api/v1/namespaces/${ns}/configmaps/${specConfigMapName(settings.runId)}`,
    {
      contentType: "application/merge-patch+json",
      body: {
        metadata: {
          ownerReferences: [{
            apiVersion: "batch/v1",
            kind: "Job",
            name: job.metadata.name,
            uid: job.metadata.uid,
            blockOwnerDeletion: false,
          }],
        },
      },
    },
  );
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
  };
}

function finished(job: KubeJob): "Complete" | "Failed" | undefined {
  return finishedCondition(job)?.type as "Complete" | "Failed" | undefined;
}

/**
 * Follows a launched run until its controller Job finishes, reporting task counts from
 * the Jobs and statuses from the state document (when the data dir is readable here).
 * Resolves to the run's final state document, or null when it could not be read.
 */
export async function followRun(
  kube: KubeClient,
  settings: RunSettings,
  view: { update(run: PipelineRun): void; events: ExecutorEvents },
  signal?: AbortSignal,
): Promise<{ controller: "Complete" | "Failed"; state: StateDocument | null }> {
  const fs = new DataFs(openStorage(settings.dataDir));
  const readState = () => fs.readJson<StateDocument>(statePath(settings.runId)).catch(() => null);
  // The controller rewrites the state document when it submits a Job and when one
  // finishes, so those are the events worth a read of it; task counts in between come
  // from the Job's own status. A Job can finish before the controller has written that
  // down, so such a job stays in `lagging` and later events read again until it has.
  const lagging = new Set<string>();
  const refresh = async () => {
    const state = await readState();
    if (!state) return null;
    for (const job of lagging) {
      if (state.jobs[job] && state.jobs[job].status !== JobStatus.Running) lagging.delete(job);
    }
    view.update(PipelineRun.resume(state));
    return state;
  };
  const path = `/apis/batch/v1/namespaces/${settings.namespace}/jobs`;
  const selector = `${LABELS.runId}=${settings.runId}`;
  const controllerName = controllerJobName(settings.runId);
  const seenFinished = new Set<string>();
  const observe = (job: KubeJob, added: boolean): boolean => {
    const name = job.metadata.name;
    const ktJob = job.metadata.labels?.[LABELS.job];
    if (ktJob) {
      view.events.progress?.({
        job: ktJob,
        total: job.spec?.completions ?? 0,
        succeeded: job.status?.succeeded ?? 0,
        running: job.status?.active ?? 0,
        failed: parseIndexes(job.status?.failedIndexes).length,
      });
    }
    if (finished(job) && !seenFinished.has(name)) {
      seenFinished.add(name);
      if (ktJob) lagging.add(ktJob);
      return true;
    }
    return added || lagging.size > 0 || name === controllerName;
  };
  const controllerEnd = (job: KubeJob) =>
    job.metadata.name === controllerName ? finished(job) : undefined;
  while (true) {
    const list = await kube.request<{ metadata: { resourceVersion: string }; items: KubeJob[] }>(
      "GET",
      path,
      { query: { labelSelector: selector } },
    );
    const { resourceVersion } = list.metadata;
    let stale = false;
    for (const job of list.items) stale = observe(job, true) || stale;
    const state = stale ? await refresh() : null;
    const end = list.items.map(controllerEnd).find(Boolean);
    if (end) return { controller: end, state };
    try {
      for await (
        const event of kube.watch<KubeJob>(
          path,
          { labelSelector: selector, resourceVersion },
          signal,
        )
      ) {
        if (event.type === "BOOKMARK" || event.type === "DELETED") continue;
        const state = observe(event.object, event.type === "ADDED") ? await refresh() : null;
        const end = controllerEnd(event.object);
        if (end) return { controller: end, state };
      }
    } catch (error) {
      if (signal?.aborted) throw error;
    }
  }
}
