/**
 * The test helper for test files that need a cluster: one cluster per test file, started
 * by the first test that uses it and always stopped by a last test that
 * {@linkcode ClusterSuite.end} registers, whether the tests before it passed or not.
 *
 * ```ts ignore
 * import { clusterSuite } from "./cluster/harness.ts";
 * import { testImage } from "./cluster/images.ts";
 * const suite = clusterSuite({ images: [await testImage("fixtures", ["tests/fixtures/kt_functions"])] });
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
import { nodeLeftovers, readSysctls } from "./node.ts";

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
    const cluster = await startCluster(options);
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
          const context = await starting?.catch(() => undefined);
          starting = undefined;
          if (!context) return;
          context.kube.close();
          const { dir } = context.cluster;
          const pids = JSON.parse(await Deno.readTextFile(`${dir}/pids.json`));
          if (!Object.keys(pids).includes("kubelet")) throw new Error("no kubelet was started");
          await context.cluster.stop();
          const left = await nodeLeftovers(Object.values<number>(pids), dir);
          if (left.length) throw new Error(`left after the cluster stopped:\n${left.join("\n")}`);
          const after = await readSysctls();
          for (const [key, value] of Object.entries(sysctlsBefore)) {
            if (after[key] !== value) throw new Error(`${key} is ${after[key]}, was ${value}`);
          }
          if (await Deno.stat(dir).then(() => true, () => false)) {
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
