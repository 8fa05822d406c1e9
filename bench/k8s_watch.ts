/**
 * Independent observers for the Kubernetes benchmarks (bench/k8s_bench.ts,
 * bench/kwok_bench.ts): a watch of Jobs and controller pods, a file watcher on state
 * documents, and a sampler of the controller's peak RSS, all outside the controller.
 *
 * @module
 */
import type { KubeClient } from "../src/k8s/client.ts";
import { LABELS } from "../src/k8s/names.ts";
import { containerIdOf, containerPids } from "../tests/cluster/node.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

/** The p-th percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** True when a Job has its Complete condition. */
export function finished(job: Obj): boolean {
  return job.status?.conditions?.some((c: Obj) => c.type === "Complete" && c.status === "True") ??
    false;
}

/**
 * Watches Jobs and controller pods of a namespace: when each Job appeared and completed,
 * and when each run's controller container terminated (by run id).
 */
export function watchJobs(kube: KubeClient, ns: string, signal: AbortSignal) {
  const appeared = new Map<string, number>();
  const completed = new Map<string, number>();
  const controllerEnded = new Map<string, number>();
  const follow = async (path: string, query: Record<string, string>, on: (o: Obj) => void) => {
    const list = await kube.request<Obj>("GET", path, { query });
    let resourceVersion = list.metadata.resourceVersion as string;
    for (const item of list.items) on(item);
    // Wrapped, so that awaiting `follow` waits for the list and not for the whole watch.
    return [(async () => {
      // A watch the server or the connection ends is taken up again where it was.
      while (!signal.aborted) {
        try {
          const events = kube.watch<Obj>(path, { ...query, resourceVersion }, signal);
          for await (const event of events) {
            resourceVersion = event.object?.metadata?.resourceVersion ?? resourceVersion;
            if (event.type !== "BOOKMARK") on(event.object);
          }
        } catch (error) {
          if (signal.aborted) return;
          console.error(`bench watch of ${path} ended: ${(error as Error).message}; again`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    })()];
  };
  const ready = Promise.all([
    follow(`/apis/batch/v1/namespaces/${ns}/jobs`, {}, (job) => {
      const now = performance.now();
      const name = job.metadata.name;
      if (!appeared.has(name)) appeared.set(name, now);
      if (finished(job) && !completed.has(name)) completed.set(name, now);
    }),
    follow(
      `/api/v1/namespaces/${ns}/pods`,
      { labelSelector: `${LABELS.component}=controller` },
      (pod) => {
        const runId = pod.metadata.labels[LABELS.runId];
        const state = pod.status?.containerStatuses?.[0]?.state;
        if (state?.terminated?.exitCode === 0 && !controllerEnded.has(runId)) {
          controllerEnded.set(runId, performance.now());
        }
      },
    ),
  ]);
  const done = ready.then((loops) => Promise.all(loops.map(([loop]) => loop)));
  return { appeared, completed, controllerEnded, ready, done };
}

/** When each state document under a data dir turned final, by run id. */
export function watchStates(dataDir: string) {
  const final = new Map<string, number>();
  const watcher = Deno.watchFs(dataDir, { recursive: true });
  const done = (async () => {
    for await (const event of watcher) {
      const now = performance.now();
      for (const path of event.paths) {
        const match = /kt-metadata\/([^/]+)\/pipeline_run_state\.json$/.exec(path);
        if (!match || final.has(match[1])) continue;
        const doc = await Deno.readTextFile(path).then(JSON.parse).catch(() => null);
        if (doc && doc.status !== "Running") final.set(match[1], now);
      }
    }
  })();
  return { final, close: () => (watcher.close(), done) };
}

/**
 * Samples the VmHWM of every running controller container of a namespace (its process on
 * the node, found through containerd) until `stop` is called; returns the highest, KiB.
 */
export function sampleControllerRss(kube: KubeClient, ns: string) {
  let peakKiB = 0;
  const sampler = new AbortController();
  const sampling = (async () => {
    while (!sampler.signal.aborted) {
      const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${ns}/pods`, {
        query: { labelSelector: `${LABELS.component}=controller` },
      }).catch(() => ({ items: [] }));
      const hostPids = await containerPids().catch(() => new Map<string, number>());
      for (const pod of pods.items) {
        const id = pod.status?.containerStatuses?.[0]?.containerID;
        const pid = id && hostPids.get(containerIdOf(id));
        if (!pid || pod.status.phase !== "Running") continue;
        const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
        const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peakKiB = Math.max(peakKiB, hwm);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    stop: async () => {
      sampler.abort();
      await sampling;
      return peakKiB;
    },
  };
}
