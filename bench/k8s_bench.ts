/**
 * Kubernetes executor benchmark, on the test cluster (tests/cluster: its real node, the
 * fixture worker image built from the Dockerfile):
 *
 * 1. A 20-stage chain of instant tasks. An independent watcher records when each Job
 *    completes and when its dependent's Job appears: the controller's reaction time. The
 *    chain's wall time is compared with a bare loop that creates and awaits the same 20
 *    Jobs with no orchestrator.
 * 2. A 1,000-task static job: the bytes each pod reads to find its task, and the
 *    controller's peak RSS.
 *
 *     deno run -A bench/k8s_bench.ts [--stages 20] [--tasks 1000]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { KubeClient, kubeconfigConnection } from "../src/k8s/client.ts";
import { LABELS } from "../src/k8s/names.ts";
import { startCluster } from "../tests/cluster/cluster.ts";
import { applyRbac, writableByPods } from "../tests/cluster/harness.ts";
import { testImage } from "../tests/cluster/images.ts";
import { containerIdOf, containerPids } from "../tests/cluster/node.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    stages: { type: "string", default: "20" },
    tasks: { type: "string", default: "1000" },
  },
});
const STAGES = Number(values.stages);
const TASKS = Number(values.tasks);
const ROOT = new URL("..", import.meta.url).pathname;
const NS = "default";
const IMAGE = await testImage("fixtures", [`${ROOT}tests/fixtures/kt_functions`]);

const work = await Deno.makeTempDir({ prefix: "kt-bench-k8s-" });
const cluster = await startCluster({ images: [IMAGE] });
Deno.env.set("KUBECONFIG", cluster.kubeconfigPath);
const kube = new KubeClient(await kubeconfigConnection());

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function finished(job: Obj): boolean {
  return job.status?.conditions?.some((c: Obj) => c.type === "Complete" && c.status === "True") ??
    false;
}

/** Watches Jobs and records, by name, when each appeared and when it completed. */
function watchJobs(signal: AbortSignal) {
  const appeared = new Map<string, number>();
  const completed = new Map<string, number>();
  const ready = (async () => {
    const list = await kube.request<Obj>("GET", `/apis/batch/v1/namespaces/${NS}/jobs`);
    return list.metadata.resourceVersion as string;
  })();
  const done = (async () => {
    const resourceVersion = await ready;
    try {
      for await (
        const event of kube.watch<Obj>(
          `/apis/batch/v1/namespaces/${NS}/jobs`,
          { resourceVersion },
          signal,
        )
      ) {
        const now = performance.now();
        const name = event.object.metadata.name;
        if (!appeared.has(name)) appeared.set(name, now);
        if (finished(event.object) && !completed.has(name)) completed.set(name, now);
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  })();
  return { appeared, completed, ready, done };
}

async function run(spec: unknown, dataDir: string): Promise<{ runId: string; seconds: number }> {
  await Deno.writeTextFile(`${work}/spec.json`, JSON.stringify(spec));
  await Deno.mkdir(dataDir, { recursive: true });
  await writableByPods(dataDir);
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
      dataDir,
      "--wait",
    ],
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (output.code !== 0) throw new Error(`run failed:\n${text}`);
  return { runId: /run id: (\S+)/.exec(text)![1], seconds: (performance.now() - started) / 1000 };
}

try {
  await applyRbac(kube, NS);

  // 1. The chain, watched from outside.
  const stop = new AbortController();
  const watcher = watchJobs(stop.signal);
  await watcher.ready;
  const chain = await run({
    name: "bench-chain",
    jobs: Array.from({ length: STAGES }, (_, i) => ({
      name: `stage-${i}`,
      type: "static",
      cpu: "10m",
      memory: "64Mi",
      dependencies: i ? [`stage-${i - 1}`] : [],
      tasks: [{ function: "steps.noop" }],
    })),
  }, `${work}/chain-data`);
  const names = (i: number) => `stage-${i}-${chain.runId}`;
  await new Promise((resolve) => setTimeout(resolve, 500));
  const reactions = Array.from(
    { length: STAGES - 1 },
    (_, i) => watcher.appeared.get(names(i + 1))! - watcher.completed.get(names(i))!,
  ).sort((a, b) => a - b);
  const chainWall = (watcher.completed.get(names(STAGES - 1))! - watcher.appeared.get(names(0))!) /
    1000;

  // The bare loop: the same Jobs, created and awaited one by one with no orchestrator.
  const jobs = (await kube.request<Obj>("GET", `/apis/batch/v1/namespaces/${NS}/jobs`, {
    query: { labelSelector: `${LABELS.runId}=${chain.runId},${LABELS.component}=job` },
  })).items.sort((a: Obj, b: Obj) =>
    Number(a.metadata.labels[LABELS.job].split("-")[1]) -
    Number(b.metadata.labels[LABELS.job].split("-")[1])
  );
  const bareStart = performance.now();
  for (const job of jobs) {
    const name = `bare-${job.metadata.name}`.slice(0, 63);
    const template = structuredClone(job.spec.template);
    for (const key of Object.keys(template.metadata.labels)) {
      if (key.includes("controller-uid") || key.includes("job-name")) {
        delete template.metadata.labels[key];
      }
    }
    await kube.request("POST", `/apis/batch/v1/namespaces/${NS}/jobs`, {
      body: {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name },
        spec: {
          completionMode: "Indexed",
          completions: 1,
          parallelism: 1,
          backoffLimitPerIndex: 0,
          template,
        },
      },
    });
    while (!watcher.completed.has(name)) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const bareWall = (performance.now() - bareStart) / 1000;
  stop.abort();
  await watcher.done;

  // 2. A wide job: bytes read per pod, controller peak RSS.
  let peakKiB = 0;
  const sampler = new AbortController();
  const sampling = (async () => {
    while (!sampler.signal.aborted) {
      const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
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
  const wide = await run({
    name: "bench-wide",
    jobs: [{
      name: "wide",
      type: "static",
      cpu: "10m",
      memory: "64Mi",
      tasks: Array.from({ length: TASKS }, (_, i) => ({ function: "steps.noop", args: { i } })),
    }],
  }, `${work}/wide-data`);
  sampler.abort();
  await sampling;
  let largest = 0;
  for await (
    const entry of Deno.readDir(`${work}/wide-data/kt-metadata/${wide.runId}/tasks/wide`)
  ) {
    largest = Math.max(
      largest,
      (await Deno.stat(`${work}/wide-data/kt-metadata/${wide.runId}/tasks/wide/${entry.name}`))
        .size,
    );
  }

  console.log(
    `chain of ${STAGES}: controller reaction median ${
      percentile(reactions, 50).toFixed(1)
    } ms, p99 ${percentile(reactions, 99).toFixed(1)} ms`,
  );
  console.log(
    `chain wall ${chainWall.toFixed(2)} s vs bare loop ${bareWall.toFixed(2)} s = ${
      (chainWall / bareWall).toFixed(2)
    }x`,
  );
  console.log(
    `${TASKS}-task job: ${
      wide.seconds.toFixed(1)
    } s; each pod reads ${largest} bytes to find its task (its own task file)`,
  );
  console.log(`controller peak RSS ${(peakKiB / 1024).toFixed(1)} MiB`);
} finally {
  kube.close();
  await cluster.stop();
  await Deno.remove(work, { recursive: true });
}
