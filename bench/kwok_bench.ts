/**
 * The Kubernetes path at scale, on the test cluster: the controller on its real node, the
 * task pods on simulated kwok nodes (tests/kwok), where they succeed without a process.
 * kube-controller-manager and kube-scheduler get a client rate of `--qps` (burst twice
 * that); nothing else about the cluster changes.
 *
 * 1. On a cluster whose API server has priority and fairness off and
 *    `--max-requests-inflight`/`--max-mutating-requests-inflight` lowered to `--inflight`/
 *    `--mutating`: a dynamic job returning `--fanout` jobs and as many dependents of them
 *    (two layers, `2 × fanout` jobs): failed jobs, the 429s the controller retried (its
 *    last log line), and the reaction time from a first-layer Job completing to its
 *    dependent's Job appearing, seen by an independent watcher.
 * 2. On a second cluster with the API server's defaults: one static job of `--tasks` tasks
 *    (Job parallelism `--parallelism`), launch to Completed with `run --wait`: wall time,
 *    pods per second, the controller's peak RSS.
 *
 *     deno run -A bench/kwok_bench.ts [--tasks 100000] [--parallelism 5000] [--fanout 1000]
 *       [--qps 500] [--inflight 10] [--mutating 5] [--only wide|fanout]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { KubeClient, kubeconfigConnection } from "../src/k8s/client.ts";
import { LABELS } from "../src/k8s/names.ts";
import { type ClusterOptions, startCluster } from "../tests/cluster/cluster.ts";
import { NodeBusyError } from "../tests/cluster/node.ts";
import { applyRbac, podLog, writableByPods } from "../tests/cluster/harness.ts";
import { testImage } from "../tests/cluster/images.ts";
import { startKwok } from "../tests/kwok/harness.ts";
import { percentile, sampleControllerRss, watchJobs } from "./k8s_watch.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    tasks: { type: "string", default: "100000" },
    parallelism: { type: "string", default: "5000" },
    fanout: { type: "string", default: "1000" },
    qps: { type: "string", default: "500" },
    inflight: { type: "string", default: "10" },
    mutating: { type: "string", default: "5" },
    only: { type: "string" },
  },
});
const TASKS = Number(values.tasks);
const PARALLELISM = Number(values.parallelism);
const FANOUT = Number(values.fanout);
const QPS = Number(values.qps);
const ROOT = new URL("..", import.meta.url).pathname;
const NS = "default";
const FUNCTIONS_IMAGE = await testImage("kwok-bench", [`${ROOT}tests/fixtures/kt_functions`]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const benchStart = performance.now();

/**
 * Starts a cluster; a node that looks started by hand is asked for again a few times, since
 * a test run that is stopping its cluster looks the same for a moment.
 */
async function startClusterPatiently(options: ClusterOptions) {
  for (let attempt = 0;; attempt++) {
    try {
      return await startCluster(options);
    } catch (error) {
      if (!(error instanceof NodeBusyError) || attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  }
}

/** Runs `body` against a fresh cluster with kwok nodes, stopping both afterwards. */
async function onCluster<T>(
  apiServerFlags: string[],
  body: (kube: KubeClient, pool: Obj, cluster: Obj) => Promise<T>,
): Promise<T> {
  const cluster = await startClusterPatiently({
    images: [FUNCTIONS_IMAGE],
    clientQps: QPS,
    apiServerFlags,
  });
  Deno.env.set("KUBECONFIG", cluster.kubeconfigPath);
  const kube = new KubeClient(await kubeconfigConnection());
  try {
    const kwok = await startKwok(kube, cluster.kubeconfigPath, {
      nodes: 4,
      logFile: `${cluster.dir}/logs/kwok.log`,
    });
    try {
      await applyRbac(kube, NS);
      const pool = { node_selector: kwok.nodeSelector, tolerations: kwok.tolerations };
      return await body(kube, pool, cluster);
    } finally {
      await kwok.stop();
    }
  } finally {
    kube.close();
    await cluster.stop();
  }
}

/** `kt-deno run --wait` of a spec; its run id, state document and wall time. */
async function runWait(spec: unknown) {
  const work = await Deno.makeTempDir({ prefix: "kt-bench-kwok-" });
  try {
    await Deno.writeTextFile(`${work}/spec.json`, JSON.stringify(spec));
    await Deno.mkdir(`${work}/data`);
    await writableByPods(`${work}/data`);
    const started = performance.now();
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        "--config",
        `${ROOT}deno.json`,
        `${ROOT}main.ts`,
        "run",
        `${work}/spec.json`,
        "--image",
        IMAGE,
        "--controller-image",
        IMAGE,
        "--data-dir",
        `${work}/data`,
        "--wait",
      ],
    }).output();
    const seconds = (performance.now() - started) / 1000;
    const text = new TextDecoder().decode(output.stdout);
    const runId = /run id: (\S+)/.exec(text)?.[1];
    if (!runId) {
      throw new Error(`run printed no run id:\n${text}${new TextDecoder().decode(output.stderr)}`);
    }
    const state = JSON.parse(
      await Deno.readTextFile(`${work}/data/kt-metadata/${runId}/pipeline_run_state.json`),
    );
    return { runId, state, seconds, code: output.code };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** The controller's closing log line (API requests retried, by kind). */
async function controllerSummary(kube: KubeClient, cluster: Obj, runId: string) {
  const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
    query: { labelSelector: `${LABELS.runId}=${runId},${LABELS.component}=controller` },
  });
  const lines: string[] = [];
  for (const pod of pods.items) {
    const log = await podLog(cluster, pod.metadata.name, NS).catch(() => "");
    lines.push(...log.split("\n").filter((line) => line.includes("API requests retried")));
  }
  const throttled = lines.reduce(
    (sum, line) => sum + Number(/(\d+) throttled/.exec(line)?.[1] ?? 0),
    0,
  );
  return { lines, throttled };
}

if (values.only !== "wide") {
  const flags = [
    "--enable-priority-and-fairness=false",
    `--max-requests-inflight=${values.inflight}`,
    `--max-mutating-requests-inflight=${values.mutating}`,
  ];
  await onCluster(flags, async (kube, pool, cluster) => {
    const stop = new AbortController();
    const watcher = watchJobs(kube, NS, stop.signal);
    await watcher.ready;
    const leaf = (name: string, dependencies: string[]) => ({
      name,
      type: "static",
      cpu: "10m",
      memory: "64Mi",
      dependencies,
      ...pool,
      tasks: [{ function: "steps.noop" }],
    });
    const run = await runWait({
      name: "bench-kwok-fanout",
      jobs: [{
        name: "fan",
        type: "dynamic",
        cpu: "10m",
        memory: "64Mi",
        function: "steps.spawn",
        args: {
          jobs: Array.from({ length: FANOUT }, (_, i) => [
            leaf(`first-${i}`, []),
            leaf(`second-${i}`, [`first-${i}`]),
          ]).flat(),
        },
      }],
    });
    stop.abort();
    await watcher.done;
    const jobs = Object.values(run.state.jobs) as Obj[];
    const failed = jobs.filter((job) => job.status !== "Completed").length;
    const reactions = Array.from(
      { length: FANOUT },
      (_, i) =>
        watcher.appeared.get(`second-${i}-${run.runId}`)! -
        watcher.completed.get(`first-${i}-${run.runId}`)!,
    ).filter(Number.isFinite).sort((a, b) => a - b);
    const summary = await controllerSummary(kube, cluster, run.runId);
    console.log(
      `kwok: dynamic job -> ${2 * FANOUT} jobs (two layers), API server ${
        flags.slice(1).join(" ")
      }: ${run.state.status} in ${
        run.seconds.toFixed(1)
      } s, ${jobs.length} jobs, ${failed} not Completed; ${summary.throttled} 429s retried by the controller`,
    );
    for (const line of summary.lines) console.log(`  controller: ${line.trim()}`);
    console.log(
      `reaction under that load (first-layer Job complete -> dependent Job created) p50 ${
        percentile(reactions, 50).toFixed(1)
      } ms, p99 ${percentile(reactions, 99).toFixed(1)} ms over ${reactions.length}`,
    );
  });
}
if (values.only !== "fanout") {
  await onCluster([], async (kube, pool) => {
    const rss = sampleControllerRss(kube, NS);
    const wide = await runWait({
      name: "bench-kwok-wide",
      jobs: [{
        name: "wide",
        type: "static",
        cpu: "10m",
        memory: "64Mi",
        parallelism: PARALLELISM,
        ...pool,
        tasks: Array.from({ length: TASKS }, (_, i) => ({ function: "steps.noop", args: { i } })),
      }],
    });
    const peakKiB = await rss.stop();
    console.log(
      `kwok: one static job of ${TASKS} tasks (parallelism ${PARALLELISM}), launch to ${wide.state.status}: ${
        wide.seconds.toFixed(1)
      } s (${(TASKS / wide.seconds).toFixed(0)} pods/s); controller peak RSS ${
        (peakKiB / 1024).toFixed(1)
      } MiB`,
    );
  });
}

console.log(`benchmark took ${((performance.now() - benchStart) / 1000).toFixed(0)} s`);
