/**
 * The test helper for test files that need a cluster: one cluster per test file, started
 * by the first test that uses it and always stopped by a last test that
 * {@linkcode ClusterSuite.end} registers, whether the tests before it passed or not.
 *
 * ```ts ignore
 * import { clusterSuite } from "./cluster/harness.ts";
 * import { testImage } from "./cluster/images.ts";
 * const FIXTURES = await testImage("fixtures", ["tests/fixtures/kt_functions"]); // names it only
 * const suite = clusterSuite({ images: [FIXTURES] }); // built when the cluster starts
 * suite.test("a Job runs", async ({ cluster, kube }) => {
 *   await kube.request("POST", "/apis/batch/v1/namespaces/default/jobs", { body: job });
 * });
 * suite.end();
 * ```
 *
 * @module
 */
import { ApiError, KubeClient, kubeconfigConnection } from "../../src/k8s/client.ts";
import { type Cluster, type ClusterOptions, startCluster } from "./cluster.ts";
import { until } from "../until.ts";
import { isRunning } from "./host.ts";
import { NodeBusyError, nodeClaimedByOther, nodeLeftovers, readSysctls } from "./node.ts";

/** What a cluster test gets. */
export interface ClusterContext {
  cluster: Cluster;
  /** An admin client of the cluster (closed at the end of the suite). */
  kube: KubeClient;
}

/** The tests of one file that share a cluster. */
export interface ClusterSuite {
  /** Registers a test that runs against the cluster. */
  test(name: string, fn: (context: ClusterContext) => Promise<void>): void;
  /** Registers the last test, which stops the cluster. Call it after the last `test`. */
  end(): void;
}

/** A cluster suite for this test file. */
export function clusterSuite(options: ClusterOptions = {}): ClusterSuite {
  let starting: Promise<ClusterContext> | undefined;
  let sysctlsBefore: Record<string, string> = {};
  const start = async (): Promise<ClusterContext> => {
    sysctlsBefore = await readSysctls();
    const cluster = await startCluster(options).catch((error) => {
      // said now, in the first test's output: every later test of the file fails on it too
      console.error(`the test cluster did not start: ${error?.stack ?? error}`);
      throw error;
    });
    const previous = Deno.env.get("KUBECONFIG");
    Deno.env.set("KUBECONFIG", cluster.kubeconfigPath);
    try {
      return { cluster, kube: new KubeClient(await kubeconfigConnection()) };
    } catch (error) {
      await cluster.stop();
      throw error;
    } finally {
      if (previous === undefined) Deno.env.delete("KUBECONFIG");
      else Deno.env.set("KUBECONFIG", previous);
    }
  };
  const settings = { sanitizeOps: false, sanitizeResources: false, sanitizeExit: false };
  return {
    test(name, fn) {
      Deno.test({ name, ...settings, fn: async () => await fn(await (starting ??= start())) });
    },
    end() {
      Deno.test({
        name:
          "the test cluster stops and leaves no process, mount, bridge, iptables rule or chain, cgroup or kernel setting behind",
        ...settings,
        fn: async () => {
          if (!starting) return;
          // a cluster that failed to start was stopped by startCluster: check that too
          let busy = false;
          const context = await starting.catch((error) => {
            busy = error instanceof NodeBusyError;
          });
          starting = undefined;
          // another cluster's node: what is on the machine is not ours to check
          if (busy) return;
          let pids: Record<string, number> = {};
          let dir: string | undefined;
          if (context) {
            context.kube.close();
            dir = context.cluster.dir;
            pids = JSON.parse(await Deno.readTextFile(`${dir}/pids.json`));
            if (!pids.kubelet) throw new Error("no kubelet was started");
            await context.cluster.stop();
          }
          // a queued cluster took the node as soon as ours let it go: the machine is theirs
          if (await nodeClaimedByOther()) {
            const running = Object.values(pids).filter(isRunning);
            if (running.length) throw new Error(`still running: ${running.join(" ")}`);
            return;
          }
          const left = await nodeLeftovers(Object.values(pids), dir);
          if (left.length) throw new Error(`left after the cluster stopped:\n${left.join("\n")}`);
          const after = await readSysctls();
          for (const [key, value] of Object.entries(sysctlsBefore)) {
            if (after[key] !== value) throw new Error(`${key} is ${after[key]}, was ${value}`);
          }
          if (dir && await Deno.stat(dir).then(() => true, () => false)) {
            throw new Error(`${dir} is still there`);
          }
        },
      });
    },
  };
}

/** Applies what `kt-deno rbac --namespace NS` prints, as a user would with kubectl apply. */
export async function applyRbac(kube: KubeClient, namespace = "default"): Promise<void> {
  const { parseAllDocuments } = await import("yaml");
  const { rbacManifests } = await import("../../src/k8s/manifests.ts");
  const root = new URL("../..", import.meta.url).pathname;
  const printed = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      `${root}deno.json`,
      `${root}main.ts`,
      "rbac",
      "--namespace",
      namespace,
    ],
    stderr: "inherit",
  }).output();
  if (!printed.success) throw new Error("kt-deno rbac failed");
  const docs = parseAllDocuments(new TextDecoder().decode(printed.stdout)).map((d) => d.toJS());
  if (JSON.stringify(docs) !== JSON.stringify(rbacManifests(namespace))) {
    throw new Error("kt-deno rbac printed something other than its manifests");
  }
  const plural: Record<string, string> = {
    ServiceAccount: "serviceaccounts",
    Role: "roles",
    RoleBinding: "rolebindings",
  };
  for (const doc of docs) {
    const group = doc.apiVersion === "v1" ? "/api/v1" : `/apis/${doc.apiVersion}`;
    await kube.request("POST", `${group}/namespaces/${namespace}/${plural[doc.kind]}`, {
      body: doc,
    })
      .catch((error) => {
        if (!(error instanceof ApiError && error.status === 409)) throw error;
      });
  }
}

/** The uid the Dockerfile's worker image runs as. */
export const WORKER_UID = 10001;

/** Gives a local data dir (and what is in it) to the worker image's user, so pods can write it. */
export async function writableByPods(dir: string): Promise<void> {
  const output = await new Deno.Command("chown", { args: ["-R", `${WORKER_UID}`, dir] }).output();
  if (!output.success) throw new Error(`chown ${dir} failed`);
}

/** A pod's log, read through the API server as `kubectl logs` does. */
export async function podLog(cluster: Cluster, name: string, namespace = "default") {
  const pki = `${cluster.dir}/pki`;
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(`${pki}/ca.crt`)],
    cert: await Deno.readTextFile(`${pki}/admin.crt`),
    key: await Deno.readTextFile(`${pki}/admin.key`),
  });
  try {
    const response = await fetch(
      `${cluster.server}/api/v1/namespaces/${namespace}/pods/${name}/log`,
      { client },
    );
    const text = await response.text();
    if (!response.ok) throw new Error(`logs of pod ${name}: ${response.status} ${text}`);
    return text;
  } finally {
    client.close();
  }
}

/** How a pod of {@linkcode runPod} ended. */
export interface PodResult {
  phase: "Succeeded" | "Failed";
  exitCode: number;
  log: string;
}

/**
 * Runs a one-container pod (restartPolicy Never) to its end and returns its exit code and
 * log, then deletes it.
 */
export async function runPod(
  { cluster, kube }: ClusterContext,
  // deno-lint-ignore no-explicit-any
  pod: { metadata: { name: string }; spec: any },
  seconds = 120,
): Promise<PodResult> {
  const path = "/api/v1/namespaces/default/pods";
  await kube.request("POST", path, {
    body: {
      apiVersion: "v1",
      kind: "Pod",
      ...pod,
      spec: { restartPolicy: "Never", ...pod.spec },
    },
  });
  const name = pod.metadata.name;
  // deno-lint-ignore no-explicit-any
  let last: any;
  const ended = await until(`pod ${name} to finish`, seconds, async () => {
    last = await kube.request("GET", `${path}/${name}`);
    const phase = last.status?.phase;
    return (phase === "Succeeded" || phase === "Failed") && last;
  }, () => JSON.stringify(last?.status));
  const log = await podLog(cluster, name);
  await kube.request("DELETE", `${path}/${name}`);
  return {
    phase: ended.status.phase,
    exitCode: ended.status.containerStatuses[0].state.terminated.exitCode,
    log,
  };
}
