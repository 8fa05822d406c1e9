/**
 * A client for the cluster of the kubeconfig, as the launcher's commands open it.
 *
 * @module
 */
import { KubeClient, kubeconfigConnection } from "./client.ts";
import { SetupError } from "./errors.ts";

/**
 * A client for the cluster of the kubeconfig's `context` (default: the current one);
 * throws a {@linkcode SetupError} when the kubeconfig cannot be used. Close it after use.
 *
 * @example
 * ```ts ignore
 * const kube = await connect("kind-kt");
 * try {
 *   await kube.request("GET", `/api/v1/namespaces/${kube.namespace}/pods`);
 * } finally {
 *   kube.close();
 * }
 * ```
 */
export async function connect(context?: string): Promise<KubeClient> {
  const connection = await kubeconfigConnection(context).catch((error) => {
    throw new SetupError(`cannot use the kubeconfig: ${(error as Error).message}`);
  });
  return new KubeClient(connection);
}

/**
 * Runs `work` with a client for the target's cluster and its namespace (the context's
 * when the target names none), and closes the client.
 */
export async function withCluster<T>(
  target: ClusterTarget,
  work: (kube: KubeClient, namespace: string) => Promise<T>,
): Promise<T> {
  const kube = await connect(target.context);
  try {
    return await work(kube, target.namespace ?? kube.namespace);
  } finally {
    kube.close();
  }
}

/** Which cluster and namespace an operation acts on. */
export interface ClusterTarget {
  /** The kubeconfig context (default: the current one). */
  context?: string;
  /** The namespace (default: the context's). */
  namespace?: string;
}
