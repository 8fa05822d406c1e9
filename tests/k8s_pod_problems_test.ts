/**
 * Pods on the real node, as a first run meets them: hello-world with only `--image` and a
 * local data dir completes with non-root pods; a mistyped image fails the run (the
 * controller's pod) or the job (a task's pod) with the image named, and `run --wait` exits
 * 1 instead of waiting; a task over its memory limit fails with OOMKilled; an
 * Unschedulable pod is reported after its grace period; the API server accepts the Jobs
 * kt-deno makes.
 */
import assert from "node:assert/strict";
import { PipelineRun } from "../src/engine/pipeline_run.ts";
import { runSettings } from "../src/k8s/launcher.ts";
import { controllerJob, ktJob } from "../src/k8s/manifests.ts";
import { LABELS } from "../src/k8s/names.ts";
import { watchPodStarts } from "../src/k8s/pod_watch.ts";
import {
  type CliResult,
  FIXTURE_FUNCTIONS,
  ktDeno,
  runIdOf,
  specFile,
  stateOf,
} from "./cli_helpers.ts";
import { copy } from "./copy.ts";
import { applyRbac, clusterSuite, WORKER_UID, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { until } from "./until.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/hello-world`;
const MAIN = `${ROOT}main.ts`;
const CONFIG = `${ROOT}deno.json`;
const FUNCTIONS_IMAGE = await testImage("pods", [
  FIXTURE_FUNCTIONS,
  `${ROOT}tests/fixtures/memory_functions`,
  `${EXAMPLE}/kt_functions`,
]);
const IMAGE = FUNCTIONS_IMAGE.ref;
/** An image no node has: without a registry host, its pull policy is Never. */
const TYPO = "kt-wroker:test";
const NS = "default";

const temporary: string[] = [];
const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

const TYPO_SPEC = {
  name: "typo",
  jobs: [{ name: "only", type: "static", tasks: [{ function: "steps.ok", args: { name: "t" } }] }],
};

/** Runs `kt-deno run --wait` on the cluster; a run still going after 60 s is killed. */
async function runWaiting(kubeconfig: string, args: string[], spec: unknown = TYPO_SPEC) {
  const { dir, path } = await specFile(spec);
  temporary.push(dir);
  const dataDir = `${dir}/data`;
  await Deno.mkdir(dataDir);
  await writableByPods(dataDir);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, "run", path, ...args, "--wait"]
      .concat(["--data-dir", dataDir]),
    cwd: dir,
    env: { KUBECONFIG: kubeconfig },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const output = await child.output().finally(() => clearTimeout(guard));
  const decoder = new TextDecoder();
  const result: CliResult = {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  assert.notEqual(
    output.signal,
    "SIGKILL",
    `run --wait still waiting after 60 s:\n${result.stderr}`,
  );
  return { ...result, dataDir };
}

suite.test("hello-world with only --image and a local data dir completes in non-root pods", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const dir = await Deno.makeTempDir({ prefix: "kt-pods-hello-" });
  temporary.push(dir);
  await copy(`${EXAMPLE}/data/input`, `${dir}/data/input`);
  await writableByPods(`${dir}/data`);
  const result = await ktDeno(
    ["run", `${EXAMPLE}/pipeline.yaml`, "--image", IMAGE, "--data-dir", `${dir}/data`, "--wait"],
    dir,
    { KUBECONFIG: cluster.kubeconfigPath },
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  for (const path of ["output/greek.txt", `kt-metadata/${runId}/pipeline_run_state.json`]) {
    assert.equal((await Deno.stat(`${dir}/data/${path}`)).uid, WORKER_UID, path);
  }
  const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
    query: { labelSelector: `${LABELS.runId}=${runId}` },
  });
  assert.ok(pods.items.length >= 3);
  for (const pod of pods.items) {
    assert.equal(pod.spec.securityContext.runAsNonRoot, true);
    assert.equal(pod.spec.securityContext.runAsUser, WORKER_UID);
    assert.equal(pod.spec.containers[0].image, IMAGE);
  }
});

suite.test("a mistyped image fails the run with the image named; --wait exits 1", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const result = await runWaiting(cluster.kubeconfigPath, ["--image", TYPO]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(
    result.stderr,
    /the controller cannot start: pod kt-controller-ktpr[0-9a-f]{8}-\w+: ErrImageNeverPull for image kt-wroker:test/,
  );
  const runId = runIdOf(result.stdout);
  assert.match(result.stdout, new RegExp(`run ${runId} Failed`));
});

suite.test("a task image that cannot start fails its job with the image named", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const result = await runWaiting(cluster.kubeconfigPath, [
    "--image",
    TYPO,
    "--controller-image",
    IMAGE,
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const state = await stateOf(result.dataDir, runIdOf(result.stdout));
  assert.equal(state.status, "Failed");
  assert.equal(state.jobs.only.status, "Failed");
  assert.match(
    state.jobs.only.error!,
    /^pod only-ktpr[0-9a-f]{8}-0-\w+: ErrImageNeverPull for image kt-wroker:test/,
  );
  // The Job is left as it is, for inspection.
  const job = await kube.request<Obj>(
    "GET",
    `/apis/batch/v1/namespaces/${NS}/jobs/only-${state.pipeline_run_id}`,
  );
  assert.equal(job.status.conditions?.some((c: Obj) => c.type === "Failed"), undefined);
});

suite.test("a missing Secret fails the run with the Secret named", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const result = await runWaiting(cluster.kubeconfigPath, [
    "--image",
    IMAGE,
    "--secret-env",
    "no-such-secret",
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(
    result.stderr,
    /the controller cannot start: pod kt-controller-\w+-\w+: CreateContainerConfigError: secret "no-such-secret" not found/,
  );
});

suite.test("a task over its memory limit fails with OOMKilled and the limit", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const result = await runWaiting(cluster.kubeconfigPath, ["--image", IMAGE], {
    name: "oom",
    jobs: [{
      name: "hog",
      type: "static",
      memory: "128Mi",
      tasks: [{ function: "memory.hog", args: { mib: 512 } }],
    }],
  });
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const state = await stateOf(result.dataDir, runIdOf(result.stdout));
  assert.equal(state.jobs.hog.status, "Failed");
  assert.match(state.jobs.hog.error!, /^OOMKilled \(limit 140\.8Mi\)/);
});

suite.test("a pod Unschedulable past its grace period is reported, not while its run's pods run", async ({ kube }) => {
  const labels = { [LABELS.runId]: "ktprunsched1" };
  await kube.request("POST", `/api/v1/namespaces/${NS}/pods`, {
    body: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "too-big", labels },
      spec: {
        containers: [{ name: "task", image: IMAGE, resources: { requests: { cpu: "1000" } } }],
      },
    },
  });
  const stop = new AbortController();
  let found: string | undefined;
  // While the run has pods running, the pod waits its turn: each look at it (its events,
  // then a recheck a grace period after the last) asks whether they still run.
  let running = true;
  let asked = 0;
  const watching = watchPodStarts(kube, {
    namespace: NS,
    selector: `${LABELS.runId}=ktprunsched1`,
    graceSeconds: 1,
    busy: () => (asked++, running),
    signal: stop.signal,
    onProblem: (_pod, problem) => found ??= problem,
  });
  const problem = await (async () => {
    await until("three rechecks while the run's pods run", 120, () => asked >= 5);
    assert.equal(found, undefined);
    running = false;
    return await until("the pod's start problem", 120, () => found);
  })().finally(async () => {
    stop.abort();
    await watching;
  });
  assert.match(
    problem,
    /^pod too-big: Unschedulable for more than 1s: 0\/1 nodes are available: .*Insufficient cpu/,
  );
  await kube.request("DELETE", `/api/v1/namespaces/${NS}/pods/too-big`, {
    query: { gracePeriodSeconds: 0 },
  });
});

suite.test("the API server accepts kt-deno's Jobs: pod failure policy with per-index retries", async ({ kube }) => {
  const settings = runSettings({
    runId: "ktpr0000dry1",
    namespace: NS,
    image: IMAGE,
    dataDir: "/srv/kt",
    hostDataPath: "/srv/kt",
    runAs: { uid: 10001, gid: 10001 },
  });
  const run = PipelineRun.start("ktpr0000dry1", {
    name: "dry",
    jobs: [
      {
        name: "plain",
        type: "static",
        memory: "1Gi",
        cpu: "500m",
        dependencies: [],
        tasks: [{ args: {} }],
      },
      {
        name: "retried",
        type: "static",
        memory: "64Mi",
        cpu: "10m",
        dependencies: [],
        retries: 3,
        timeout: 60,
        parallelism: 1,
        tasks: [{ args: {} }, { args: {} }],
      },
      {
        name: "plan",
        type: "dynamic",
        memory: "1Gi",
        cpu: "500m",
        dependencies: [],
        function: "m.f",
      },
    ],
  }, new Date());
  const jobs = [controllerJob(settings), ...run.jobs().map((job) => ktJob(settings, job))];
  for (const job of jobs) {
    const created = await kube.request<Obj>("POST", `/apis/batch/v1/namespaces/${NS}/jobs`, {
      query: { dryRun: "All" },
      body: job,
    });
    assert.deepEqual(created.spec.podFailurePolicy, (job as Obj).spec.podFailurePolicy);
  }
});

suite.end();

Deno.test("(temporary folders removed)", async () => {
  for (const dir of temporary) await Deno.remove(dir, { recursive: true });
});
