/**
 * Kubernetes executor benchmark, on the test cluster (tests/cluster: its real node, the
 * fixture worker image built from the Dockerfile):
 *
 * 1. A 20-stage chain of instant tasks. An independent watcher records when each Job
 *    completes and when its dependent's Job appears: the controller's reaction time. The
 *    chain's wall time is compared with a bare loop that creates and awaits the same 20
 *    Jobs with no orchestrator.
 * 2. A chain of dynamic jobs, each returning one static job: the dynamic edge, from a
 *    dynamic job's Job completing to the Job of the first job it returned appearing.
 * 3. A 1,000-task static job: the bytes each pod reads to find its task (its chunk of
 *    task definitions), and the controller's peak RSS.
 * 4. The same 1,000 no-op tasks at `tasks_per_pod` 100 (`--per-pod`): ten pods, each
 *    running its hundred tasks through a worker pool, against one pod a task (3.).
 *
 * For every run, how long `run --wait` takes to exit after the run's end: the state
 * document turning final (seen by a file watcher); the controller's pod may end later.
 *
 * 5. With `--big N`, N no-op tasks at `tasks_per_pod` `--big-per-pod` (default 1,000): the
 *    wall time and the controller's peak RSS.
 *
 *     deno run -A bench/k8s_bench.ts [--stages 20] [--dynamic 10] [--small 5] [--tasks 1000]
 *       [--per-pod 100] [--big 100000] [--big-per-pod 1000] [--skip-wide]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { KubeClient, kubeconfigConnection } from "../src/k8s/client.ts";
import { LABELS } from "../src/k8s/names.ts";
import { startCluster } from "../tests/cluster/cluster.ts";
import { applyRbac, writableByPods } from "../tests/cluster/harness.ts";
import { testImage } from "../tests/cluster/images.ts";
import { percentile, sampleControllerRss, watchJobs, watchStates } from "./k8s_watch.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    stages: { type: "string", default: "20" },
    dynamic: { type: "string", default: "10" },
    small: { type: "string", default: "5" },
    tasks: { type: "string", default: "1000" },
    "per-pod": { type: "string", default: "100" },
    big: { type: "string", default: "0" },
    "skip-wide": { type: "boolean", default: false },
    "big-per-pod": { type: "string", default: "1000" },
  },
});
const STAGES = Number(values.stages);
const TASKS = Number(values.tasks);
const PER_POD = Number(values["per-pod"]);
const BIG = Number(values.big);
const SKIP_WIDE = values["skip-wide"];
const BIG_PER_POD = Number(values["big-per-pod"]);
const DYNAMIC = Number(values.dynamic);
const SMALL = Number(values.small);
const ROOT = new URL("..", import.meta.url).pathname;
const NS = "default";
const FUNCTIONS_IMAGE = await testImage("fixtures", [`${ROOT}tests/fixtures/kt_functions`]);
const IMAGE = FUNCTIONS_IMAGE.ref;

const work = await Deno.makeTempDir({ prefix: "kt-bench-k8s-" });
const cluster = await startCluster({ images: [FUNCTIONS_IMAGE] });
Deno.env.set("KUBECONFIG", cluster.kubeconfigPath);
const kube = new KubeClient(await kubeconfigConnection());

/** `run --wait` exit delays after each run's end, ms, with the run's name. */
const exitDelays: { name: string; ms: number }[] = [];
/** Runs for which the state's end or the controller pod's end was not seen. */
const unseen: string[] = [];

async function run(spec: unknown, dataDir: string): Promise<{ runId: string; seconds: number }> {
  await Deno.mkdir(dataDir, { recursive: true });
  await writableByPods(dataDir);
  const states = watchStates(dataDir);
  await Deno.writeTextFile(`${work}/spec.json`, JSON.stringify(spec));
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
  }).output();
  const exited = performance.now();
  await states.close();
  const text = new TextDecoder().decode(output.stdout);
  if (output.code !== 0) {
    throw new Error(`run failed:\n${text}\n${new TextDecoder().decode(output.stderr)}`);
  }
  const runId = /run id: (\S+)/.exec(text)![1];
  const stateFinal = states.final.get(runId);
  const name = (spec as { name: string }).name;
  if (stateFinal !== undefined) exitDelays.push({ name, ms: exited - stateFinal });
  else unseen.push(runId);
  return { runId, seconds: (started - performance.now()) / -1000 };
}

const stop = new AbortController();
const watcher = watchJobs(kube, NS, stop.signal);
try {
  await applyRbac(kube, NS);
  await watcher.ready;

  // 1. The chain, watched from outside.
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

  // 2. Dynamic edges: dyn-i returns leaf-i; dyn-(i+1) waits for dyn-i and so for leaf-i.
  const dynamic = await run({
    name: "bench-dynamic",
    jobs: Array.from({ length: DYNAMIC }, (_, i) => ({
      name: `dyn-${i}`,
      type: "dynamic",
      cpu: "10m",
      memory: "64Mi",
      dependencies: i ? [`dyn-${i - 1}`] : [],
      function: "steps.spawn",
      args: {
        jobs: [{
          name: `leaf-${i}`,
          type: "static",
          cpu: "10m",
          memory: "64Mi",
          tasks: [{ function: "steps.noop" }],
        }],
      },
    })),
  }, `${work}/dynamic-data`);
  const edges = Array.from(
    { length: DYNAMIC },
    (_, i) =>
      watcher.appeared.get(`leaf-${i}-${dynamic.runId}`)! -
      watcher.completed.get(`dyn-${i}-${dynamic.runId}`)!,
  ).sort((a, b) => a - b);

  // More `run --wait` exits: one-job runs.
  for (let i = 0; i < SMALL; i++) {
    await run({
      name: "bench-small",
      jobs: [{
        name: "one",
        type: "static",
        cpu: "10m",
        memory: "64Mi",
        tasks: [{ function: "steps.noop" }],
      }],
    }, `${work}/small-${i}-data`);
  }

  // 3. A wide job: bytes read per pod, controller peak RSS.
  const rss = sampleControllerRss(kube, NS);
  const wide = SKIP_WIDE ? undefined : await run({
    name: "bench-wide",
    jobs: [{
      name: "wide",
      type: "static",
      cpu: "10m",
      memory: "64Mi",
      tasks: Array.from({ length: TASKS }, (_, i) => ({ function: "steps.noop", args: { i } })),
    }],
  }, `${work}/wide-data`);
  const peakKiB = await rss.stop();

  // 4. The same tasks, packed.
  const packed = await run({
    name: "bench-packed",
    jobs: [{
      name: "packed",
      type: "static",
      cpu: "10m",
      memory: "256Mi",
      tasks_per_pod: PER_POD,
      tasks: Array.from({ length: TASKS }, (_, i) => ({ function: "steps.noop", args: { i } })),
    }],
  }, `${work}/packed-data`);

  // 5. A big packed job (`--big N`): its wall time and the controller's peak RSS.
  const bigRss = BIG > 0 ? sampleControllerRss(kube, NS) : undefined;
  const big = BIG > 0
    ? await run({
      name: "bench-big",
      jobs: [{
        name: "big",
        type: "static",
        cpu: "10m",
        memory: "256Mi",
        tasks_per_pod: BIG_PER_POD,
        tasks: Array.from({ length: BIG }, (_, i) => ({ function: "steps.noop", args: { i } })),
      }],
    }, `${work}/big-data`)
    : undefined;
  const bigPeakKiB = await bigRss?.stop();
  stop.abort();
  await watcher.done;
  let largest = 0;
  let files = 0;
  const tasksDir = wide && `${work}/wide-data/kt-metadata/${wide.runId}/tasks/wide`;
  for await (const entry of tasksDir ? Deno.readDir(tasksDir) : []) {
    files++;
    largest = Math.max(largest, (await Deno.stat(`${tasksDir}/${entry.name}`)).size);
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
    `dynamic edge (dynamic job's Job complete -> first returned Job created) median ${
      percentile(edges, 50).toFixed(1)
    } ms, p99 ${percentile(edges, 99).toFixed(1)} ms over ${DYNAMIC}`,
  );
  if (wide) {
    console.log(
      `${TASKS}-task job: ${
        wide.seconds.toFixed(1)
      } s; ${files} task files, each pod reads at most ${largest} bytes to find its task (its chunk)`,
    );
  }
  console.log(
    `${TASKS}-task job at tasks_per_pod ${PER_POD}: ${packed.seconds.toFixed(1)} s in ${
      Math.ceil(TASKS / PER_POD)
    } pods${
      wide ? `, ${(wide.seconds / packed.seconds).toFixed(1)}x faster than one pod a task` : ""
    }`,
  );
  if (big) {
    console.log(
      `${BIG}-task job at tasks_per_pod ${BIG_PER_POD}: ${big.seconds.toFixed(1)} s in ${
        Math.ceil(BIG / BIG_PER_POD)
      } pods, controller peak RSS ${(bigPeakKiB! / 1024).toFixed(1)} MiB`,
    );
  }
  const delays = exitDelays.map((d) => d.ms).sort((a, b) => a - b);
  console.log(
    `run --wait exits ${percentile(delays, 50).toFixed(0)} ms (median), at most ${
      delays.at(-1)!.toFixed(0)
    } ms after the run's end (the state document final), over ${delays.length} runs`,
  );
  console.log(
    `run --wait exit delays by run: ${
      exitDelays.map((d) => `${d.name} ${d.ms.toFixed(0)} ms`).join(", ")
    }`,
  );
  if (unseen.length) console.log(`runs whose end the watchers missed: ${unseen.join(", ")}`);
  console.log(`controller peak RSS ${(peakKiB / 1024).toFixed(1)} MiB`);
} finally {
  kube.close();
  await cluster.stop();
  await Deno.remove(work, { recursive: true });
}
