import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { PipelineRun } from "../src/engine/pipeline_run.ts";
import { parseIndexes } from "../src/k8s/job_status.ts";
import { runSettings } from "../src/k8s/launcher.ts";
import {
  controllerJob,
  defaultPullPolicy,
  ktJob,
  rbacManifests,
  type RunSettings,
} from "../src/k8s/manifests.ts";
import { jobObjectName, LABELS } from "../src/k8s/names.ts";
import { ktDeno, specFile } from "./cli_helpers.ts";

const settings = runSettings({
  runId: "ktpr0123abcd",
  namespace: "pipelines",
  image: "worker:1",
  dataDir: "/mnt/data",
  hostDataPath: "/srv/data",
  runAs: { uid: 1000, gid: 100 },
});

function jobState(name: string, extra: Record<string, unknown> = {}) {
  const run = PipelineRun.start("ktpr0123abcd", {
    name: "p",
    jobs: [{
      name,
      type: "static",
      memory: "1.5Gi",
      cpu: "250m",
      dependencies: [],
      tasks: [{ function: "m.f", args: {} }, { function: "m.f", args: {} }, { args: {} }],
      ...extra,
    }],
  }, new Date());
  return run.job(name)!;
}

// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test("Job names fit in 63 characters and stay unique", () => {
  assert.equal(jobObjectName("ktpr0123abcd", "load"), "load-ktpr0123abcd");
  const a = jobObjectName("ktpr0123abcd", "x".repeat(60) + "a");
  const b = jobObjectName("ktpr0123abcd", "x".repeat(60) + "b");
  assert.equal(a.length, 63);
  assert.notEqual(a, b);
  assert.match(a, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
});

Deno.test("a static job becomes an Indexed Job with its resources, retries and timeout", () => {
  const owner = {
    apiVersion: "batch/v1",
    kind: "Job",
    name: "kt-controller-ktpr0123abcd",
    uid: "u-1",
  };
  const job: Any = ktJob(
    settings,
    jobState("load", { retries: 2, timeout: 90.5, parallelism: 2 }),
    owner,
  );
  assert.equal(job.metadata.name, "load-ktpr0123abcd");
  assert.deepEqual(job.metadata.labels[LABELS.runId], "ktpr0123abcd");
  assert.deepEqual(job.metadata.labels[LABELS.job], "load");
  assert.deepEqual(job.metadata.ownerReferences, [{ ...owner, blockOwnerDeletion: false }]);
  assert.equal(job.spec.completionMode, "Indexed");
  assert.equal(job.spec.completions, 3);
  assert.equal(job.spec.parallelism, 2);
  assert.equal(job.spec.backoffLimitPerIndex, 2);
  assert.equal(job.spec.activeDeadlineSeconds, 91);
  assert.equal(job.spec.ttlSecondsAfterFinished, 3600);
  const pod = job.spec.template.spec;
  assert.equal(pod.restartPolicy, "Never");
  const container = pod.containers[0];
  assert.deepEqual(container.command, ["kt-deno", "task"]);
  assert.deepEqual(container.resources, {
    requests: { cpu: "250m", memory: "1.5Gi" },
    limits: { memory: String(Math.ceil(1.5 * 2 ** 30 * 1.1)) },
  });
  const env = Object.fromEntries(container.env.map((e: Any) => [e.name, e.value ?? e.valueFrom]));
  assert.equal(env.DATA_DIR, "/mnt/data");
  assert.equal(env.KT_JOB_NAME, "load");
  assert.equal(env.KT_VERSION, settings.version);
  assert.equal(
    env.JOB_COMPLETION_INDEX.fieldRef.fieldPath,
    "metadata.annotations['batch.kubernetes.io/job-completion-index']",
  );
  assert.deepEqual(pod.volumes, [{
    name: "data",
    hostPath: { path: "/srv/data", type: "DirectoryOrCreate" },
  }]);
  assert.deepEqual(container.volumeMounts, [{ name: "data", mountPath: "/mnt/data" }]);
});

Deno.test("no host path is mounted for an object store data dir", () => {
  const s3 = { ...settings, dataDir: "s3://bucket/data", hostDataPath: null };
  const job: Any = ktJob(s3, jobState("load"));
  assert.deepEqual(job.spec.template.spec.volumes, []);
  const controller: Any = controllerJob(s3);
  assert.deepEqual(controller.spec.template.spec.volumes, []);
});

Deno.test("the controller Job resumes after crashes but ends on a failed run", () => {
  const job: Any = controllerJob(settings);
  assert.equal(job.metadata.name, "kt-controller-ktpr0123abcd");
  assert.ok(job.spec.backoffLimit >= 5, "five kills in one run still complete");
  // 2: cannot run this run; 3: the run failed. 1 (an uncaught error) and signals restart.
  assert.deepEqual(job.spec.podFailurePolicy.rules, [
    { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
    {
      action: "FailJob",
      onExitCodes: { containerName: "controller", operator: "In", values: [2, 3] },
    },
  ]);
  assert.equal(job.spec.template.spec.serviceAccountName, "kt-pod");
  const env = job.spec.template.spec.containers[0].env;
  const carried = JSON.parse(env.find((e: Any) => e.name === "KT_RUN_SETTINGS").value);
  assert.deepEqual(carried, settings);
});

Deno.test("the controller runs in the worker image unless another is given", () => {
  const pod = (s: RunSettings): Any => (controllerJob(s) as Any).spec.template.spec;
  const container = pod(settings).containers[0];
  assert.equal(container.image, "worker:1");
  assert.deepEqual(container.command, ["kt-deno", "controller"]);
  const other = runSettings({
    runId: "ktpr0123abcd",
    namespace: "pipelines",
    image: "worker:1",
    controllerImage: "ghcr.io/org/kt-deno:0.1.0",
    dataDir: "s3://b/p",
    hostDataPath: null,
  });
  assert.equal(pod(other).containers[0].image, "ghcr.io/org/kt-deno:0.1.0");
  assert.equal(pod(other).containers[0].imagePullPolicy, "IfNotPresent");
  assert.equal(
    (ktJob(other, jobState("load")) as Any).spec.template.spec.containers[0].imagePullPolicy,
    "Never",
  );
});

Deno.test("controller and task pods run as the data dir's owner, non-root, unprivileged", () => {
  for (const pod of [controllerJob(settings), ktJob(settings, jobState("load"))]) {
    const spec: Any = (pod as Any).spec.template.spec;
    assert.deepEqual(spec.securityContext, {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 100,
      seccompProfile: { type: "RuntimeDefault" },
    });
    assert.deepEqual(spec.containers[0].securityContext, {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    assert.equal(spec.containers[0].terminationMessagePolicy, "FallbackToLogsOnError");
  }
  const s3: RunSettings = { ...settings, runAs: null, dataDir: "s3://b", hostDataPath: null };
  const spec: Any = (ktJob(s3, jobState("load")) as Any).spec.template.spec;
  assert.deepEqual(spec.securityContext, {
    runAsNonRoot: true,
    seccompProfile: { type: "RuntimeDefault" },
  });
});

Deno.test("a task's evicted or preempted pod does not use up its retries", () => {
  const job: Any = ktJob(settings, jobState("load", { retries: 1 }));
  assert.deepEqual(job.spec.podFailurePolicy, {
    rules: [{ action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] }],
  });
});

Deno.test("pull policy: Never for images loaded into nodes, IfNotPresent for registries", () => {
  const cases: [string, string][] = [
    ["kt-worker", "Never"],
    ["kt-worker:latest", "Never"],
    ["kt-worker:1.2", "Never"],
    ["org/kt-worker:1", "Never"],
    ["localhost/kt-worker:test", "Never"],
    ["localhost:5000/kt-worker:1", "IfNotPresent"],
    ["ghcr.io/org/kt-worker", "IfNotPresent"],
    ["ghcr.io/org/kt-worker:latest", "IfNotPresent"],
    ["docker.io/library/kt-worker:1", "IfNotPresent"],
    ["registry.example/w@sha256:" + "a".repeat(64), "IfNotPresent"],
  ];
  for (const [image, policy] of cases) assert.equal(defaultPullPolicy(image), policy, image);
  const always: RunSettings = { ...settings, pullPolicy: "Always" };
  assert.equal(
    (ktJob(always, jobState("a")) as Any).spec.template.spec.containers[0].imagePullPolicy,
    "Always",
  );
  assert.equal(
    (controllerJob(always) as Any).spec.template.spec.containers[0].imagePullPolicy,
    "Always",
  );
});

// What the Role allows is proven on the cluster, by what it answers Forbidden
// (k8s_e2e_test.ts); here, that the manifests fit together.
Deno.test("rbac binds the service account every pod runs as to the Role, in the namespace", () => {
  const [account, role, binding]: Any[] = rbacManifests("pipelines");
  const pods = [controllerJob(settings), ktJob(settings, jobState("load"))] as Any[];
  for (const job of pods) {
    assert.equal(job.spec.template.spec.serviceAccountName, account.metadata.name);
  }
  for (const object of [account, role, binding]) {
    assert.equal(object.metadata.namespace, "pipelines");
  }
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "Role",
    name: role.metadata.name,
  });
  assert.deepEqual(binding.subjects, [{
    kind: "ServiceAccount",
    name: account.metadata.name,
    namespace: "pipelines",
  }]);
});

Deno.test("failed indexes expand from the Job status form", () => {
  assert.deepEqual(parseIndexes("1,3-5,9"), [1, 3, 4, 5, 9]);
  assert.deepEqual(parseIndexes(undefined), []);
});

Deno.test("kt-deno rbac prints the manifests as YAML documents", async () => {
  const result = await ktDeno(["rbac", "--namespace", "team-a"], Deno.cwd());
  assert.equal(result.code, 0, result.stderr);
  const docs = parseAllDocuments(result.stdout).map((d) => d.toJS());
  assert.deepEqual(docs, rbacManifests("team-a"));
  const bad = await ktDeno(["rbac", "--namespace", "Not_Valid"], Deno.cwd());
  assert.equal(bad.code, 2);
});

Deno.test("cluster flags need --image; a cluster data dir must be absolute", async () => {
  const { dir, path } = await specFile({ name: "p", jobs: [{ type: "static" }] });
  try {
    const stray = await ktDeno(["run", path, "--namespace", "x", "--data-dir", "d"], dir);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /--namespace needs --image/);
    const relative = await ktDeno(["run", path, "--image", "w:1", "--data-dir", "rel/data"], dir);
    assert.equal(relative.code, 2);
    assert.match(relative.stderr, /must be an absolute path/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad pod flags exit 2 and create nothing", async () => {
  const { dir, path } = await specFile({ name: "p", jobs: [{ type: "static" }] });
  // A kubeconfig for an API server that is not there: nothing may be sent to it anyway.
  await Deno.writeTextFile(
    `${dir}/kubeconfig`,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:9" } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
      "current-context": "x",
    }),
  );
  const run = (...args: string[]) =>
    ktDeno(["run", path, "--image", "w:1", ...args], dir, { KUBECONFIG: `${dir}/kubeconfig` });
  const data = `${dir}/data`;
  try {
    const cases: [string[], RegExp][] = [
      [
        ["--data-dir", data, "--pull-policy", "Sometimes"],
        /--pull-policy must be one of Always, IfNotPresent, Never/,
      ],
      [["--data-dir", data, "--run-as", "0"], /--run-as must be UID\[:GID\] of a non-root user/],
      [["--data-dir", data, "--run-as", "kt"], /--run-as must be UID\[:GID\]/],
      [
        ["--data-dir", "s3://b/p", "--s3-endpoint-in-cluster", "minio:9000"],
        /must be an http:\/\/ or https:\/\/ URL/,
      ],
      [
        ["--data-dir", data, "--s3-endpoint-in-cluster", "http://10.88.0.1:9000"],
        /is for s3:\/\/ data dirs/,
      ],
    ];
    if (Deno.uid() === 0) {
      cases.push([["--data-dir", data], /would be made by root.*--run-as UID\[:GID\]/]);
    }
    for (const [args, message] of cases) {
      const result = await run(...args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, "");
    }
    await assert.rejects(Deno.stat(data), Deno.errors.NotFound);
    const stray = await ktDeno(["run", path, "--pull-policy", "Never", "--data-dir", data], dir);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /--pull-policy needs --image/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pods of an Azure data dir carry AKS workload identity's label; others do not", () => {
  const label = "azure.workload.identity/use";
  for (const dataDir of ["az://data/runs", "abfs://data@acct.dfs.core.windows.net/runs"]) {
    const azure = runSettings({
      runId: "ktpr0123abcd",
      namespace: "p",
      image: "w:1",
      dataDir,
      hostDataPath: null,
    });
    // deno-lint-ignore no-explicit-any
    const pods = [controllerJob(azure), ktJob(azure, jobState("a"))] as any[];
    for (const job of pods) assert.equal(job.spec.template.metadata.labels[label], "true");
    for (const job of pods) assert.equal(job.metadata.labels[label], undefined);
  }
  // deno-lint-ignore no-explicit-any
  const local = controllerJob(settings) as any;
  assert.equal(local.spec.template.metadata.labels[label], undefined);
});

Deno.test("with the cache, a Job of some tasks has one completion each, told its tasks", () => {
  const cached: RunSettings = { ...settings, cache: true };
  const some: Any = ktJob(cached, jobState("load"), undefined, 1, [0, 2]);
  assert.equal(some.spec.completions, 2);
  assert.equal(some.spec.parallelism, 2);
  const env = Object.fromEntries(
    some.spec.template.spec.containers[0].env.map((e: Any) => [e.name, e.value]),
  );
  assert.equal(env.KT_CACHE, "1");
  assert.equal(env.KT_TASK_INDEXES, "0,2");
  assert.equal(env.KT_IMAGE_PATH, "worker:1");
  // Without the cache (or with `cache: false` on the job), neither is set.
  for (
    const job of [
      ktJob(settings, jobState("load")),
      ktJob(cached, jobState("load", { cache: false })),
    ]
  ) {
    const names = (job as Any).spec.template.spec.containers[0].env.map((e: Any) => e.name);
    assert.ok(!names.includes("KT_CACHE") && !names.includes("KT_TASK_INDEXES"));
  }
});
