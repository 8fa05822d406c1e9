/**
 * Which runs have a controller Job in a namespace (for `list`).
 *
 * @module
 */
import { type ClusterTarget, withCluster } from "./connect.ts";
import { LABELS } from "./names.ts";

/**
 * The run ids whose controller Job exists in the target's namespace.
 *
 * @example
 * ```ts ignore
 * const runs = await controllerJobRuns({ namespace: "pipelines" });
 * runs.has("ktpr0000abcd");
 * ```
 */
export async function controllerJobRuns(target: ClusterTarget): Promise<Set<string>> {
  return await withCluster(target, async (kube, ns) => {
    const list = await kube.request<
      { items: { metadata: { labels?: Record<string, string> } }[] }
    >("GET", `/apis/batch/v1/namespaces/${ns}/jobs`, {
      query: { labelSelector: `${LABELS.component}=controller` },
    });
    return new Set(list.items.map((job) => job.metadata.labels?.[LABELS.runId] ?? ""));
  });
}
