/**
 * Runs at scale on the test cluster: the controller on the real node, the task pods on
 * simulated kwok nodes (tests/kwok), where they succeed at once without a process. The
 * controller manager and the scheduler get a higher client rate, as a cluster made for
 * tens of thousands of pods would.
 */
import assert from "node:assert/strict";
import { LABELS } from "../src/k8s/names.ts";
import { FIXTURE_FUNCTIONS, ktDeno, runIdOf, stateOf } from "./cli_helpers.ts";
import { applyRbac, clusterSuite, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import type { KubeClient } from "../src/k8s/client.ts";
import { type Kwok, startKwok } from "./kwok/harness.ts";
import { until } from "./until.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const FUNCTIONS_IMAGE = await testImage("kwok-scale", [FIXTURE_FUNCTIONS]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const NS = "default";
const temporary: string[] = [];
const suite = clusterSuite({ images: [FUNCTIONS_IMAGE], clientQps: 200 });
let kwok: Kwok | undefined;

/** A data dir the pods can write, and `kt-deno run` of a spec written as JSON beside it. */
async function launch(
  spec: unknown,
  kubeconfigPath: string,
  wait: boolean,
): Promise<{ dataDir: string; runId: string }> {
  const dir = await Deno.makeTempDir({ prefix: "kt-kwok-test-" });
  temporary.push(dir);
  await Deno.writeTextFile(`${dir}/pipeline.json`, JSON.stringify(spec));
  await Deno.mkdir(`${dir}/data`);
  await writableByPods(`${dir}/data`);
  const result = await ktDeno(
    [
      "run",
      `${dir}/pipeline.json`,
      "--image",
      IMAGE,
      "--controller-image",
      IMAGE,
      "--data-dir",
      `${dir}/data`,
      ...wait ? ["--wait"] : [],
    ],
    dir,
    { KUBECONFIG: kubeconfigPath },
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return { dataDir: `${dir}/data`, runId: runIdOf(result.stdout) };
}

async function kwokNodes(kube: KubeClient, kubeconfigPath: string): Promise<Kwok> {
  kwok ??= await startKwok(kube, kubeconfigPath, { nodes: 4 });
  await applyRbac(kube, NS);
  return kwok;
}

const on = (pool: Kwok) => ({ node_selector: pool.nodeSelector, tolerations: pool.tolerations });

suite.test("a 100,000-task job launches on the kwok nodes", async ({ cluster, kube }) => {
  const pool = await kwokNodes(kube, cluster.kubeconfigPath);
  const tasks = 100_000;
  const { dataDir, runId } = await launch(
    {
      name: "wide",
      jobs: [{
        name: "wide",
        type: "static",
        cpu: "10m",
        memory: "64Mi",
        parallelism: 1000,
        ...on(pool),
        tasks: Array.from({ length: tasks }, (_, i) => ({ function: "steps.noop", args: { i } })),
      }],
    },
    cluster.kubeconfigPath,
    false,
  );
  const jobPath = `/apis/batch/v1/namespaces/${NS}/jobs/wide-${runId}`;
  const job = await until<Obj>("the Job", 90, () => kube.request<Obj>("GET", jobPath));
  assert.equal(job.spec.completions, tasks);
  assert.equal(job.spec.completionMode, "Indexed");
  const perChunk = Number(
    job.spec.template.spec.containers[0].env.find((e: Obj) => e.name === "KT_TASKS_PER_CHUNK")
      .value,
  );
  let files = 0;
  for await (const _ of Deno.readDir(`${dataDir}/kt-metadata/${runId}/tasks/wide`)) files++;
  assert.equal(files, Math.ceil(tasks / perChunk), "one task file per chunk");
  assert.ok(files <= tasks / 50, `${files} task files for ${tasks} tasks`);

  let status: Obj = {};
  await until(
    "500 pods to succeed",
    90,
    async () => {
      status = (await kube.request<Obj>("GET", jobPath)).status ?? {};
      return (status.succeeded ?? 0) >= 500;
    },
    () => JSON.stringify(status),
  );
  assert.equal(status.failed ?? 0, 0);
  const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
    query: { labelSelector: `${LABELS.runId}=${runId},${LABELS.component}=job`, limit: 500 },
  });
  const succeeded = pods.items.filter((p: Obj) => p.status.phase === "Succeeded");
  assert.ok(succeeded.length > 0);
  for (const pod of pods.items.filter((p: Obj) => p.spec.nodeName)) {
    assert.ok(pool.nodeNames.includes(pod.spec.nodeName), `${pod.metadata.name} on a kwok node`);
  }

  // Deleting the run: its controller Job, in the foreground; the rest follows by owner.
  const controllerPath = `/apis/batch/v1/namespaces/${NS}/jobs/kt-controller-${runId}`;
  await kube.request("DELETE", controllerPath, {
    body: { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Foreground" },
  });
  let left = "";
  await until("the run to be gone", 90, async () => {
    const jobs = await kube.request<Obj>("GET", `/apis/batch/v1/namespaces/${NS}/jobs`, {
      query: { labelSelector: `${LABELS.runId}=${runId}` },
    });
    const rest = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
      query: { labelSelector: `${LABELS.runId}=${runId}`, limit: 1 },
    });
    left = `${jobs.items.length} Jobs, pods left: ${rest.items.length > 0}`;
    return jobs.items.length === 0 && rest.items.length === 0;
  }, () => left);
});

suite.test("a run of 2,000 tasks across four jobs completes on the kwok nodes", async ({ cluster, kube }) => {
  const pool = await kwokNodes(kube, cluster.kubeconfigPath);
  const job = (name: string, dependencies: string[]) => ({
    name,
    type: "static",
    cpu: "10m",
    memory: "64Mi",
    dependencies,
    ...on(pool),
    tasks: Array.from({ length: 500 }, (_, i) => ({ function: "steps.noop", args: { i } })),
  });
  const { dataDir, runId } = await launch(
    {
      name: "kwok-small",
      jobs: [job("a", []), job("b", ["a"]), job("c", ["a"]), job("d", ["b", "c"])],
    },
    cluster.kubeconfigPath,
    true,
  );
  const state = await stateOf(dataDir, runId);
  assert.equal(state.status, "Completed");
  for (const name of ["a", "b", "c", "d"]) assert.equal(state.jobs[name].status, "Completed");
  const jobs = await kube.request<Obj>("GET", `/apis/batch/v1/namespaces/${NS}/jobs`, {
    query: { labelSelector: `${LABELS.runId}=${runId},${LABELS.component}=job` },
  });
  assert.equal(jobs.items.length, 4);
  for (const object of jobs.items) assert.equal(object.status.succeeded, 500);
});

suite.test("(kwok stopped)", async () => {
  await kwok?.stop();
  kwok = undefined;
});

suite.end();

Deno.test("(temporary folders removed)", async () => {
  for (const dir of temporary) await Deno.remove(dir, { recursive: true });
});
