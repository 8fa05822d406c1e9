/**
 * The test helper for test files that need a cluster: one cluster per test file, started
 * by the first test that uses it and always stopped by a last test that
 * {@linkcode ClusterSuite.end} registers, whether the tests before it passed or not.
 *
 * ```ts ignore
 * import { clusterSuite } from "./cluster/harness.ts";
 * const suite = clusterSuite({ imageMap: { "*": {} } });
 * suite.test("a Job runs", async ({ cluster, kube }) => {
 *   await kube.request("POST", "/apis/batch/v1/namespaces/default/jobs", { body: job });
 * });
 * suite.end();
 * ```
 *
 * @module
 */
import { KubeClient, kubeconfigConnection } from "../../src/k8s/client.ts";
import { type Cluster, type ClusterOptions, startCluster } from "./cluster.ts";

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
  const start = async (): Promise<ClusterContext> => {
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
        name: "the test cluster stops and leaves no process behind",
        ...settings,
        fn: async () => {
          const context = await starting?.catch(() => undefined);
          starting = undefined;
          if (!context) return;
          context.kube.close();
          const pids = JSON.parse(await Deno.readTextFile(`${context.cluster.dir}/pids.json`));
          await context.cluster.stop();
          for (const pid of Object.values<number>(pids)) {
            let alive = true;
            try {
              Deno.kill(pid, "SIGCONT");
            } catch {
              alive = false;
            }
            if (alive) throw new Error(`process ${pid} is still running after the cluster stopped`);
          }
        },
      });
    },
  };
}
