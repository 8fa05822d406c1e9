/**
 * kt-deno on the test cluster's real node: the launcher, the controller Job and the task
 * pods, end to end, in a worker image built from the Dockerfile (the README's recipe with
 * the fixture and hello-world functions), running as its non-root user.
 */
import assert from "node:assert/strict";
import type { KubeClient } from "../src/k8s/client.ts";
import type { Cluster } from "./cluster/cluster.ts";
import { LABELS } from "../src/k8s/names.ts";
import type { StateDocument } from "../src/engine/state.ts";
import {
  FIXTURE_FUNCTIONS,
  ktDeno,
  runIdOf,
  spawnKtDeno,
  specFile,
  stateOf,
} from "./cli_helpers.ts";
import { copy } from "./copy.ts";
import { applyRbac, clusterSuite, podLog, runPod, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import { until } from "./until.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/hello-world`;
const FUNCTIONS_IMAGE = await testImage("e2e", [FIXTURE_FUNCTIONS, `${EXAMPLE}/kt_functions`]);
const IMAGE = FUNCTIONS_IMAGE.ref;
/** The controller runs in the worker image too (it has kt-deno). */
const IMAGES = ["--image", IMAGE, "--controller-image", IMAGE];
const NS = "default";

/** Folders the tests make, removed at the end. */
const temporary: string[] = [];

const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });

/** Launches a spec on the cluster (with --wait unless told otherwise). */
async function launch(
  kubeconfig: string,
  spec: unknown,
  options: { wait?: boolean; dataDir?: string } = {},
) {
  const { dir, path } = await specFile(spec);
  temporary.push(dir);
  const dataDir = options.dataDir ?? `${dir}/data`;
  await Deno.mkdir(dataDir, { recursive: true });
  await writableByPods(dataDir);
  const result = await ktDeno(
    [
      "run",
      path,
      ...IMAGES,
      "--data-dir",
      dataDir,
      ...(options.wait === false ? [] : ["--wait"]),
    ],
    dir,
    { KUBECONFIG: kubeconfig },
  );
  return { ...result, dir, dataDir };
}

async function jobsOf(kube: KubeClient, runId: string): Promise<Obj[]> {
  const list = await kube.request<Obj>("GET", `/apis/batch/v1/namespaces/${NS}/jobs`, {
    query: { labelSelector: `${LABELS.runId}=${runId},${LABELS.component}=job` },
  });
  return list.items;
}

async function controllerEnd(kube: KubeClient, runId: string, seconds = 120): Promise<string> {
  return await until("the controller Job to finish", seconds, async () => {
    const job = await kube.request<Obj>(
      "GET",
      `/apis/batch/v1/namespaces/${NS}/jobs/kt-controller-${runId}`,
    );
    return job.status?.conditions?.find((c: Obj) =>
      (c.type === "Complete" || c.type === "Failed") && c.status === "True"
    )
      ?.type;
  });
}

function statuses(state: StateDocument): Record<string, string> {
  return Object.fromEntries(Object.values(state.jobs).map((job) => [job.name, job.status]));
}

const ok = (name: string) => ({ function: "steps.ok", args: { name } });

/** Asks the API server, from inside a pod, with the token the kubelet mounted; prints statuses. */
const ASK_FROM_POD = `
const fs = require("fs"), https = require("https");
const dir = "/var/run/secrets/kubernetes.io/serviceaccount";
const token = fs.readFileSync(dir + "/token", "utf8"), ca = fs.readFileSync(dir + "/ca.crt");
const ns = fs.readFileSync(dir + "/namespace", "utf8");
const ask = (method, path, body) => new Promise((resolve) => {
  const request = https.request({
    host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT,
    method, path, ca, headers: { authorization: "Bearer " + token, "content-type": "application/json" },
  }, (response) => { response.resume(); response.on("end", () => resolve(response.statusCode)); });
  request.on("error", (error) => resolve(String(error)));
  request.end(body ? JSON.stringify(body) : undefined);
});
const job = { apiVersion: "batch/v1", kind: "Job", metadata: { name: "probe" }, spec: { template: {
  spec: { restartPolicy: "Never", containers: [{ name: "c", image: "x" }] } } } };
const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "probe" },
  spec: { containers: [{ name: "c", image: "x" }] } };
(async () => {
  const jobs = "/apis/batch/v1/namespaces/" + ns + "/jobs";
  const api = "/api/v1/namespaces/" + ns;
  console.log(JSON.stringify({
    "list jobs": await ask("GET", jobs),
    "watch jobs": await ask("GET", jobs + "?watch=1&timeoutSeconds=1"),
    "create jobs": await ask("POST", jobs + "?dryRun=All", job),
    "get jobs": await ask("GET", jobs + "/no-such-job"),
    "delete jobs": await ask("DELETE", jobs + "/no-such-job"),
    "patch jobs": await ask("PATCH", jobs + "/no-such-job", {}),
    "update jobs": await ask("PUT", jobs + "/no-such-job", job),
    "list secrets": await ask("GET", api + "/secrets"),
    "create pods": await ask("POST", api + "/pods?dryRun=All", pod),
    "list pods": await ask("GET", api + "/pods"),
    "watch pods": await ask("GET", api + "/pods?watch=1&timeoutSeconds=1"),
    "get pods": await ask("GET", api + "/pods/no-such-pod"),
    "delete pods": await ask("DELETE", api + "/pods/no-such-pod"),
    "list configmaps": await ask("GET", api + "/configmaps"),
  }));
})();
`;

suite.test("a pod with the controller's service account may do only what kt-deno rbac grants", async (context) => {
  await applyRbac(context.kube, NS);
  const result = await runPod(context, {
    metadata: { name: "rbac-probe" },
    spec: {
      serviceAccountName: "kt-pod",
      containers: [{ name: "main", image: IMAGE, command: ["node", "-e", ASK_FROM_POD] }],
    },
  });
  assert.equal(result.exitCode, 0, result.log);
  assert.deepEqual(JSON.parse(result.log), {
    "list jobs": 200,
    "watch jobs": 200,
    "create jobs": 201,
    "get jobs": 404,
    "delete jobs": 403,
    "patch jobs": 403,
    "update jobs": 403,
    "list secrets": 403,
    "create pods": 403,
    "list pods": 200,
    "watch pods": 200,
    "get pods": 404,
    "delete pods": 403,
    "list configmaps": 403,
  });
});

suite.test("an invalid spec exits 2 and creates nothing in the cluster", async ({ cluster, kube }) => {
  const count = async () =>
    (await kube.request<Obj>("GET", `/apis/batch/v1/namespaces/${NS}/jobs`)).items.length +
    (await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/configmaps`)).items.length;
  const before = await count();
  const result = await launch(cluster.kubeconfigPath, {
    name: "bad",
    jobs: [{ name: "a", type: "static", dependencies: ["missing"] }],
  });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /job "a", field dependencies: unknown job "missing"/);
  assert.equal(await count(), before);
});

suite.test("hello-world on the cluster: outputs right, state all Completed, exit 0", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const dir = await Deno.makeTempDir({ prefix: "kt-e2e-hello-" });
  await copy(`${EXAMPLE}/data/input`, `${dir}/data/input`);
  await writableByPods(`${dir}/data`);
  const { dir: specDir } = await specFile({});
  temporary.push(dir, specDir);
  const result = await ktDeno(
    ["run", `${EXAMPLE}/pipeline.yaml`, ...IMAGES, "--data-dir", `${dir}/data`, "--wait"],
    specDir,
    { KUBECONFIG: cluster.kubeconfigPath },
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  for (const name of ["greek.txt", "numbers.txt", "name.txt"]) {
    const input = await Deno.readTextFile(`${dir}/data/input/${name}`);
    const expected = input.trimEnd().split("\n").map((l) => `Hello World: ${l}`).join("\n") + "\n";
    assert.equal(await Deno.readTextFile(`${dir}/data/output/${name}`), expected);
  }
  const state = await stateOf(`${dir}/data`, runId);
  assert.deepEqual(statuses(state), { plan: "Completed", prepend: "Completed" });
  const jobs = await jobsOf(kube, runId);
  assert.deepEqual(jobs.map((j: Obj) => j.metadata.labels[LABELS.job]).sort(), ["plan", "prepend"]);
  for (const job of jobs) {
    assert.equal(job.metadata.ownerReferences[0].name, `kt-controller-${runId}`);
    assert.equal(job.spec.completionMode, "Indexed");
  }
  assert.equal(
    jobs.find((j: Obj) => j.metadata.labels[LABELS.job] === "prepend").spec.completions,
    3,
  );
});

suite.test("a three-stage chain and a diamond run in dependency order", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const result = await launch(cluster.kubeconfigPath, {
    name: "shapes",
    jobs: [
      { name: "a", type: "static", tasks: [ok("a")] },
      { name: "b", type: "static", dependencies: ["a"], tasks: [ok("b")] },
      { name: "c", type: "static", dependencies: ["b"], tasks: [ok("c")] },
      { name: "top", type: "static", tasks: [ok("top")] },
      { name: "left", type: "static", dependencies: ["top"], tasks: [ok("left")] },
      { name: "right", type: "static", dependencies: ["top"], tasks: [ok("right")] },
      {
        name: "join",
        type: "static",
        dependencies: ["left", "right"],
        tasks: [ok("join-0"), ok("join-1")],
      },
    ],
  });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const state = await stateOf(result.dataDir, runIdOf(result.stdout));
  assert.equal(state.status, "Completed");
  const j = state.jobs;
  for (
    const [before, after] of [["a", "b"], ["b", "c"], ["top", "left"], ["top", "right"], [
      "left",
      "join",
    ], ["right", "join"]]
  ) {
    assert.ok(j[before].finished_at! <= j[after].submitted_at!, `${before} before ${after}`);
  }
  // --wait follows the run from the Jobs and the state document: each job shows as
  // running and then completed, and a dependency's completion comes before its dependent.
  const lines = result.stderr.split("\n");
  const at = (job: string, status: string) =>
    lines.findIndex((line) => line.endsWith(` ${job} ${status}`));
  for (const job of Object.keys(j)) {
    assert.ok(at(job, "Running") >= 0, `${job} shown running:\n${result.stderr}`);
    assert.ok(at(job, "Running") < at(job, "Completed"), `${job} shown completed`);
  }
  assert.ok(at("a", "Completed") < at("b", "Running"), result.stderr);
  assert.ok(at("left", "Completed") < at("join", "Running"), result.stderr);
  const seen = JSON.parse(await Deno.readTextFile(`${result.dataDir}/done/join-1`));
  assert.equal(seen.index, 1);
  assert.equal(seen.env.JOB_COMPLETION_INDEX, "1");
});

suite.test("a failing task: kube-transform's statuses, the Job's Failed condition, exit 1", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const result = await launch(cluster.kubeconfigPath, {
    name: "failing",
    jobs: [
      { name: "job-a", type: "dynamic", function: "steps.spawn", args: { jobs: [] } },
      {
        name: "job-b",
        type: "static",
        dependencies: ["job-a"],
        tasks: [ok("b0"), { function: "steps.fail", args: { message: "b1 broke" } }],
      },
      { name: "job-c", type: "static", dependencies: ["job-b"], tasks: [ok("c")] },
    ],
  });
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const runId = runIdOf(result.stdout);
  const state = await stateOf(result.dataDir, runId);
  assert.deepEqual(statuses(state), {
    "job-a": "Completed",
    "job-b": "Failed",
    "job-c": "SkippedDueToUpstreamFailure",
  });
  assert.equal(state.jobs["job-b"].error, "1 of 2 tasks failed: task 1: b1 broke");
  const jobB = (await jobsOf(kube, runId)).find((j: Obj) =>
    j.metadata.labels[LABELS.job] === "job-b"
  );
  assert.ok(jobB.status.conditions.some((c: Obj) => c.type === "Failed" && c.status === "True"));
  assert.equal(await controllerEnd(kube, runId), "Failed");
});

suite.test("a dynamic job fans out to several static jobs and a nested dynamic job", async ({ cluster }) => {
  const result = await launch(cluster.kubeconfigPath, {
    name: "fan",
    jobs: [{
      name: "outer",
      type: "dynamic",
      function: "steps.spawn",
      args: {
        jobs: [
          { name: "s1", type: "static", tasks: [ok("s1-0"), ok("s1-1")] },
          { name: "s2", type: "static", dependencies: ["s1"], tasks: [ok("s2")] },
          {
            name: "inner",
            type: "dynamic",
            function: "steps.spawn",
            args: { jobs: [{ type: "static", tasks: [ok("leaf")] }] },
          },
        ],
      },
    }, { name: "after", type: "static", dependencies: ["outer"], tasks: [ok("after")] }],
  });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const state = await stateOf(result.dataDir, runIdOf(result.stdout));
  assert.deepEqual(statuses(state), {
    outer: "Completed",
    after: "Completed",
    s1: "Completed",
    s2: "Completed",
    inner: "Completed",
    "inner-job-0": "Completed",
  });
  assert.deepEqual(state.jobs.outer.direct_descendants, ["s1", "s2", "inner"]);
  assert.ok(state.jobs["inner-job-0"].finished_at! <= state.jobs.after.submitted_at!);
});

suite.test("two pipelines run at once in one namespace", async ({ cluster }) => {
  const spec = (name: string) => ({
    name,
    jobs: [{
      name: "same-name",
      type: "static",
      tasks: [{ function: "steps.sleep", args: { ms: 1500, name } }],
    }],
  });
  const [one, two] = await Promise.all([
    launch(cluster.kubeconfigPath, spec("one")),
    launch(cluster.kubeconfigPath, spec("two")),
  ]);
  assert.equal(one.code, 0, one.stdout + one.stderr);
  assert.equal(two.code, 0, two.stdout + two.stderr);
  assert.notEqual(runIdOf(one.stdout), runIdOf(two.stdout));
  const spans = await Promise.all(
    [one, two].map(async (r, i) =>
      JSON.parse(await Deno.readTextFile(`${r.dataDir}/spans/${["one", "two"][i]}`))
    ),
  );
  assert.ok(
    spans[0].start < spans[1].end && spans[1].start < spans[0].end,
    "the two runs overlapped",
  );
});

/** The name of the controller's pod while its container runs. */
async function runningController(kube: KubeClient, runId: string): Promise<string | undefined> {
  const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
    query: { labelSelector: `job-name=kt-controller-${runId}` },
  });
  return pods.items.find((p: Obj) => p.status?.containerStatuses?.[0]?.state?.running)
    ?.metadata.name;
}

async function marks(dataDir: string, name: string): Promise<number> {
  const text = await Deno.readTextFile(`${dataDir}/marks/${name}`).catch(() => "");
  return text.split("\n").filter(Boolean).length;
}

suite.test("a controller killed after a dynamic job completed resumes: no Job twice, the dynamic job not rerun", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const mark = (name: string, ms = 0) => ({ function: "steps.mark", args: { name, ms } });
  const { dir, path } = await specFile({
    name: "resume",
    jobs: [
      {
        name: "gen",
        type: "dynamic",
        function: "steps.markSpawn",
        args: {
          name: "gen",
          jobs: [
            { name: "child-a", type: "static", tasks: [mark("child-a", 3000)] },
            {
              name: "child-b",
              type: "static",
              tasks: [mark("child-b-0", 3000), mark("child-b-1")],
            },
            { name: "grandchild", type: "static", dependencies: ["child-a"], tasks: [mark("gc")] },
          ],
        },
      },
      { name: "after", type: "static", dependencies: ["gen"], tasks: [mark("after")] },
    ],
  });
  temporary.push(dir);
  const dataDir = `${dir}/data`;
  await Deno.mkdir(dataDir);
  await writableByPods(dataDir);
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
  const runId = await until<string>("the run id", 60, () => onlyRunId(dataDir));
  // Killed once gen has completed and its children are running.
  const pod = await until<string>("gen's children to run", 90, async () => {
    const state = await stateOf(dataDir, runId);
    if (state.jobs["child-a"]?.status !== "Running") return undefined;
    if (await marks(dataDir, "child-a") === 0) return undefined;
    return await runningController(kube, runId);
  });
  // Deleted with no grace period: the node kills its process at once.
  await kube.request("DELETE", `/api/v1/namespaces/${NS}/pods/${pod}`, {
    body: { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0 },
  });
  const [stdout, stderr, status] = await output;
  assert.equal(status.code, 0, stdout + stderr);
  const state = await stateOf(dataDir, runId);
  assert.equal(state.status, "Completed");
  assert.equal(state.jobs.gen.attempts, 1, "the dynamic job was submitted once");
  for (const name of ["gen", "child-a", "child-b-0", "child-b-1", "gc", "after"]) {
    assert.equal(await marks(dataDir, name), 1, `${name} ran once`);
  }
  const jobs = await jobsOf(kube, runId);
  assert.deepEqual(jobs.map((j: Obj) => j.metadata.labels[LABELS.job]).sort(), [
    "after",
    "child-a",
    "child-b",
    "gen",
    "grandchild",
  ]);
  for (const job of jobs) assert.equal(job.status.failed ?? 0, 0, job.metadata.name);
  const controller = await kube.request<Obj>(
    "GET",
    `/apis/batch/v1/namespaces/${NS}/jobs/kt-controller-${runId}`,
  );
  assert.equal(controller.status.failed, 1, "the first controller pod died, the second finished");
});

/** The log of the controller's (first) pod. */
async function controllerLog(cluster: Cluster, kube: KubeClient, runId: string) {
  const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
    query: { labelSelector: `job-name=kt-controller-${runId}` },
  });
  return await podLog(cluster, pods.items[0].metadata.name);
}

suite.test("a controller whose data dir fails restarts its drive loop in the same pod and finishes", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const mark = (name: string, ms = 0) => ({ function: "steps.mark", args: { name, ms } });
  const result = await launch(cluster.kubeconfigPath, {
    name: "fault",
    jobs: [
      { name: "a", type: "static", tasks: [mark("a", 2000)] },
      { name: "b", type: "static", dependencies: ["a"], tasks: [mark("b")] },
    ],
  }, { wait: false });
  assert.equal(result.code, 0, result.stderr);
  const runId = runIdOf(result.stdout);
  const statePath = `${result.dataDir}/kt-metadata/${runId}/pipeline_run_state.json`;
  await until("job a to run", 60, async () => await marks(result.dataDir, "a") === 1);
  // A directory where the state document should be: every write and read of it fails.
  const saved = await Deno.readTextFile(statePath);
  assert.equal(JSON.parse(saved).jobs.a.status, "Running");
  await Deno.remove(statePath);
  await Deno.mkdir(statePath);
  const log = await until<string>("the controller to meet the fault", 60, async () => {
    const text = await controllerLog(cluster, kube, runId);
    return /recoverable error: .*restarting the drive loop/.test(text) && text;
  });
  assert.match(log, /^\d{4}-\d\d-\d\dT\S+Z recoverable error: /m);
  await Deno.remove(statePath);
  await Deno.writeTextFile(statePath, saved);
  assert.equal(await controllerEnd(kube, runId), "Complete");
  const state = await stateOf(result.dataDir, runId);
  assert.equal(state.status, "Completed");
  assert.equal(await marks(result.dataDir, "a"), 1, "a ran once");
  assert.equal(await marks(result.dataDir, "b"), 1, "b ran once");
  const controller = await kube.request<Obj>(
    "GET",
    `/apis/batch/v1/namespaces/${NS}/jobs/kt-controller-${runId}`,
  );
  assert.equal(controller.status.failed ?? 0, 0, "no controller pod was restarted");
});

/** The id of the one run in a data dir. */
async function onlyRunId(dataDir: string): Promise<string | undefined> {
  for await (const entry of Deno.readDir(`${dataDir}/kt-metadata`)) return entry.name;
}

/** True once the one run in a data dir has submitted `job`. */
async function jobRunning(dataDir: string, job: string): Promise<boolean> {
  const runId = await onlyRunId(dataDir);
  return runId !== undefined && (await stateOf(dataDir, runId)).jobs[job]?.status === "Running";
}

/** A kubeconfig like the cluster's, but reaching the API server through `proxy`. */
async function proxiedKubeconfig(kubeconfig: string, proxy: TcpProxy, dir: string) {
  const config = JSON.parse(await Deno.readTextFile(kubeconfig));
  for (const { cluster } of config.clusters) cluster.server = `https://127.0.0.1:${proxy.port}`;
  await Deno.writeTextFile(`${dir}/kubeconfig`, JSON.stringify(config));
  return `${dir}/kubeconfig`;
}

function apiProxy(server: string): TcpProxy {
  const url = new URL(server);
  const proxy = new TcpProxy({ hostname: url.hostname, port: Number(url.port) });
  proxy.start();
  return proxy;
}

suite.test("--wait rides out an unreachable API server, says so once, and exits 0", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const proxy = apiProxy(cluster.server);
  const { dir, path } = await specFile({
    name: "outage",
    jobs: [{
      name: "slow",
      type: "static",
      tasks: [{ function: "steps.sleep", args: { ms: 3000, name: "outage" } }],
    }],
  });
  temporary.push(dir);
  await Deno.mkdir(`${dir}/data`);
  await writableByPods(`${dir}/data`);
  try {
    const launcher = spawnKtDeno(
      ["run", path, ...IMAGES, "--data-dir", `${dir}/data`, "--wait"],
      dir,
      { KUBECONFIG: await proxiedKubeconfig(cluster.kubeconfigPath, proxy, dir) },
    );
    const output = Promise.all([
      new Response(launcher.stdout).text(),
      new Response(launcher.stderr).text(),
      launcher.status,
    ]);
    await until("job slow to run", 60, () => jobRunning(`${dir}/data`, "slow"));
    proxy.stop();
    // The run ends while the launcher cannot reach the API server.
    await until("the task to finish", 60, () => Deno.stat(`${dir}/data/spans/outage`));
    proxy.start();
    const [stdout, stderr, status] = await output;
    assert.equal(status.code, 0, stdout + stderr);
    assert.equal(stderr.match(/API server unreachable, retrying \.\.\./g)?.length, 1, stderr);
    assert.match(stdout, /run ktpr[0-9a-f]{8} Completed/);
  } finally {
    proxy.stop();
  }
});

suite.test("--wait gives up with exit 3 when the API server stays away, naming the run", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const proxy = apiProxy(cluster.server);
  const { dir, path } = await specFile({
    name: "gone",
    jobs: [{
      name: "slow",
      type: "static",
      tasks: [{ function: "steps.sleep", args: { ms: 2000, name: "gone" } }],
    }],
  });
  temporary.push(dir);
  await Deno.mkdir(`${dir}/data`);
  await writableByPods(`${dir}/data`);
  try {
    const launcher = spawnKtDeno(
      ["run", path, ...IMAGES, "--data-dir", `${dir}/data`, "--wait", "--wait-retry", "2"],
      dir,
      { KUBECONFIG: await proxiedKubeconfig(cluster.kubeconfigPath, proxy, dir) },
    );
    const output = Promise.all([
      new Response(launcher.stdout).text(),
      new Response(launcher.stderr).text(),
      launcher.status,
    ]);
    await until("job slow to run", 60, () => jobRunning(`${dir}/data`, "slow"));
    proxy.stop();
    const [stdout, stderr, status] = await output;
    assert.equal(status.code, 3, stdout + stderr);
    const runId = runIdOf(stdout);
    assert.match(stderr, /API server unreachable, retrying \.\.\./);
    assert.match(
      stderr,
      new RegExp(
        `gave up following run ${runId} \\(API server unreachable for \\d+ s\\); it may still be going`,
      ),
    );
    // The run itself went on.
    assert.equal(
      (await until("the run to end", 60, async () => {
        const state = await stateOf(`${dir}/data`, runId);
        return state.status !== "Running" && state;
      })).status,
      "Completed",
    );
  } finally {
    proxy.stop();
  }
});

suite.test("--context picks a kubeconfig context other than the current one", async ({ cluster }) => {
  const config = JSON.parse(await Deno.readTextFile(cluster.kubeconfigPath));
  config.clusters.push({ name: "nowhere", cluster: { server: "https://127.0.0.1:1" } });
  config.contexts.push({
    name: "nowhere",
    context: { cluster: "nowhere", user: config.users[0].name },
  });
  config["current-context"] = "nowhere";
  const { dir } = await specFile({});
  temporary.push(dir);
  await Deno.mkdir(`${dir}/data`);
  await writableByPods(`${dir}/data`);
  await Deno.writeTextFile(`${dir}/kubeconfig`, JSON.stringify(config));
  const spec = { name: "ctx", jobs: [{ name: "only", type: "static", tasks: [ok("ctx")] }] };
  const { path } = await specFile(spec);
  temporary.push(path.slice(0, path.lastIndexOf("/")));
  const run = (extra: string[]) =>
    ktDeno(["run", path, ...IMAGES, "--data-dir", `${dir}/data`, "--wait", ...extra], dir, {
      KUBECONFIG: `${dir}/kubeconfig`,
    });
  const unknown = await run(["--context", "missing"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no context "missing" in the kubeconfig/);
  const chosen = await run(["--context", "kt-test"]);
  assert.equal(chosen.code, 0, chosen.stdout + chosen.stderr);
  const state = await stateOf(`${dir}/data`, runIdOf(chosen.stdout));
  assert.equal(state.status, "Completed");
});

suite.end();

Deno.test("(temporary folders removed)", async () => {
  for (const dir of temporary) await Deno.remove(dir, { recursive: true });
});
