/**
 * Brings the test control plane up on loopback and down again: etcd, kube-apiserver
 * (TLS, client-certificate admin, RBAC, service-account tokens, the default admission
 * plugins), kube-controller-manager, kube-scheduler, and the process node agent.
 *
 * Every process runs in its own process group with its output in `<dir>/logs/`; their
 * PIDs are kept in `<dir>/pids.json`, so {@linkcode stopCluster} stops exactly those.
 *
 * @module
 */
import { kubeconfig, makeCertificates } from "./certs.ts";
import type { ImageMap } from "./image_map.ts";
import { freePort, isAlive } from "../ports.ts";

const HERE = new URL(".", import.meta.url).pathname;
const ROOT = new URL("../..", import.meta.url).pathname;

/** A running test cluster. */
export interface Cluster {
  /** The cluster's state folder (certificates, etcd data, logs, pod folders). */
  dir: string;
  /** An admin kubeconfig (client certificate), usable by kubectl and client libraries. */
  kubeconfigPath: string;
  /** The API server's URL. */
  server: string;
  /** The node's image map file; rewrite it to add images (the node rereads it per pod). */
  imageMapPath: string;
  /** The node's name. */
  nodeName: string;
  /** Stops every process the cluster started and removes its folder. */
  stop(): Promise<void>;
}

/** Settings of {@linkcode startCluster}. */
export interface ClusterOptions {
  /** State folder (default: a new temporary folder). */
  dir?: string;
  /** Image name → local folders (see image_map.ts). */
  imageMap?: ImageMap;
  /** Leave the processes running when this process exits (for `up.ts`). */
  detached?: boolean;
  /** Extra kube-apiserver flags (e.g. `--max-requests-inflight=5`). */
  apiServerFlags?: string[];
}

/** Builds (or finds cached) control plane binaries; returns their folder. */
export async function buildBinaries(): Promise<string> {
  const output = await new Deno.Command("bash", {
    args: [`${HERE}build.sh`],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error("building the control plane failed (see the output above)");
  return new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!;
}

async function waitFor(
  what: string,
  seconds: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out after ${seconds}s waiting for ${what}`);
}

function spawnLogged(dir: string, name: string, argv: string[], detached: boolean): number {
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", `exec "$0" "$@" >"${dir}/logs/${name}.log" 2>&1`, ...argv],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  if (detached) child.unref();
  else child.status.catch(() => {});
  return child.pid;
}

/** Starts a cluster and waits until its node is Ready and the default service account exists. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const bin = await buildBinaries();
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "kt-cluster-" });
  await Deno.mkdir(`${dir}/logs`, { recursive: true });
  await Deno.mkdir(`${dir}/pki`, { recursive: true });
  const pids: Record<string, number> = {};
  const savePids = () => Deno.writeTextFile(`${dir}/pids.json`, JSON.stringify(pids, null, 2));
  const detached = options.detached ?? false;
  const start = async (name: string, argv: string[]) => {
    pids[name] = spawnLogged(dir, name, argv, detached);
    await savePids();
  };
  const stop = () => stopCluster(dir);
  try {
    const pki = `${dir}/pki`;
    await makeCertificates(pki);
    const [etcdPort, peerPort, apiPort, cmPort, schedPort, kubeletPort] = [0, 0, 0, 0, 0, 0].map(
      freePort,
    );
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
    await start("kube-apiserver", [
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
    ]);
    const admin = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(`${pki}/ca.crt`)],
      cert: await Deno.readTextFile(`${pki}/admin.crt`),
      key: await Deno.readTextFile(`${pki}/admin.key`),
    });
    try {
      await waitFor("kube-apiserver", 60, async () => {
        const response = await fetch(`${server}/readyz`, { client: admin });
        await response.body?.cancel();
        return response.ok;
      });
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
      ]);
      await start("kube-scheduler", [
        `${bin}/kube-scheduler`,
        `--kubeconfig=${dir}/scheduler.kubeconfig`,
        `--authentication-kubeconfig=${dir}/scheduler.kubeconfig`,
        `--authorization-kubeconfig=${dir}/scheduler.kubeconfig`,
        "--bind-address=127.0.0.1",
        `--secure-port=${schedPort}`,
        "--leader-elect=false",
        "--v=1",
      ]);
      const imageMapPath = `${dir}/image-map.json`;
      await Deno.writeTextFile(imageMapPath, JSON.stringify(options.imageMap ?? {}, null, 2));
      const nodeName = "kt-node";
      await start("node", [
        Deno.execPath(),
        "run",
        "-A",
        "--quiet",
        "--config",
        `${ROOT}deno.json`,
        `${HERE}node_agent.ts`,
        `--kubeconfig=${dir}/admin.kubeconfig`,
        `--image-map=${imageMapPath}`,
        `--state=${dir}/node`,
        `--name=${nodeName}`,
        `--kubelet-port=${kubeletPort}`,
        `--tls-cert=${pki}/kubelet.crt`,
        `--tls-key=${pki}/kubelet.key`,
      ]);
      const get = async (path: string) => {
        const response = await fetch(`${server}${path}`, { client: admin });
        return response.ok ? await response.json() : (await response.body?.cancel(), null);
      };
      await waitFor("node Ready", 60, async () => {
        const node = await get(`/api/v1/nodes/${nodeName}`);
        return node?.status?.conditions?.some((c: { type: string; status: string }) =>
          c.type === "Ready" && c.status === "True"
        ) ?? false;
      });
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
        imageMapPath,
        nodeName,
        stop,
      };
    } finally {
      admin.close();
    }
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Stops the processes a cluster started (by the PIDs in `<dir>/pids.json`, each with its
 * process group: the node first, so it can stop its pods), then removes the folder.
 */
export async function stopCluster(dir: string): Promise<void> {
  let pids: Record<string, number> = {};
  try {
    pids = JSON.parse(await Deno.readTextFile(`${dir}/pids.json`));
  } catch {
    // nothing was started
  }
  const order = ["node", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"];
  for (const name of order) {
    const pid = pids[name];
    if (pid === undefined) continue;
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      try {
        Deno.kill(-pid, signal);
      } catch {
        break;
      }
      const deadline = Date.now() + (signal === "SIGTERM" ? 10_000 : 2_000);
      while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!isAlive(pid)) break;
    }
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
