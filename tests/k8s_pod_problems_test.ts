/**
 * Pods that cannot start, on a real control plane: a mistyped image fails the run (the
 * controller's pod) or the job (a task's pod) with the image named, and `run --wait`
 * exits 1 instead of waiting; an Unschedulable pod is reported after its grace period;
 * the API server accepts the Jobs kt-deno makes.
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
  podDataDir,
  runIdOf,
  specFile,
  stateOf,
} from "./cli_helpers.ts";
import { applyRbac, clusterSuite } from "./cluster/harness.ts";
import { makeWorkerImage } from "./cluster/worker_image.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const IMAGE = "kt-worker:test";
const TYPO = "kt-wroker:test";
const NS = "default";
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

const image = await makeWorkerImage(IMAGE, [FIXTURE_FUNCTIONS]);
const temporary: string[] = [image.root];
// No "*" entry: an image the map does not name cannot start (ErrImageNeverPull).
const suite = clusterSuite({ imageMap: image.imageMap });

/** Runs `kt-deno run --wait` on the cluster; a run still going after 60 s is killed. */
async function runWaiting(kubeconfig: string, args: string[]) {
  const { dir, path } = await specFile({
    name: "typo",
    jobs: [{
      name: "only",
      type: "static",
      tasks: [{ function: "steps.ok", args: { name: "typo" } }],
    }],
  });
  temporary.push(dir);
  const dataDir = await podDataDir(`${dir}/data`);
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

suite.test("a pod Unschedulable past its grace period is reported", async ({ kube }) => {
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
  const problem = await new Promise<string>((resolve) => {
    watchPodStarts(kube, {
      namespace: NS,
      selector: `${LABELS.runId}=ktprunsched1`,
      graceSeconds: 1,
      signal: stop.signal,
      onProblem: (_pod, problem) => resolve(problem),
    });
  }).finally(() => stop.abort());
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
