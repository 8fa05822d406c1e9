import assert from "node:assert/strict";
import {
  endProblem,
  formatBytes,
  type KubePod,
  podStartFields,
  startProblem,
  taskError,
} from "../src/k8s/pod_problems.ts";
import { ReadyPods } from "../src/k8s/job_status.ts";

const NOW = Date.parse("2026-11-27T01:00:00Z");

function waitingPod(reason: string, message: string, image = "kt-wroker:1"): KubePod {
  return {
    metadata: { name: "load-ktpr0123abcd-0-x7k2p" },
    spec: { containers: [{ name: "task", image }] },
    status: {
      phase: "Pending",
      containerStatuses: [{ name: "task", image, state: { waiting: { reason, message } } }],
    },
  };
}

Deno.test("a pod whose image cannot be had names the reason and the image", () => {
  for (
    const reason of ["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"]
  ) {
    const check = startProblem(waitingPod(reason, "it is not there"), NOW);
    assert.ok(check && "problem" in check, reason);
    assert.match(
      check.problem,
      new RegExp(
        `^pod load-ktpr0123abcd-0-x7k2p: ${reason} for image kt-wroker:1: it is not there`,
      ),
    );
  }
  const never = startProblem(waitingPod("ErrImageNeverPull", "not present"), NOW) as {
    problem: string;
  };
  assert.match(never.problem, /--pull-policy IfNotPresent/);
});

Deno.test("a pod whose configuration names something missing says what", () => {
  const check = startProblem(
    waitingPod("CreateContainerConfigError", 'secret "s3-credentials" not found'),
    NOW,
  );
  assert.deepEqual(check, {
    problem:
      'pod load-ktpr0123abcd-0-x7k2p: CreateContainerConfigError: secret "s3-credentials" not found',
  });
});

Deno.test("a pod still creating its container, or running, has no problem", () => {
  assert.equal(startProblem(waitingPod("ContainerCreating", ""), NOW), null);
  assert.equal(startProblem({ metadata: { name: "p" }, status: { phase: "Running" } }, NOW), null);
});

Deno.test("Unschedulable is a problem only after the grace period", () => {
  const since = NOW - 10_000;
  const pod: KubePod = {
    metadata: { name: "p" },
    status: {
      phase: "Pending",
      conditions: [{
        type: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message: "0/1 nodes are available: 1 Insufficient memory.",
        lastTransitionTime: new Date(since).toISOString(),
      }],
    },
  };
  assert.deepEqual(startProblem(pod, NOW, 60), { recheckAt: since + 60_000 });
  assert.deepEqual(startProblem(pod, since + 60_000, 60), {
    problem:
      "pod p: Unschedulable for more than 60s: 0/1 nodes are available: 1 Insufficient memory.",
  });
});

Deno.test("an Unschedulable pod queued behind its run's pods: the grace period runs from the last turnover", () => {
  const since = NOW - 400_000;
  const pod: KubePod = {
    metadata: { name: "p" },
    status: {
      phase: "Pending",
      conditions: [{
        type: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message: "0/1 nodes are available: 1 Too many pods.",
        lastTransitionTime: new Date(since).toISOString(),
      }],
    },
  };
  // Unschedulable for 400 s against a grace of 300 s, but a pod of the run started 10 s ago.
  const turnover = NOW - 10_000;
  assert.deepEqual(startProblem(pod, NOW, 300, turnover), { recheckAt: turnover + 300_000 });
  assert.match(
    (startProblem(pod, turnover + 300_000, 300, turnover) as { problem: string }).problem,
    /^pod p: Unschedulable for more than 300s: .*Too many pods/,
  );
  // A turnover older than the condition changes nothing.
  assert.deepEqual(startProblem(pod, since + 1_000, 300, since - 60_000), {
    recheckAt: since + 300_000,
  });
});

Deno.test("ready pods summed over Jobs as their statuses change, a Job gone taking its own", () => {
  const ready = new ReadyPods();
  const job = (name: string, n?: number) => ({ metadata: { name }, status: { ready: n } });
  ready.update("a", job("a", 3));
  ready.update("b", job("b", 2));
  assert.equal(ready.total, 5);
  ready.update("a", job("a", 1));
  assert.equal(ready.total, 3);
  ready.update("b", job("b")); // finished: the status has no ready pods
  assert.equal(ready.total, 1);
  ready.update("a", undefined);
  ready.update("c", undefined); // a Job never seen
  assert.equal(ready.total, 0);
});

Deno.test("an OOMKilled pod says so with its memory limit", () => {
  const pod: KubePod = {
    metadata: { name: "p" },
    spec: { containers: [{ name: "task", resources: { limits: { memory: "36909875" } } }] },
    status: {
      phase: "Failed",
      containerStatuses: [{
        name: "task",
        state: { terminated: { reason: "OOMKilled", exitCode: 137 } },
      }],
    },
  };
  assert.equal(endProblem(pod), "OOMKilled (limit 35.2Mi)");
});

Deno.test("a crashed pod gives its exit code and last log line; an evicted one its reason", () => {
  const crashed: KubePod = {
    metadata: { name: "p" },
    status: {
      phase: "Failed",
      containerStatuses: [{
        name: "task",
        state: { terminated: { reason: "Error", exitCode: 139, message: "starting\nSegfault\n" } },
      }],
    },
  };
  assert.equal(endProblem(crashed), "Error, exit code 139: Segfault");
  const evicted: KubePod = {
    metadata: { name: "p" },
    status: { phase: "Failed", reason: "Evicted", message: "The node was low on memory." },
  };
  assert.equal(endProblem(evicted), "Evicted: The node was low on memory.");
  const done: KubePod = {
    metadata: { name: "p" },
    status: {
      phase: "Succeeded",
      containerStatuses: [{ name: "task", state: { terminated: { exitCode: 0 } } }],
    },
  };
  assert.equal(endProblem(done), undefined);
});

Deno.test("byte counts read in binary units", () => {
  assert.equal(formatBytes(Math.ceil(2 ** 30 * 1.1)), "1.1Gi");
  assert.equal(formatBytes(2 ** 20 * 512), "512Mi");
  assert.equal(formatBytes(1536), "1.5Ki");
  assert.equal(formatBytes(100), "100");
});

Deno.test("an OOMKill comes before what the task said; otherwise its own words do", () => {
  assert.equal(taskError(null, "OOMKilled (limit 1.1Gi)"), "OOMKilled (limit 1.1Gi)");
  assert.equal(
    taskError("command sh was killed by SIGKILL", "OOMKilled (limit 1.1Gi)"),
    "OOMKilled (limit 1.1Gi): command sh was killed by SIGKILL",
  );
  assert.equal(taskError("boom", "Error, exit code 1: boom"), "boom");
  assert.equal(taskError(null, "Error, exit code 139: Segfault"), "Error, exit code 139: Segfault");
  assert.equal(taskError(null, undefined), undefined);
});

Deno.test("a watched pod is held as the fields read of it, and reads the same", () => {
  // A Pending task pod as the API server returns it (trimmed, still the usual parts).
  const full = (status: KubePod["status"]) => ({
    metadata: {
      name: "load-ktpr0123abcd-7-x7k2p",
      resourceVersion: "4711",
      creationTimestamp: new Date(NOW - 20_000).toISOString(),
      labels: { "kt-deno.dev/run-id": "ktpr0123abcd", "kt-deno.dev/job": "load" },
      annotations: { "batch.kubernetes.io/job-completion-index": "7" },
      ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "kt-ktpr0123abcd-load" }],
      managedFields: [{ manager: "kube-controller-manager", fieldsV1: { "f:spec": {} } }],
    },
    spec: {
      containers: [{
        name: "task",
        image: "kt-worker:1",
        resources: { limits: { memory: "256Mi" } },
        env: Array.from({ length: 12 }, (_, i) => ({ name: `KT_VAR_${i}`, value: "x".repeat(40) })),
        volumeMounts: [{ name: "kube-api-access", mountPath: "/var/run/secrets" }],
      }],
      volumes: [{ name: "kube-api-access", projected: { sources: [] } }],
      tolerations: [{ key: "node.kubernetes.io/not-ready", operator: "Exists" }],
    },
    status,
  });
  const unschedulable = {
    phase: "Pending",
    conditions: [
      { type: "PodReadyToStartContainers", status: "False" },
      {
        type: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message: "0/1 nodes are available: 1 Too many pods.",
        lastTransitionTime: new Date(NOW - 10_000).toISOString(),
      },
    ],
  };
  const waiting = (reason: string) => waitingPod(reason, "no such thing", "kt-worker:1").status;
  for (
    const status of [
      unschedulable,
      waiting("ErrImageNeverPull"),
      waiting("CreateContainerConfigError"),
      waiting("ContainerCreating"),
      undefined,
    ]
  ) {
    const pod: KubePod = full(status);
    const held = podStartFields(pod);
    for (
      const [now, turnover] of [[NOW, -Infinity], [NOW + 400_000, -Infinity], [NOW + 400_000, NOW]]
    ) {
      assert.deepEqual(
        startProblem(held, now, 300, turnover),
        startProblem(pod, now, 300, turnover),
      );
    }
    assert.deepEqual(held.metadata.labels, pod.metadata.labels);
    assert.ok(JSON.stringify(held).length * 3 < JSON.stringify(pod).length, JSON.stringify(held));
  }
});
