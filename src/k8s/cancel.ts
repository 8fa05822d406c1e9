/**
 * Deleting a run from a cluster: its controller Job with foreground propagation, so that
 * every Job and pod of the run goes (for `cancel`, and for `resume` before it relaunches).
 *
 * @module
 */
import { until } from "../async/until.ts";
import { ApiError, type KubeClient } from "./client.ts";
import { type ClusterTarget, withCluster } from "./connect.ts";
import { controllerJobName, LABELS } from "./names.ts";

/**
 * Deletes a run's controller Job (foreground) and waits, at most `timeoutSeconds`, until
 * no Job or pod of the run is left. A schedule's firing names its controller Job.
 *
 * @example
 * ```ts ignore
 * await withCluster({}, (kube, ns) => deleteRun(kube, ns, "ktpr0000abcd", 120));
 * ```
 */
export async function deleteRun(
  kube: KubeClient,
  namespace: string,
  runId: string,
  timeoutSeconds: number,
  controllerJob = controllerJobName(runId),
): Promise<void> {
  await kube.request(
    "DELETE",
    `/apis/batch/v1/namespaces/${namespace}/jobs/${controllerJob}`,
    { body: { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Foreground" } },
  ).catch((error) => {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  });
  const selector = `${LABELS.runId}=${runId}`;
  const none = async (path: string) =>
    (await kube.request<{ items: unknown[] }>("GET", path, {
      query: { labelSelector: selector },
    })).items.length === 0;
  await until(
    `the Jobs and pods of run ${runId} to be deleted`,
    timeoutSeconds,
    async () =>
      await none(`/apis/batch/v1/namespaces/${namespace}/jobs`) &&
      await none(`/api/v1/namespaces/${namespace}/pods`),
    { everyMs: 250, retryErrors: false },
  );
}

/**
 * Cancels a run on a cluster: deletes it (see {@linkcode deleteRun}) through the
 * kubeconfig.
 *
 * @example
 * ```ts ignore
 * await cancelOnCluster("ktpr0000abcd", { namespace: "pipelines" }, 120);
 * ```
 */
export async function cancelOnCluster(
  runId: string,
  target: ClusterTarget & { controllerJob?: string },
  timeoutSeconds: number,
): Promise<void> {
  await withCluster(
    target,
    (kube, ns) => deleteRun(kube, ns, runId, timeoutSeconds, target.controllerJob),
  );
}
