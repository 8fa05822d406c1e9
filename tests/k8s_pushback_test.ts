/**
 * The Kubernetes side under pressure, on a real API server started with low inflight
 * limits (and no priority and fairness, so that excess requests get 429 at once): the
 * client retries 429s, a silent watch is restarted, a run still completes, and a
 * 100,000-task job is launched with few storage writes.
 */
import assert from "node:assert/strict";
import { PipelineRun } from "../src/engine/pipeline_run.ts";
import { KubeClient } from "../src/k8s/client.ts";
import { KubernetesExecutor } from "../src/k8s/executor.ts";
import { Informer } from "../src/k8s/informer.ts";
import { runSettings } from "../src/k8s/launcher.ts";
import { LABELS } from "../src/k8s/names.ts";
import { CHUNK_BYTES, readTaskDefinition } from "../src/records/task_files.ts";
import { taskChunkPath } from "../src/records/layout.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import type { StorageDriver } from "../src/storage/driver.ts";
import { LocalDriver } from "../src/storage/local.ts";
import { FIXTURE_FUNCTIONS, ktDeno, runIdOf, specFile, stateOf } from "./cli_helpers.ts";
import { applyRbac, clusterSuite, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import { until } from "./until.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const FUNCTIONS_IMAGE = await testImage("pushback", [FIXTURE_FUNCTIONS]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const NS = "default";
const temporary: string[] = [];

const suite = clusterSuite({
  images: [FUNCTIONS_IMAGE],
  apiServerFlags: [
    "--enable-priority-and-fairness=false",
    "--max-requests-inflight=4",
    "--max-mutating-requests-inflight=2",
  ],
});

/** A store that counts writes and the bytes read. */
function counting(driver: StorageDriver) {
  const counts = { writes: 0, bytesRead: 0 };
  const fs = new DataFs(
    new Proxy(driver, {
      get(target, key) {
        const value = Reflect.get(target, key);
        if (key === "write") {
          return (path: string, data: Uint8Array) => {
            counts.writes++;
            return target.write(path, data);
          };
        }
        if (key === "read") {
          return async (path: string) => {
            const data = await target.read(path);
            counts.bytesRead += data.length;
            return data;
          };
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    }),
  );
  return { fs, counts };
}

/** A client that acts as a new service account allowed to create and list ConfigMaps. */
async function serviceAccountClient(kube: KubeClient, name: string, maxInFlight: number) {
  const rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + NS;
  await kube.request("POST", `/api/v1/namespaces/${NS}/serviceaccounts`, {
    body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name } },
  });
  await kube.request("POST", `${rbac}/roles`, {
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name },
      rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["create", "list"] }],
    },
  });
  await kube.request("POST", `${rbac}/rolebindings`, {
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: NS }],
    },
  });
  const token = await kube.request<Obj>(
    "POST",
    `/api/v1/namespaces/${NS}/serviceaccounts/${name}/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds: 600 },
      },
    },
  );
  return new KubeClient({
    server: kube.connection.server,
    namespace: NS,
    caCerts: kube.connection.caCerts,
    headers: () => Promise.resolve({ Authorization: `Bearer ${token.status.token}` }),
  }, { maxInFlight });
}

// The admin's requests (system:masters) are exempt from the inflight limits; a service
// account's, like the controller's, are not.
suite.test("429s from the API server are retried until every request succeeds", async ({ kube }) => {
  const eager = await serviceAccountClient(kube, "burst", 40);
  try {
    await Promise.all(
      Array.from(
        { length: 80 },
        (_, i) =>
          eager.request("POST", `/api/v1/namespaces/${NS}/configmaps`, {
            body: {
              apiVersion: "v1",
              kind: "ConfigMap",
              metadata: { name: `burst-${i}`, labels: { burst: "yes" } },
              data: { i: String(i) },
            },
          }),
      ),
    );
    assert.ok(eager.retries.throttled > 0, `429s were met: ${JSON.stringify(eager.retries)}`);
    const list = await eager.request<Obj>("GET", `/api/v1/namespaces/${NS}/configmaps`, {
      query: { labelSelector: "burst=yes" },
    });
    assert.equal(list.items.length, 80);
  } finally {
    eager.close();
  }
});

suite.test("a watch silent for longer than the idle bound is restarted and misses nothing", async ({ kube }) => {
  const seen: string[] = [];
  const lines: string[] = [];
  const informer = new Informer<Obj>({
    kube,
    path: `/api/v1/namespaces/${NS}/configmaps`,
    labelSelector: "quiet=yes",
    onChange: (name, object) => object && seen.push(name),
    log: (line) => lines.push(line),
    idleMs: 300,
    watchSeconds: 120,
  });
  await informer.start();
  try {
    await until("two idle restarts", 30, () => Promise.resolve((informer.ended.idle ?? 0) >= 2));
    assert.equal(
      lines[0],
      "watch of configmaps (quiet=yes) ended: no event or bookmark for 300 ms; resuming",
    );
    await kube.request("POST", `/api/v1/namespaces/${NS}/configmaps`, {
      body: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "late", labels: { quiet: "yes" } },
      },
    });
    await until("the change after the restarts", 30, () => Promise.resolve(seen.includes("late")));
  } finally {
    await informer.stop();
  }
});

suite.test("a blackholed watch (connection open, traffic dropped) is replaced and catches up", async ({ cluster, kube }) => {
  const url = new URL(cluster.server);
  const proxy = new TcpProxy({ hostname: url.hostname, port: Number(url.port) });
  proxy.start();
  const through = new KubeClient(
    { ...kube.connection, server: `https://127.0.0.1:${proxy.port}` },
    { requestTimeoutMs: 1000, retryForMs: 2000, maxBackoffMs: 500 },
  );
  const seen = new Set<string>();
  const lines: string[] = [];
  const informer = new Informer<Obj>({
    kube: through,
    path: `/api/v1/namespaces/${NS}/configmaps`,
    labelSelector: "blackhole=yes",
    onChange: (name, object) => object && seen.add(name),
    log: (line) => lines.push(line),
    idleMs: 1000,
    watchSeconds: 120,
  });
  await informer.start();
  try {
    const made = (name: string) =>
      kube.request("POST", `/api/v1/namespaces/${NS}/configmaps`, {
        body: {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name, labels: { blackhole: "yes" } },
        },
      });
    await made("before");
    await until("the change before the blackhole", 30, () => Promise.resolve(seen.has("before")));
    proxy.blackholed = true;
    await made("during");
    const idle = informer.ended.idle ?? 0;
    await until(
      "the silent watch to be dropped",
      30,
      () => Promise.resolve((informer.ended.idle ?? 0) > idle),
    );
    assert.equal(seen.has("during"), false, "nothing passes the blackhole");
    proxy.blackholed = false;
    await until(
      "the change made during the blackhole",
      30,
      () => Promise.resolve(seen.has("during")),
    );
    assert.ok(
      lines.some((line) => line.includes("no event or bookmark for 1000 ms")),
      lines.join("\n"),
    );
  } finally {
    await informer.stop();
    through.close();
    proxy.stop();
  }
});

suite.test("a dynamic job fanning out to 20 jobs completes under the low inflight limits", async ({ cluster, kube }) => {
  await applyRbac(kube, NS);
  const { dir, path } = await specFile({
    name: "pushback",
    jobs: [{
      name: "fan",
      type: "dynamic",
      function: "steps.spawn",
      args: {
        jobs: Array.from({ length: 20 }, (_, i) => ({
          name: `leaf-${i}`,
          type: "static",
          tasks: [{ function: "steps.noop" }],
        })),
      },
    }],
  });
  temporary.push(dir);
  await Deno.mkdir(`${dir}/data`);
  await writableByPods(`${dir}/data`);
  const result = await ktDeno(
    [
      "run",
      path,
      "--image",
      IMAGE,
      "--controller-image",
      IMAGE,
      "--data-dir",
      `${dir}/data`,
      "--wait",
    ],
    dir,
    { KUBECONFIG: cluster.kubeconfigPath },
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const state = await stateOf(`${dir}/data`, runIdOf(result.stdout));
  assert.equal(Object.values(state.jobs).filter((j) => j.status === "Completed").length, 21);
});

suite.test("a 100,000-task job's Job is created after few storage writes, and a pod reads only its chunk", async ({ kube }) => {
  const dataDir = await Deno.makeTempDir({ prefix: "kt-wide-" });
  temporary.push(dataDir);
  await writableByPods(dataDir);
  const runId = "ktpr0000wide";
  const tasks = 100_000;
  const run = PipelineRun.start(runId, {
    name: "wide",
    jobs: [{
      name: "wide",
      type: "static",
      cpu: "10m",
      memory: "64Mi",
      parallelism: 1,
      dependencies: [],
      tasks: Array.from({ length: tasks }, (_, i) => ({ function: "steps.noop", args: { i } })),
    }],
  }, new Date());
  const [job] = run.advance(new Date());
  const { fs, counts } = counting(new LocalDriver(dataDir));
  const settings = runSettings({
    runId,
    namespace: NS,
    image: IMAGE,
    dataDir,
    hostDataPath: dataDir,
  });
  const executor = new KubernetesExecutor({ kube, settings, fs });
  await executor.start();
  try {
    void executor.run(job);
    const name = await until<string>("the Job", 120, () => {
      return Promise.resolve(executor.existing().get("wide")?.metadata.name);
    });
    const created = await kube.request<Obj>(
      "GET",
      `/apis/batch/v1/namespaces/${NS}/jobs/${name}`,
    );
    const perChunk = Number(
      created.spec.template.spec.containers[0].env.find((e: Obj) => e.name === "KT_TASKS_PER_CHUNK")
        .value,
    );
    assert.equal(perChunk, 64);
    assert.equal(counts.writes, Math.ceil(tasks / perChunk), "one write per chunk");
    for (const index of [0, 12_345, tasks - 1]) {
      const before = counts.bytesRead;
      const task = await readTaskDefinition(fs, runId, "wide", index, perChunk);
      assert.deepEqual(task.args, { i: index });
      assert.ok(
        counts.bytesRead - before <= CHUNK_BYTES,
        `task ${index} read ${counts.bytesRead - before} bytes`,
      );
    }
    assert.ok((await Deno.stat(`${dataDir}/${taskChunkPath(runId, "wide", 0)}`)).size <= 4096);
    // The first pod finds its task in its chunk and succeeds.
    await until("a pod to succeed", 120, async () => {
      const object = await kube.request<Obj>(
        "GET",
        `/apis/batch/v1/namespaces/${NS}/jobs/${created.metadata.name}`,
      );
      return (object.status?.succeeded ?? 0) >= 1;
    });
  } finally {
    await executor.stop("test over");
    await kube.request("DELETE", `/apis/batch/v1/namespaces/${NS}/jobs/wide-${runId}`, {
      body: { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Foreground" },
    });
    await until("the Job to be gone", 60, async () => {
      const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
        query: { labelSelector: `${LABELS.runId}=${runId}` },
      });
      return pods.items.length === 0;
    });
  }
});

suite.end();

Deno.test("(temporary folders removed)", async () => {
  for (const dir of temporary) await Deno.remove(dir, { recursive: true });
});
