/**
 * Watching a run's pods for ones that cannot start, and reading how a failed task's pod
 * ended. One watch per selector (a run's task pods, or its controller pod), of Pending
 * pods only, so the pods that run and finish cost an event or two each; each event costs
 * the same whatever the size of the run.
 *
 * @module
 */
import { ApiError, type KubeClient } from "./client.ts";
import { endProblem, type KubePod, startProblem } from "./pod_problems.ts";

interface PodList {
  metadata: { resourceVersion: string; continue?: string };
  items: KubePod[];
}

/** Settings of {@linkcode watchPodStarts}. */
export interface PodWatchOptions {
  namespace: string;
  /** The label selector of the pods to watch. */
  selector: string;
  /** Called for a pod that cannot start (again at each of its later changes). */
  onProblem(pod: KubePod, problem: string): void;
  /** Seconds a pod may stay Unschedulable (default: UNSCHEDULABLE_GRACE_SECONDS). */
  graceSeconds?: number;
  /** Ends the watch. */
  signal: AbortSignal;
  /** Where watch errors are reported (default: stderr). */
  log?: (line: string) => void;
}

/**
 * Lists and watches the Pending pods of a selector until the signal aborts, calling
 * `onProblem` for each that cannot start (see {@linkcode startProblem}). A pod that is
 * Unschedulable is looked at again when its grace period ends. Relists on 410 Gone and
 * after other watch errors.
 *
 * @example
 * ```ts ignore
 * const stop = new AbortController();
 * const watching = watchPodStarts(kube, {
 *   namespace: "default",
 *   selector: "kt-deno.dev/run-id=ktpr0123abcd",
 *   onProblem: (pod, problem) => console.error(problem),
 *   signal: stop.signal,
 * });
 * ```
 */
export async function watchPodStarts(kube: KubeClient, options: PodWatchOptions): Promise<void> {
  const { signal } = options;
  const log = options.log ?? ((line: string) => console.error(line));
  const path = `/api/v1/namespaces/${options.namespace}/pods`;
  const query = { labelSelector: options.selector, fieldSelector: "status.phase=Pending" };
  // Unschedulable pods: their latest state and the timer that looks at them again.
  const waiting = new Map<string, { pod: KubePod; timer?: ReturnType<typeof setTimeout> }>();
  const forget = (name: string) => {
    clearTimeout(waiting.get(name)?.timer);
    waiting.delete(name);
  };
  const examine = (pod: KubePod) => {
    const name = pod.metadata.name;
    const check = startProblem(pod, Date.now(), options.graceSeconds);
    if (check && "recheckAt" in check) {
      const entry = waiting.get(name) ?? { pod };
      entry.pod = pod;
      entry.timer ??= setTimeout(() => {
        entry.timer = undefined;
        if (waiting.get(name) === entry) examine(entry.pod);
      }, Math.max(0, check.recheckAt - Date.now()));
      waiting.set(name, entry);
      return;
    }
    forget(name);
    if (check) options.onProblem(pod, check.problem);
  };
  let resourceVersion = "";
  const relist = async () => {
    const seen = new Set<string>();
    let next: string | undefined;
    let first = true;
    do {
      const page = await kube.request<PodList>("GET", path, {
        query: { ...query, limit: 500, continue: next },
      });
      if (first) resourceVersion = page.metadata.resourceVersion;
      first = false;
      for (const pod of page.items) {
        seen.add(pod.metadata.name);
        examine(pod);
      }
      next = page.metadata.continue || undefined;
    } while (next);
    for (const name of waiting.keys()) if (!seen.has(name)) forget(name);
  };
  const pause = () => new Promise((resolve) => setTimeout(resolve, 1000));
  try {
    while (!signal.aborted) {
      try {
        if (!resourceVersion) await relist();
        const events = kube.watch<KubePod>(
          path,
          { ...query, resourceVersion, timeoutSeconds: 300 },
          signal,
        );
        for await (const event of events) {
          resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
          if (event.type === "BOOKMARK") continue;
          // DELETED: the pod is gone, or it is no longer Pending.
          if (event.type === "DELETED") forget(event.object.metadata.name);
          else examine(event.object);
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status === 403) {
          log(`kt-deno: cannot watch pods (${error.message}); pods that cannot start go unseen`);
          return;
        }
        resourceVersion = "";
        if (!(error instanceof ApiError && error.status === 410)) {
          log(`kt-deno: watch of pods ended (${(error as Error).message}); relisting`);
          await pause();
        }
      }
    }
  } finally {
    for (const name of [...waiting.keys()]) forget(name);
  }
}

/**
 * Resolves to the first problem of a pod of the selector that cannot start, or to
 * undefined when the signal aborts first.
 */
export function firstStartProblem(
  kube: KubeClient,
  options: Omit<PodWatchOptions, "onProblem">,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const stop = new AbortController();
    const signal = AbortSignal.any([options.signal, stop.signal]);
    watchPodStarts(kube, {
      ...options,
      signal,
      onProblem: (_pod, problem) => {
        stop.abort();
        resolve(problem);
      },
    }).catch(() => {}).finally(() => resolve(undefined));
  });
}

/**
 * How the latest pod of one task (a Job's completion index) ended when it failed (see
 * {@linkcode endProblem}); undefined when no failed pod of it is left.
 */
export async function taskPodEnd(
  kube: KubeClient,
  namespace: string,
  jobName: string,
  index: number,
): Promise<string | undefined> {
  const pods = await kube.request<PodList>("GET", `/api/v1/namespaces/${namespace}/pods`, {
    query: {
      labelSelector:
        `batch.kubernetes.io/job-name=${jobName},batch.kubernetes.io/job-completion-index=${index}`,
    },
  }).catch(() => null);
  const newest = (pods?.items ?? []).sort((a, b) =>
    (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? "")
  );
  for (const pod of newest) {
    const problem = endProblem(pod);
    if (problem) return problem;
  }
  return undefined;
}
