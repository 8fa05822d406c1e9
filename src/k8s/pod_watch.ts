/**
 * Watching a run's pods for ones that cannot start, and reading how a failed task's pod
 * ended. One watch per selector (a run's task pods, or its controller pod), of Pending
 * pods only, so the pods that run and finish cost an event or two each; each event costs
 * the same whatever the size of the run.
 *
 * @module
 */
import { ApiError, type KubeClient } from "./client.ts";
import { Informer } from "./informer.ts";
import { endProblem, type KubePod, podStartFields, startProblem } from "./pod_problems.ts";

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
  /**
   * Whether pods of the selector run now. While they do, and for a grace period after a
   * pod last left Pending or last ran, an Unschedulable pod is waiting its turn for the
   * room they hold (a job of more pods than the nodes take at once), not stuck.
   */
  busy?: () => boolean;
  /** Ends the watch. */
  signal: AbortSignal;
  /** Where the watch's log lines go (default: only a refusal to watch, on stderr). */
  log?: (line: string) => void;
}

/**
 * Lists and watches the Pending pods of a selector until the signal aborts (an
 * {@linkcode Informer}: idle bound, 410 relist, periodic relist), calling `onProblem` for
 * each that cannot start (see {@linkcode startProblem}). A pod that is Unschedulable is
 * held, and looked at again when its grace period ends; the period starts again while
 * the selector's other pods turn over (start, or run: `busy`).
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
  // Unschedulable pods: the timer that looks at each again.
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const forget = (name: string) => {
    clearTimeout(timers.get(name));
    timers.delete(name);
  };
  // When a pod of the selector last left Pending or was seen running (epoch ms).
  let turnover = -Infinity;
  const examine = (pod: KubePod) => {
    const name = pod.metadata.name;
    if (options.busy?.()) turnover = Date.now();
    const check = startProblem(pod, Date.now(), options.graceSeconds, turnover);
    if (check && "recheckAt" in check) {
      if (!timers.has(name)) {
        timers.set(
          name,
          setTimeout(() => {
            timers.delete(name);
            const latest = pods.get(name);
            if (latest) examine(latest);
          }, Math.max(0, check.recheckAt - Date.now())),
        );
      }
      return;
    }
    forget(name);
    if (check) options.onProblem(pod, check.problem);
  };
  const pods: Informer<KubePod> = new Informer<KubePod>({
    kube,
    path: `/api/v1/namespaces/${options.namespace}/pods`,
    labelSelector: options.selector,
    // DELETED: the pod is gone, or it is no longer Pending.
    fieldSelector: "status.phase=Pending",
    // A queued pod is held until it starts: keep of it only what is read.
    transform: podStartFields,
    onChange: (name, pod) => {
      if (pod) return examine(pod);
      turnover = Date.now();
      forget(name);
    },
    keep: (pod) => timers.has(pod.metadata.name),
    log: options.log,
  });
  if (signal.aborted) return;
  const stopped = new Promise((resolve) =>
    signal.addEventListener("abort", resolve, { once: true })
  );
  try {
    await Promise.race([pods.start(), stopped]);
    await stopped;
  } catch (error) {
    if (signal.aborted) return;
    if (!(error instanceof ApiError && error.status === 403)) throw error;
    (options.log ?? console.error)(
      `kt-deno: cannot watch pods (${error.message}); pods that cannot start go unseen`,
    );
  } finally {
    await pods.stop();
    for (const name of [...timers.keys()]) forget(name);
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
