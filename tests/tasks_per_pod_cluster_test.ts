/**
 * `tasks_per_pod` on the test cluster's real node: a packed job's pods each run a range
 * of its tasks, every task keeping its own index, log, time and error; a failing task
 * leaves its pod-mates be and is named by the job's error; a packed pod killed mid-way is
 * retried and its new pod runs only the tasks without a done record; and the issue's
 * done-when check, 2,000 tasks at `tasks_per_pod: 200` in at most 10 pods.
 */
import assert from "node:assert/strict";
import type { KubeClient } from "../src/k8s/client.ts";
import { LABELS } from "../src/k8s/names.ts";
import {
  FIXTURE_FUNCTIONS,
  ktDeno,
  runIdOf,
  spawnKtDeno,
  specFile,
  stateOf,
} from "./cli_helpers.ts";
import { applyRbac, clusterSuite, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { until } from "./until.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const EXAMPLE = new URL("../examples/hello-world", import.meta.url).pathname;
/** The image of tests/k8s_e2e_test.ts (same name and folders: built once for both). */
const FUNCTIONS_IMAGE = await testImage("e2e", [FIXTURE_FUNCTIONS, `${EXAMPLE}/kt_functions`]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const IMAGES = ["--image", IMAGE, "--controller-image", IMAGE];
const NS = "default";

/** Folders the tests make, removed at the end. */
const temporary: string[] = [];

const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

/** A spec's folder and a data dir the pods may write. */
async function prepare(spec: unknown) {
  const { dir, path } = await specFile(spec);
  temporary.push(dir);
  const dataDir = `${dir}/data`;
  await Deno.mkdir(dataDir);
  await writableByPods(dataDir);
  return { dir, path, dataDir };
}

/** Runs a spec on the cluster with --wait. */
async function launch(kubeconfig: string, spec: unknown) {
  const { dir, path, dataDir } = await prepare(spec);
  const result = await ktDeno(
    ["run", path, ...IMAGES, "--data-dir", dataDir, "--wait"],
    dir,
    { KUBECONFIG: kubeconfig },
  );
  return { ...result, dir, dataDir };
}

/** The Job of one kt job of a run. */
async function jobOf(kube: KubeClient, runId: string, job: string): Promise<Obj> {
  const list = await kube.request<Obj>("GET", `/apis/batch/v1/namespaces/${NS}/jobs`, {
    query: { labelSelector: `${LABELS.runId}=${runId},${LABELS.job}=${job}` },
  });
  return list.items[0];
}

/** The pods of one kt job of a run. */
async function podsOf(kube: KubeClient, runId: string, job: string): Promise<Obj[]> {
  const list = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
    query: { labelSelector: `${LABELS.runId}=${runId},${LABELS.job}=${job}` },
  });
  return list.items;
}

async function text(path: string): Promise<string> {
  return await Deno.readTextFile(path).catch(() => "");
}

/** Lines of `marks/<name>` (day_two.mark and steps.mark append one a call). */
async function marks(dataDir: string, name: string): Promise<number> {
  return (await text(`${dataDir}/marks/${name}`)).split("\n").filter(Boolean).length;
}

const mark = (name: string) => ({ function: "day_two.mark", args: { name } });
const ok = (name: string) => ({ function: "steps.ok", args: { name } });

suite.test("a packed job completes: every task's index, log and time are its own", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const result = await launch(cluster.kubeconfigPath, {
    name: "packed",
    jobs: [
      {
        name: "marked",
        type: "static",
        tasks_per_pod: 4,
        tasks: Array.from({ length: 10 }, (_, i) => mark(`m${i}`)),
      },
      {
        name: "indexed",
        type: "static",
        tasks_per_pod: 4,
        cpu: "100m",
        tasks: Array.from({ length: 10 }, (_, i) => ok(`t${i}`)),
      },
    ],
  });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  const { dataDir } = result;
  const state = await stateOf(dataDir, runId);
  assert.equal(state.status, "Completed");
  for (const job of ["marked", "indexed"]) {
    const object = await jobOf(kube, runId, job);
    assert.equal(object.spec.completions, 3, `${job}: ceil(10 / 4) pods`);
    assert.equal(object.status.succeeded, 3);
  }
  for (let i = 0; i < 10; i++) {
    assert.equal(await text(`${dataDir}/marks/m${i}`), `marked[${i}]\n`, `task ${i} ran once`);
    const log = await text(`${dataDir}/kt-metadata/${runId}/logs/marked/${i}.log`);
    assert.match(log, new RegExp(`^marked m${i}$`, "m"));
    assert.doesNotMatch(log, /marked m\d+\n.*marked m/s, "a log holds its own task only");
    const done = JSON.parse(await text(`${dataDir}/done/t${i}`));
    assert.equal(done.index, i);
    assert.equal(done.env.JOB_COMPLETION_INDEX, String(i));
    const time = JSON.parse(
      await text(`${dataDir}/kt-metadata/${runId}/task_times/marked/${i}.json`),
    );
    assert.equal(time[2], 1);
  }
  const logs = await ktDeno(["logs", runId, "marked/7", "--data-dir", dataDir], result.dir);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /marked\[7\].*marked m7/);
});

suite.test("a failing task in a packed job: its pod-mates finish, the job's error names it", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const tasks: Obj[] = Array.from({ length: 6 }, (_, i) => mark(`b${i}`));
  tasks[4] = { function: "day_two.chatty", args: { lines: ["about to fail"], fail: "t4 broke" } };
  const result = await launch(cluster.kubeconfigPath, {
    name: "broken",
    jobs: [
      { name: "broken", type: "static", tasks_per_pod: 3, retries: 1, tasks },
      { name: "after", type: "static", dependencies: ["broken"], tasks: [mark("after")] },
    ],
  });
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  const state = await stateOf(result.dataDir, runId);
  assert.equal(state.jobs.broken.status, "Failed");
  assert.equal(state.jobs.after.status, "SkippedDueToUpstreamFailure");
  assert.equal(state.jobs.broken.error, "1 of 6 tasks failed: task 4: t4 broke");
  for (const i of [0, 1, 2, 3, 5]) {
    assert.equal(await marks(result.dataDir, `b${i}`), 1, `pod-mate ${i} ran once`);
    assert.match(
      await text(`${result.dataDir}/kt-metadata/${runId}/logs/broken/${i}.log`),
      new RegExp(`marked b${i}`),
    );
  }
  const failedLog = await text(`${result.dataDir}/kt-metadata/${runId}/logs/broken/4.log`);
  assert.equal(failedLog.match(/about to fail/g)?.length, 2, "task 4 ran twice: its retry");
  assert.match(result.stderr, /last lines of broken\[4\]:/);
  const object = await jobOf(kube, runId, "broken");
  assert.equal(object.status.failedIndexes, "1");
  assert.equal(object.status.failed, 1, "a task that failed after its retries fails its pod once");
  const status = await ktDeno(["status", runId, "--data-dir", result.dataDir], result.dir);
  assert.match(status.stdout + status.stderr, /task 4: t4 broke/);
});

suite.test("a packed pod killed mid-way is retried and reruns only its unfinished tasks", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const count = 8;
  const { dir, path, dataDir } = await prepare({
    name: "killed",
    jobs: [{
      name: "slow",
      type: "static",
      tasks_per_pod: count,
      cpu: "500m",
      tasks: Array.from({ length: count }, (_, i) => ({
        function: "steps.mark",
        args: { name: `s${i}`, ms: 1500 },
      })),
    }],
  });
  const launcher = spawnKtDeno(
    ["run", path, ...IMAGES, "--data-dir", dataDir, "--wait"],
    dir,
    { KUBECONFIG: cluster.kubeconfigPath },
  );
  const output = Promise.all([
    new Response(launcher.stdout).text(),
    new Response(launcher.stderr).text(),
    launcher.status,
  ]);
  const runId = await until<string>("the run id", 60, async () => {
    try {
      for await (const entry of Deno.readDir(`${dataDir}/kt-metadata`)) return entry.name;
    } catch {
      return undefined;
    }
  });
  const record = `${dataDir}/kt-metadata/${runId}/tasks_done/slow/0.json`;
  // Killed once some tasks are recorded done and others are not yet run.
  const done = await until<number[]>("two tasks recorded done", 180, async () => {
    let indexes: number[] = [];
    try {
      indexes = JSON.parse(await text(record));
    } catch {
      // not written yet
    }
    return indexes.length >= 2 ? indexes : undefined;
  });
  assert.ok(done.length < count, "the pod is killed mid-way");
  const [pod] = (await podsOf(kube, runId, "slow")).filter((p: Obj) =>
    p.status?.phase === "Running"
  );
  assert.ok(pod, "the packed pod is running");
  await kube.request("DELETE", `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}`, {
    body: { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0 },
  });
  const [stdout, stderr, status] = await output;
  assert.equal(status.code, 0, stdout + stderr);
  const state = await stateOf(dataDir, runId);
  assert.equal(state.status, "Completed");
  for (const i of done) assert.equal(await marks(dataDir, `s${i}`), 1, `done task ${i} not rerun`);
  for (let i = 0; i < count; i++) assert.ok(await marks(dataDir, `s${i}`) >= 1, `task ${i} ran`);
  const total = (await Promise.all(
    Array.from({ length: count }, (_, i) => marks(dataDir, `s${i}`)),
  )).reduce((a, b) => a + b, 0);
  assert.ok(total <= 2 * count - done.length, `${total} runs: only unfinished tasks ran again`);
  const finalRecord: number[] = JSON.parse(await text(record));
  assert.deepEqual(finalRecord.sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i));
  const object = await jobOf(kube, runId, "slow");
  assert.equal(object.spec.completions, 1);
  assert.equal(object.status.succeeded, 1, "the replacement pod finished the tasks");
});

suite.test("done when: 2,000 tasks at tasks_per_pod 200 complete through run --wait in at most 10 pods", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const started = performance.now();
  const result = await launch(cluster.kubeconfigPath, {
    name: "wide",
    jobs: [{
      name: "wide",
      type: "static",
      tasks_per_pod: 200,
      cpu: "100m",
      tasks: Array.from({ length: 2_000 }, (_, i) => ({ function: "steps.noop", args: { i } })),
    }],
  });
  const packedSeconds = (performance.now() - started) / 1000;
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  assert.equal((await stateOf(result.dataDir, runId)).status, "Completed");
  const object = await jobOf(kube, runId, "wide");
  assert.equal(object.spec.completions, 10);
  assert.equal(object.status.succeeded, 10);
  const pods = await podsOf(kube, runId, "wide");
  assert.ok(pods.length <= 10, `${pods.length} pods`);
  const unpackedStart = performance.now();
  const small = await launch(cluster.kubeconfigPath, {
    name: "small",
    jobs: [{
      name: "small",
      type: "static",
      tasks: Array.from({ length: 10 }, (_, i) => ({ function: "steps.noop", args: { i } })),
    }],
  });
  assert.equal(small.code, 0, small.stdout + small.stderr);
  // Measured, not asserted (timings belong to bench/): the target is at most 2x.
  console.log(
    `2,000 tasks at tasks_per_pod 200: ${packedSeconds.toFixed(1)} s; 10 unpacked tasks: ${
      ((performance.now() - unpackedStart) / 1000).toFixed(1)
    } s`,
  );
});

suite.end();

Deno.test("(temporary folders removed)", async () => {
  for (const dir of temporary) await Deno.remove(dir, { recursive: true });
});
