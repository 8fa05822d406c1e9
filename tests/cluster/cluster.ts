/**
 * Brings the test cluster up and down again: a control plane on loopback (etcd,
 * kube-apiserver with TLS, client-certificate admin, RBAC, service-account tokens and the
 * default admission plugins, kube-controller-manager, kube-scheduler) and a real node
 * (node.ts: containerd, kubelet, kube-proxy, a pod network on the bridge ktbr0).
 *
 * Every process runs in its own process group with its output in `<dir>/logs/`; their
 * PIDs are kept in `<dir>/pids.json`, so {@linkcode stopCluster} stops exactly those.
 *
 * @module
 */
import { kubeconfig, makeCertificates } from "./certs.ts";
import { buildTool, ensureHost, isRunning, spawnLogged, stopGroup, waitFor } from "./host.ts";
import { pauseImage, type TestImage } from "./images.ts";
import {
  claimNode,
  drainNode,
  loadImages,
  NODE_IP,
  NODE_NAME,
  NodeBusyError,
  startNode,
  stopNode,
} from "./node.ts";
import { freePort } from "../ports.ts";

const HERE = new URL(".", import.meta.url).pathname;

/** A running test cluster. */
export interface Cluster {
  /** The cluster's state folder (certificates, etcd data, logs, pod folders). */
  dir: string;
  /** An admin kubeconfig (client certificate), usable by kubectl and client libraries. */
  kubeconfigPath: string;
  /** The API server's URL. */
  server: string;
  /** The node's name. */
  nodeName: string;
  /** The node's IP, on the pod network: pods reach the host here. */
  nodeIp: string;
  /** Loads images from the test image store (images.ts) into the node's containerd. */
  loadImages(images: string[]): Promise<void>;
  /** Stops the API server at once (its process group), and nothing else. */
  stopApiServer(): Promise<void>;
  /** Starts the API server again with the same flags and port; resolves once it is ready. */
  restartApiServer(): Promise<void>;
  /** Stops every process the cluster started and removes its folder. */
  stop(): Promise<void>;
}

/** Settings of {@linkcode startCluster}. */
export interface ClusterOptions {
  /** State folder (default: a new temporary folder). */
  dir?: string;
  /** Images (images.ts) to build, unless podman's store has them, and load into the node. */
  images?: TestImage[];
  /** Leave the processes running when this process exits (for `up.ts`). */
  detached?: boolean;
  /** Extra kube-apiserver flags (e.g. `--max-requests-inflight=5`). */
  apiServerFlags?: string[];
  /**
   * Client QPS of kube-controller-manager and kube-scheduler (burst twice that), for runs
   * of tens of thousands of pods; Kubernetes' defaults are 20 and 50.
   */
  clientQps?: number;
}

/** Builds (or finds cached) control plane binaries; returns their folder. */
export function buildBinaries(): Promise<string> {
  return buildTool(`${HERE}build.sh`);
}

/** Starts a cluster and waits until its node is Ready and the default service account exists. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  await ensureHost();
  const bin = await buildBinaries();
  await pauseImage();
  for (const image of options.images ?? []) await image.build();
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "kt-cluster-" });
  await Deno.mkdir(`${dir}/logs`, { recursive: true });
  await Deno.mkdir(`${dir}/pki`, { recursive: true });
  const pids: Record<string, number> = {};
  const savePids = () => Deno.writeTextFile(`${dir}/pids.json`, JSON.stringify(pids, null, 2));
  const detached = options.detached ?? false;
  const start = async (name: string, argv: string[]) => {
    pids[name] = spawnLogged(`${dir}/logs`, name, argv, detached);
    await savePids();
  };
  const stop = () => stopCluster(dir);
  const qps = options.clientQps;
  try {
    await claimNode(dir, { detached, stopOrphan: stopCluster });
    const pki = `${dir}/pki`;
    await makeCertificates(pki);
    const [etcdPort, peerPort, apiPort, cmPort, schedPort] = [0, 0, 0, 0, 0].map(freePort);
    const server = `https://127.0.0.1:${apiPort}`;
    for (const client of ["admin", "controller-manager", "scheduler"]) {
      await Deno.writeTextFile(
        `${dir}/${client}.kubeconfig`,
        await kubeconfig(pki, server, client),
      );
    }
    await start("etcd", [
      `${bin}/etcd`,
      "--name=kt",
      `--data-dir=${dir}/etcd`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=kt=http://127.0.0.1:${peerPort}`,
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    await waitFor(
      "etcd",
      30,
      async () =>
        (await (await fetch(`http://127.0.0.1:${etcdPort}/health`)).json()).health === "true",
    );
    const apiServerArgv = [
      `${bin}/kube-apiserver`,
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${pki}/apiserver.crt`,
      `--tls-private-key-file=${pki}/apiserver.key`,
      `--client-ca-file=${pki}/ca.crt`,
      "--authorization-mode=Node,RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki}/sa.pub`,
      `--service-account-signing-key-file=${pki}/sa.key`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--endpoint-reconciler-type=none",
      `--kubelet-client-certificate=${pki}/apiserver-kubelet-client.crt`,
      `--kubelet-client-key=${pki}/apiserver-kubelet-client.key`,
      `--kubelet-certificate-authority=${pki}/ca.crt`,
      "--kubelet-preferred-address-types=InternalIP",
      "--allow-privileged=true",
      "--profiling=false",
      "--v=1",
      ...options.apiServerFlags ?? [],
    ];
    await start("kube-apiserver", apiServerArgv);
    const apiServerReady = async () => {
      const client = Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(`${pki}/ca.crt`)],
        cert: await Deno.readTextFile(`${pki}/admin.crt`),
        key: await Deno.readTextFile(`${pki}/admin.key`),
      });
      try {
        await waitFor("kube-apiserver", 60, async () => {
          const response = await fetch(`${server}/readyz`, { client });
          await response.body?.cancel();
          return response.ok;
        });
      } finally {
        client.close();
      }
    };
    const admin = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(`${pki}/ca.crt`)],
      cert: await Deno.readTextFile(`${pki}/admin.crt`),
      key: await Deno.readTextFile(`${pki}/admin.key`),
    });
    try {
      await apiServerReady();
      await start("kube-controller-manager", [
        `${bin}/kube-controller-manager`,
        `--kubeconfig=${dir}/controller-manager.kubeconfig`,
        `--authentication-kubeconfig=${dir}/controller-manager.kubeconfig`,
        `--authorization-kubeconfig=${dir}/controller-manager.kubeconfig`,
        "--bind-address=127.0.0.1",
        `--secure-port=${cmPort}`,
        "--controllers=*",
        `--service-account-private-key-file=${pki}/sa.key`,
        `--root-ca-file=${pki}/ca.crt`,
        "--use-service-account-credentials=true",
        "--leader-elect=false",
        "--concurrent-job-syncs=10",
        "--v=1",
        ...qps ? [`--kube-api-qps=${qps}`, `--kube-api-burst=${2 * qps}`] : [],
      ]);
      // The scheduler takes its client's rate only from a configuration file.
      await Deno.writeTextFile(
        `${dir}/scheduler.yaml`,
        JSON.stringify({
          apiVersion: "kubescheduler.config.k8s.io/v1",
          kind: "KubeSchedulerConfiguration",
          clientConnection: {
            kubeconfig: `${dir}/scheduler.kubeconfig`,
            ...qps ? { qps, burst: 2 * qps } : {},
          },
          leaderElection: { leaderElect: false },
        }),
      );
      await start("kube-scheduler", [
        `${bin}/kube-scheduler`,
        `--config=${dir}/scheduler.yaml`,
        `--authentication-kubeconfig=${dir}/scheduler.kubeconfig`,
        `--authorization-kubeconfig=${dir}/scheduler.kubeconfig`,
        "--bind-address=127.0.0.1",
        `--secure-port=${schedPort}`,
        "--v=1",
      ]);
      Object.assign(pids, await startNode({ dir, bin, server, apiPort, detached }));
      await savePids();
      await loadImages((options.images ?? []).map((image) => image.ref));
      const nodeName = NODE_NAME;
      const get = async (path: string) => {
        const response = await fetch(`${server}${path}`, { client: admin });
        return response.ok ? await response.json() : (await response.body?.cancel(), null);
      };
      const exited = () =>
        ["kubelet", "containerd"].find((name) => !isRunning(pids[name]))?.concat(" exited");
      await waitFor("node Ready", 120, async () => {
        const node = await get(`/api/v1/nodes/${nodeName}`);
        return node?.status?.conditions?.some((c: { type: string; status: string }) =>
          c.type === "Ready" && c.status === "True"
        ) ?? false;
      }, exited);
      await waitFor(
        "the default service account",
        60,
        async () =>
          (await get("/api/v1/namespaces/default/serviceaccounts/default")) !== null &&
          (await get("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")) !== null,
      );
      return {
        dir,
        kubeconfigPath: `${dir}/admin.kubeconfig`,
        server,
        nodeName,
        nodeIp: NODE_IP,
        loadImages,
        stopApiServer: () => stopGroup(pids["kube-apiserver"], 0),
        restartApiServer: async () => {
          if (isRunning(pids["kube-apiserver"])) throw new Error("kube-apiserver is running");
          await start("kube-apiserver", apiServerArgv);
          await apiServerReady();
        },
        stop,
      };
    } finally {
      admin.close();
    }
  } catch (error) {
    const logs = await lastLogLines(dir, ["kubelet", "containerd", "kube-apiserver"]);
    await stop();
    if (error instanceof NodeBusyError) throw error;
    throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
  }
}

/** The last lines of some of a cluster's logs, to say why it did not come up. */
async function lastLogLines(dir: string, names: string[], lines = 15): Promise<string> {
  const parts: string[] = [];
  for (const name of names) {
    const text = await Deno.readTextFile(`${dir}/logs/${name}.log`).catch(() => null);
    if (text) parts.push(`--- ${name}.log\n${text.trimEnd().split("\n").slice(-lines).join("\n")}`);
  }
  return parts.join("\n");
}

/**
 * Stops what a cluster started (the PIDs in `<dir>/pids.json`, each with its process
 * group): the controller manager and scheduler first so no new pod appears, then every
 * pod through the API server, the node (node.ts undoes all it did to the machine), the
 * API server and etcd; then removes the folder.
 */
export async function stopCluster(dir: string): Promise<void> {
  let pids: Record<string, number> = {};
  try {
    pids = JSON.parse(await Deno.readTextFile(`${dir}/pids.json`));
  } catch {
    // nothing was started
  }
  const stop = async (name: string) => {
    if (pids[name] !== undefined) await stopGroup(pids[name]);
  };
  await stop("kube-controller-manager");
  await stop("kube-scheduler");
  if (pids.kubelet !== undefined) await drainNode(dir);
  await stopNode(dir);
  await stop("kube-apiserver");
  await stop("etcd");
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
