/**
 * kt-deno on the test cluster's real node: the launcher, the controller Job and the task
 * pods, end to end, in a worker image built from the Dockerfile (the README's recipe with
 * the fixture and hello-world functions), running as its non-root user.
 */
import assert from "node:assert/strict";
import type { KubeClient } from "../src/k8s/client.ts";
import { LABELS } from "../src/k8s/names.ts";
import type { StateDocument } from "../src/engine/state.ts";
import { FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile, stateOf } from "./cli_helpers.ts";
import { copy } from "./copy.ts";
import { applyRbac, clusterSuite, runPod, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { killContainer } from "./cluster/node.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const ROOT = new URL("..", import.meta.url).pathname;
const EXAMPLE = `${ROOT}examples/hello-world`;
const IMAGE = await testImage("e2e", [FIXTURE_FUNCTIONS, `${EXAMPLE}/kt_functions`]);
/** The controller runs in the worker image too (it has kt-deno). */
const IMAGES = ["--image", IMAGE, "--controller-image", IMAGE];
const NS = "default";

/** Folders the tests make, removed at the end. */
const temporary: string[] = [];

const suite = clusterSuite({ images: [IMAGE] });

async function until<T>(
  what: string,
  seconds: number,
  check: () => Promise<T | undefined | null | false>,
) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const value = await check().catch(() => undefined);
    if (value) return value as T;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out after ${seconds}s waiting for ${what}`);
}

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

suite.test("a killed controller is restarted, resumes, and creates no duplicate Job", async ({ cluster, kube }) => {
  const result = await launch(cluster.kubeconfigPath, {
    name: "resume",
    jobs: [
      {
        name: "slow",
        type: "static",
        tasks: [{ function: "steps.sleep", args: { ms: 4000, name: "slow" } }],
      },
      {
        name: "next",
        type: "dynamic",
        dependencies: ["slow"],
        function: "steps.spawn",
        args: { jobs: [{ name: "child", type: "static", tasks: [ok("child")] }] },
      },
      { name: "last", type: "static", dependencies: ["next"], tasks: [ok("last")] },
    ],
  }, { wait: false });
  assert.equal(result.code, 0, result.stderr);
  const runId = runIdOf(result.stdout);
  const container = await until<string>("the controller to submit job slow", 60, async () => {
    const state = await stateOf(result.dataDir, runId).catch(() => null);
    if (state?.jobs.slow.status !== "Running") return undefined;
    const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
      query: { labelSelector: `job-name=kt-controller-${runId}` },
    });
    const running = pods.items.find((p: Obj) => p.status?.phase === "Running");
    return running?.status.containerStatuses[0].containerID;
  });
  await killContainer(container);
  assert.equal(await controllerEnd(kube, runId, 180), "Complete");
  const state = await stateOf(result.dataDir, runId);
  assert.equal(state.status, "Completed");
  const jobs = await jobsOf(kube, runId);
  assert.deepEqual(jobs.map((j: Obj) => j.metadata.labels[LABELS.job]).sort(), [
    "child",
    "last",
    "next",
    "slow",
  ]);
  const controller = await kube.request<Obj>(
    "GET",
    `/apis/batch/v1/namespaces/${NS}/jobs/kt-controller-${runId}`,
  );
  assert.ok(controller.status.failed >= 1, "the first controller pod died");
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
