/**
 * Simulated nodes for the scale tests: kwok (built from its Go module by
 * tests/kwok/build.sh, cached outside the repository) joined to a test cluster. Its nodes
 * are tainted and labelled, so only jobs that select them and tolerate the taint land
 * there; their pods run and succeed at once (tests/kwok/stages.yaml) with no process.
 *
 * ```ts ignore
 * import { startKwok } from "./kwok/harness.ts";
 * const kwok = await startKwok(kube, cluster.kubeconfigPath, { nodes: 2 });
 * try {
 *   // a job with node_selector: kwok.nodeSelector and tolerations: kwok.tolerations
 * } finally {
 *   await kwok.stop();
 * }
 * ```
 *
 * @module
 */
import { ApiError, type KubeClient } from "../../src/k8s/client.ts";
import { buildTool } from "../cluster/host.ts";
import { freePort, isAlive } from "../ports.ts";
import { until } from "../until.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** The annotation kwok is told to manage nodes by, and the taint its nodes carry. */
export const KWOK_KEY = "kwok.x-k8s.io/node";

/** A running kwok and its nodes. */
export interface Kwok {
  nodeNames: string[];
  /** A job's `node_selector` that puts its pods on the kwok nodes. */
  nodeSelector: Record<string, string>;
  /** A job's `tolerations` that let its pods past the kwok nodes' taint. */
  tolerations: { key: string; operator: "Exists"; effect: "NoSchedule" }[];
  pid: number;
  /** Stops kwok (by PID) and deletes its nodes and the pods bound to them. */
  stop(): Promise<void>;
}

/** Builds kwok if needed; returns the binary. */
export function buildKwok(): Promise<string> {
  return buildTool(`${HERE}build.sh`);
}

/** Starts kwok against the cluster of `kubeconfigPath` and registers `nodes` simulated nodes. */
export async function startKwok(
  kube: KubeClient,
  kubeconfigPath: string,
  options: { nodes?: number; logFile?: string } = {},
): Promise<Kwok> {
  const binary = await buildKwok();
  const nodeNames = Array.from({ length: options.nodes ?? 2 }, (_, i) => `kt-kwok-${i}`);
  const nodeSelector = { "kt-deno.dev/pool": "kwok" };
  for (const name of nodeNames) {
    await kube.request("POST", "/api/v1/nodes", {
      body: {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name,
          annotations: { [KWOK_KEY]: "fake" },
          labels: { ...nodeSelector, "kubernetes.io/hostname": name, type: "kwok" },
        },
        spec: { taints: [{ key: KWOK_KEY, value: "fake", effect: "NoSchedule" }] },
      },
    }).catch((error) => {
      if (!(error instanceof ApiError && error.status === 409)) throw error;
    });
  }
  const log = options.logFile ?? "/dev/null";
  const child = new Deno.Command("setsid", {
    args: [
      "sh",
      "-c",
      `exec "$0" "$@" >>"${log}" 2>&1`,
      binary,
      `--kubeconfig=${kubeconfigPath}`,
      `--config=${HERE}stages.yaml`,
      "--manage-all-nodes=false",
      `--manage-nodes-with-annotation-selector=${KWOK_KEY}=fake`,
      "--node-ip=127.0.0.1",
      "--cidr=10.89.0.0/16",
      `--server-address=127.0.0.1:${freePort()}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.status.catch(() => {});
  const pid = child.pid;
  const stop = async () => {
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      try {
        Deno.kill(-pid, signal);
      } catch {
        break;
      }
      const deadline = Date.now() + 5000;
      while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!isAlive(pid)) break;
    }
    await child.status.catch(() => {});
    for (const name of nodeNames) {
      // Without a kubelet nothing finishes a graceful delete: pods bound here go at once.
      const pods = await kube.request<
        { items: { metadata: { name: string; namespace: string } }[] }
      >(
        "GET",
        "/api/v1/pods",
        { query: { fieldSelector: `spec.nodeName=${name}` } },
      ).catch(() => ({ items: [] }));
      for (const pod of pods.items) {
        await kube.request(
          "DELETE",
          `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`,
          { query: { gracePeriodSeconds: 0 } },
        ).catch(() => {});
      }
      await kube.request("DELETE", `/api/v1/nodes/${name}`).catch(() => {});
    }
  };
  try {
    await until("the kwok nodes to be Ready", 60, async () => {
      for (const name of nodeNames) {
        const node = await kube.request<
          { status?: { conditions?: { type: string; status: string }[] } }
        >("GET", `/api/v1/nodes/${name}`);
        const ready = node.status?.conditions?.some((c) =>
          c.type === "Ready" && c.status === "True"
        );
        if (!ready) return false;
      }
      return true;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodeNames,
    nodeSelector,
    tolerations: [{ key: KWOK_KEY, operator: "Exists", effect: "NoSchedule" }],
    pid,
    stop,
  };
}
