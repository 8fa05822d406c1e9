/**
 * The test cluster itself: Jobs, scheduling, service accounts, deletion and logs on its
 * real node, with the fixture worker image (built from the Dockerfile) as a plain image.
 */
import assert from "node:assert/strict";
import { ApiError, KubeClient } from "../src/k8s/client.ts";
import { FIXTURE_FUNCTIONS } from "./cli_helpers.ts";
import { startCluster } from "./cluster/cluster.ts";
import { clusterSuite, podLog, writableByPods } from "./cluster/harness.ts";
import { testImage } from "./cluster/images.ts";
import { containerIdOf, containerPids } from "./cluster/node.ts";
import { isAlive } from "./ports.ts";
import { until } from "./until.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const FUNCTIONS_IMAGE = await testImage("fixtures", [FIXTURE_FUNCTIONS]);
const IMAGE = FUNCTIONS_IMAGE.ref;
const suite = clusterSuite({ images: [FUNCTIONS_IMAGE] });
const NS = "default";

function job(name: string, spec: Obj, podSpec: Obj): Obj {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: NS },
    spec: { ...spec, template: { spec: { restartPolicy: "Never", ...podSpec } } },
  };
}

function condition(object: Obj, type: string): Obj | undefined {
  return object.status?.conditions?.find((c: Obj) => c.type === type && c.status === "True");
}

suite.test("an Indexed Job runs three pods that each see their own completion index", async ({ kube }) => {
  const out = await Deno.makeTempDir({ prefix: "kt-indexed-" });
  await writableByPods(out);
  try {
    await kube.request("POST", `/apis/batch/v1/namespaces/${NS}/jobs`, {
      body: job("indexed", { completionMode: "Indexed", completions: 3, parallelism: 3 }, {
        containers: [{
          name: "main",
          image: IMAGE,
          command: [
            "sh",
            "-c",
            'echo "$JOB_COMPLETION_INDEX $HOSTNAME" > "/out/$JOB_COMPLETION_INDEX"',
          ],
          env: [{
            name: "JOB_COMPLETION_INDEX",
            valueFrom: {
              fieldRef: {
                fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']",
              },
            },
          }],
          volumeMounts: [{ name: "out", mountPath: "/out" }],
        }],
        volumes: [{ name: "out", hostPath: { path: out, type: "Directory" } }],
      }),
    });
    await until(
      "the Job to complete",
      60,
      async () =>
        condition(
          await kube.request("GET", `/apis/batch/v1/namespaces/${NS}/jobs/indexed`),
          "Complete",
        ),
    );
    const seen = await Promise.all(
      [0, 1, 2].map(async (i) => (await Deno.readTextFile(`${out}/${i}`)).trim().split(" ")),
    );
    assert.deepEqual(seen.map(([index]) => index), ["0", "1", "2"]);
    assert.equal(
      new Set(seen.map(([, pod]) => pod)).size,
      3,
      `three pods: ${JSON.stringify(seen)}`,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

suite.test("a failing pod is retried up to backoffLimit and the Job fails", async ({ kube }) => {
  await kube.request("POST", `/apis/batch/v1/namespaces/${NS}/jobs`, {
    body: job("failing", { backoffLimit: 1 }, {
      containers: [{ name: "main", image: IMAGE, command: ["sh", "-c", "exit 3"] }],
    }),
  });
  const failed = await until<Obj>("the Job to fail", 90, async () => {
    const object = await kube.request<Obj>("GET", `/apis/batch/v1/namespaces/${NS}/jobs/failing`);
    return condition(object, "Failed") ? object : undefined;
  });
  assert.equal(condition(failed, "Failed").reason, "BackoffLimitExceeded");
  assert.equal(failed.status.failed, 2);
  const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
    query: { labelSelector: "job-name=failing" },
  });
  assert.equal(pods.items.length, 2);
  for (const pod of pods.items) {
    assert.equal(pod.status.phase, "Failed");
    assert.equal(pod.status.containerStatuses[0].state.terminated.exitCode, 3);
  }
});

suite.test("a pod that asks for more CPU than the node has stays Pending with the scheduler's reason", async ({ kube }) => {
  await kube.request("POST", `/api/v1/namespaces/${NS}/pods`, {
    body: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "too-big" },
      spec: {
        restartPolicy: "Never",
        containers: [{
          name: "main",
          image: IMAGE,
          command: ["true"],
          resources: { requests: { cpu: "16" } },
        }],
      },
    },
  });
  const scheduled = await until<Obj>("the scheduler's verdict", 60, async () => {
    const pod = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods/too-big`);
    return pod.status?.conditions?.find((c: Obj) =>
      c.type === "PodScheduled" && c.status === "False"
    );
  });
  assert.equal(scheduled.reason, "Unschedulable");
  assert.match(scheduled.message, /Insufficient cpu/);
  const pod = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods/too-big`);
  assert.equal(pod.status.phase, "Pending");
  await kube.request("DELETE", `/api/v1/namespaces/${NS}/pods/too-big`);
});

suite.test("a service account allowed Jobs can create Jobs and may not read Secrets", async ({ kube }) => {
  await kube.request("POST", `/api/v1/namespaces/${NS}/serviceaccounts`, {
    body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "job-maker" } },
  });
  await kube.request("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, {
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "job-maker" },
      rules: [{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "list"] }],
    },
  });
  await kube.request("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "job-maker" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "job-maker" },
      subjects: [{ kind: "ServiceAccount", name: "job-maker", namespace: NS }],
    },
  });
  const token = await kube.request<Obj>(
    "POST",
    `/api/v1/namespaces/${NS}/serviceaccounts/job-maker/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds: 600 },
      },
    },
  );
  const asAccount = new KubeClient({
    server: kube.connection.server,
    namespace: NS,
    caCerts: kube.connection.caCerts,
    headers: () => Promise.resolve({ Authorization: `Bearer ${token.status.token}` }),
  });
  try {
    const created = await asAccount.request<Obj>("POST", `/apis/batch/v1/namespaces/${NS}/jobs`, {
      body: job("made-by-account", { suspend: true }, {
        containers: [{ name: "main", image: IMAGE, command: ["true"] }],
      }),
    });
    assert.equal(created.metadata.name, "made-by-account");
    await assert.rejects(
      () => asAccount.request("GET", `/api/v1/namespaces/${NS}/secrets`),
      (error: unknown) =>
        error instanceof ApiError && error.status === 403 && error.reason === "Forbidden",
    );
  } finally {
    asAccount.close();
  }
});

suite.test("deleting a Job with foreground propagation removes its pods and stops their processes", async ({ kube }) => {
  await kube.request("POST", `/apis/batch/v1/namespaces/${NS}/jobs`, {
    body: job("sleeper", { completions: 2, parallelism: 2 }, {
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: "main",
        image: IMAGE,
        command: ["sh", "-c", "sleep 300 & sleep 300"],
      }],
    }),
  });
  const pids = await until<number[]>("two running pods", 60, async () => {
    const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
      query: { labelSelector: "job-name=sleeper" },
    });
    const running = pods.items.filter((p: Obj) => p.status?.phase === "Running");
    if (running.length !== 2) return undefined;
    const ids = running.map((p: Obj) => containerIdOf(p.status.containerStatuses[0].containerID));
    const hostPids = await containerPids();
    return ids.every((id: string) => hostPids.has(id)) && ids.map((id: string) => hostPids.get(id));
  });
  for (const pid of pids) assert.ok(isAlive(pid), `process ${pid} runs`);
  await kube.request("DELETE", `/apis/batch/v1/namespaces/${NS}/jobs/sleeper`, {
    body: { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Foreground" },
  });
  await until("the Job and its pods to be gone", 60, async () => {
    const pods = await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods`, {
      query: { labelSelector: "job-name=sleeper" },
    });
    const jobGone = await kube.request("GET", `/apis/batch/v1/namespaces/${NS}/jobs/sleeper`).then(
      () => false,
      (error) => error instanceof ApiError && error.status === 404,
    );
    return jobGone && pods.items.length === 0;
  });
  for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} was stopped`);
});

suite.test("a container's output is served to kubectl logs through the API server", async ({ cluster, kube }) => {
  await kube.request("POST", `/api/v1/namespaces/${NS}/pods`, {
    body: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "talker" },
      spec: {
        restartPolicy: "Never",
        containers: [{
          name: "main",
          image: IMAGE,
          command: ["sh", "-c", "echo out; echo err >&2"],
        }],
      },
    },
  });
  await until(
    "the pod to finish",
    60,
    async () =>
      (await kube.request<Obj>("GET", `/api/v1/namespaces/${NS}/pods/talker`)).status?.phase ===
        "Succeeded",
  );
  assert.deepEqual((await podLog(cluster, "talker")).trim().split("\n").sort(), ["err", "out"]);
});

suite.test("a second real node on this machine is refused and the running one is left alone", async ({ cluster, kube }) => {
  const dir = await Deno.makeTempDir({ prefix: "kt-second-cluster-" });
  await assert.rejects(
    () => startCluster({ dir }),
    (error: Error) =>
      error.message.includes(`a real node is already running for the cluster in ${cluster.dir}`) &&
      error.message.includes(`deno task cluster:down --dir ${cluster.dir}`),
  );
  await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound);
  const node = await kube.request<Obj>("GET", `/api/v1/nodes/${cluster.nodeName}`);
  assert.ok(condition(node, "Ready"));
});

suite.end();
