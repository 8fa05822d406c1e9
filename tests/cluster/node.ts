/**
 * The test cluster's real node: containerd and runc (Debian's packages), a CNI bridge,
 * kubelet and kube-proxy (built with the control plane), joined to the control plane of
 * cluster.ts. Pods are real containers on a real pod network that stays on this machine.
 *
 * The node uses fixed names, so one runs at a time on a machine: the bridge `ktbr0` owns
 * the node IP 10.88.0.1/16, pods get addresses from 10.88.0.0/16 and no default route (only
 * the Service range, through the bridge), and a FORWARD rule drops anything from the pod
 * range to elsewhere. Forwarding is turned on for the bridge alone. Pods reach the API
 * server (which listens on loopback only) at the `kubernetes` Service, 10.0.0.1:443,
 * through a DNAT rule to 127.0.0.1.
 *
 * Runtime state (containerd's socket and state, the kubelet's root, pod logs, CNI
 * addresses, the owner file that keeps a second node from starting) is in
 * `/run/kt-deno-node`; containerd's image store is kept under `~/.cache/kt-deno` so images
 * are loaded once. {@linkcode stopNode} undoes everything, and a node left by a crashed run
 * is taken down by the next start or by `deno task cluster:down`.
 *
 * @module
 */
import { kubeconfig } from "./certs.ts";
import { CACHE, isRunning, K8S_BIN, sh, spawnLogged, stopGroup, waitFor } from "./host.ts";
import { PAUSE_IMAGE, podmanArgs } from "./images.ts";

/** The node's name. */
export const NODE_NAME = "kt-node";
/** The node's IP: the bridge's address, where pods reach the host (MinIO listens here). */
export const NODE_IP = "10.88.0.1";
const POD_CIDR = "10.88.0.0/16";
const SERVICE_CIDR = "10.0.0.0/24";
const API_SERVICE_IP = "10.0.0.1";
const BRIDGE = "ktbr0";
/** The node's runtime folder (fixed: one node per machine). */
export const RUN = "/run/kt-deno-node";
const SOCKET = `${RUN}/containerd/containerd.sock`;
const CONTAINERD_ROOT = `${CACHE}/containerd`;
const OWNER = `${RUN}/owner.json`;
const SAVED_SYSCTLS = `${RUN}/sysctls.json`;
/** Kernel settings the kubelet or kube-proxy may change; restored on the way down. */
const SYSCTLS = [
  "vm.overcommit_memory",
  "vm.panic_on_oom",
  "kernel.panic",
  "kernel.panic_on_oops",
  "kernel.keys.root_maxkeys",
  "kernel.keys.root_maxbytes",
  "net.ipv4.ip_forward",
  "net.ipv4.conf.all.route_localnet",
];
/** Chains the kubelet makes for itself (kube-proxy --cleanup leaves them). */
const KUBELET_CHAINS = ["KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"];
const GUARD = ["FORWARD", "-s", POD_CIDR, "!", "-d", POD_CIDR, "-j", "DROP"];
const API_DNAT = (apiPort: number) => [
  "PREROUTING",
  "-s",
  POD_CIDR,
  "-d",
  `${API_SERVICE_IP}/32`,
  "-p",
  "tcp",
  "--dport",
  "443",
  "-j",
  "DNAT",
  "--to-destination",
  `127.0.0.1:${apiPort}`,
];

/** Who runs the node now: the cluster folder, the process that claimed it, the node's PIDs. */
interface Owner {
  dir: string;
  claimer: number;
  pids: Record<string, number>;
  /** Started to outlive its claimer (`cluster:up`); else a test process's own. */
  detached?: boolean;
}

/** Runs `ctr` against the node's containerd, in the Kubernetes namespace. */
export function ctr(args: string[]): Promise<string> {
  return sh("ctr", ["--address", SOCKET, "--namespace", "k8s.io", ...args]);
}

async function readOwner(): Promise<Owner | null> {
  return await Deno.readTextFile(OWNER).then(JSON.parse, () => null);
}

function running(owner: Owner): boolean {
  return isRunning(owner.claimer) || Object.values(owner.pids).some(isRunning);
}

/** True when another process's cluster runs the node now (it was queued and took it). */
export async function nodeClaimedByOther(): Promise<boolean> {
  const owner = await readOwner();
  return owner !== null && owner.claimer !== Deno.pid && running(owner);
}

/** The machine's node belongs to another cluster that still runs. */
export class NodeBusyError extends Error {
  constructor(dir: string) {
    super(
      `a real node is already running for the cluster in ${dir} (one per machine): stop it with \`deno task cluster:down --dir ${dir}\``,
    );
  }
}

/** How long a test run waits for another test run's node before giving up. */
const QUEUE_MS = 20 * 60_000;

/**
 * Claims the machine's node for the cluster in `dir`. A node whose processes are gone (a
 * crashed run) is cleaned up first, and so is the whole cluster of a test process that is gone
 * (an interrupted test run: its cluster outlives it), with `stopOrphan`. A node another test
 * process is using is waited for (test runs queue), up to 20 minutes; one started by hand
 * (`cluster:up`) or by this process is an error at once that says how to stop it.
 */
export async function claimNode(
  dir: string,
  options: { detached: boolean; stopOrphan: (dir: string) => Promise<void> },
): Promise<void> {
  const deadline = Date.now() + QUEUE_MS;
  let told = false;
  let stoppedOrphan = false;
  while (true) {
    const owner = await readOwner();
    const orphan = owner && running(owner) && !owner.detached && !isRunning(owner.claimer);
    if (orphan && !stoppedOrphan) {
      console.error(`stopping the cluster an interrupted test run left (${owner.dir})`);
      await options.stopOrphan(owner.dir);
      stoppedOrphan = true; // once: a cluster that outlives its stop is refused below
      continue;
    }
    if (owner && running(owner)) {
      const queue = isRunning(owner.claimer) && owner.claimer !== Deno.pid;
      if (!queue || Date.now() > deadline) throw new NodeBusyError(owner.dir);
      if (!told) {
        console.error(`waiting for the real node of process ${owner.claimer} (${owner.dir})`);
        told = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    if (owner || await Deno.stat(RUN).then(() => true, () => false)) {
      console.error(`cleaning up the real node a stopped cluster left (${owner?.dir ?? RUN})`);
      await stopNode(owner?.dir ?? dir);
    }
    await Deno.mkdir(RUN, { recursive: true });
    const claim: Owner = { dir, claimer: Deno.pid, pids: {}, detached: options.detached };
    const claimed = await Deno.writeTextFile(OWNER, JSON.stringify(claim), { createNew: true })
      .then(() => true, () => false);
    if (claimed) return;
  }
}

async function recordPid(name: string, pid: number): Promise<void> {
  const owner = (await readOwner())!;
  owner.pids[name] = pid;
  await Deno.writeTextFile(OWNER, JSON.stringify(owner, null, 2));
}

function sysctlPath(key: string): string {
  return `/proc/sys/${key.replaceAll(".", "/")}`;
}

/** The current values of the settings the node may change. */
export async function readSysctls(): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const key of SYSCTLS) {
    const value = await Deno.readTextFile(sysctlPath(key)).catch(() => null);
    if (value !== null) values[key] = value.trim();
  }
  return values;
}

async function writeSysctl(key: string, value: string): Promise<void> {
  await Deno.writeTextFile(sysctlPath(key), `${value}\n`);
}

async function iptables(family: "4" | "6", args: string[]): Promise<boolean> {
  const program = family === "4" ? "iptables" : "ip6tables";
  return (await sh(program, ["-w", ...args], { allowFailure: true })) !== null;
}

/** The host side of the pod network: bridge, forwarding on it alone, guard, API DNAT. */
async function networkUp(apiPort: number): Promise<void> {
  if (!(await sh("ip", ["link", "show", BRIDGE], { allowFailure: true }))) {
    await sh("ip", ["link", "add", BRIDGE, "type", "bridge"]);
  }
  await sh("ip", ["addr", "replace", `${NODE_IP}/16`, "dev", BRIDGE]);
  await sh("ip", ["link", "set", BRIDGE, "up"]);
  await writeSysctl(`net.ipv4.conf.${BRIDGE}.forwarding`, "1");
  await writeSysctl(`net.ipv4.conf.${BRIDGE}.route_localnet`, "1");
  if (!(await iptables("4", ["-C", ...GUARD]))) await iptables("4", ["-I", ...GUARD]);
  const dnat = API_DNAT(apiPort);
  if (!(await iptables("4", ["-t", "nat", "-C", ...dnat]))) {
    await iptables("4", ["-t", "nat", "-A", ...dnat]);
  }
}

function containerdConfig(): string {
  return `version = 2
root = "${CONTAINERD_ROOT}"
state = "${RUN}/containerd/state"

[grpc]
  address = "${SOCKET}"
[ttrpc]
  address = "${SOCKET}.ttrpc"
[debug]
  address = "${RUN}/containerd/debug.sock"
[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "${PAUSE_IMAGE}"
    enable_selinux = false
    # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE, which this VM lacks
    restrict_oom_score_adj = true
    disable_apparmor = true
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = "/usr/sbin/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "${RUN}/cni/conf"
  [plugins."io.containerd.internal.v1.opt"]
    path = "${RUN}/containerd/opt"
`;
}

/** Pods on the bridge, no default route: only the Service range, through the node. */
function cniConfig() {
  return {
    cniVersion: "1.0.0",
    name: "kt-pods",
    plugins: [{
      type: "bridge",
      bridge: BRIDGE,
      isGateway: false,
      isDefaultGateway: false,
      ipMasq: false,
      hairpinMode: true,
      ipam: {
        type: "host-local",
        dataDir: `${RUN}/cni/ipam`,
        ranges: [[{ subnet: POD_CIDR, rangeStart: "10.88.0.10", gateway: NODE_IP }]],
        routes: [{ dst: SERVICE_CIDR, gw: NODE_IP }],
      },
    }],
  };
}

function kubeletConfig(pki: string) {
  return {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    // this machine has cgroup v1 (and no systemd): kubelet 1.35 refuses v1 unless told
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    containerRuntimeEndpoint: `unix://${SOCKET}`,
    imageServiceEndpoint: `unix://${SOCKET}`,
    failSwapOn: false,
    address: NODE_IP,
    port: 10250,
    readOnlyPort: 0,
    healthzPort: 0,
    tlsCertFile: `${pki}/kubelet.crt`,
    tlsPrivateKeyFile: `${pki}/kubelet.key`,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: `${pki}/ca.crt` },
    },
    authorization: { mode: "Webhook" },
    podLogsDir: `${RUN}/pod-logs`,
    clusterDomain: "cluster.local",
    resolvConf: "/etc/resolv.conf",
    evictionHard: {
      "memory.available": "1Mi",
      "nodefs.available": "1%",
      "nodefs.inodesFree": "1%",
      "imagefs.available": "1%",
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    imageMinimumGCAge: "87600h",
    syncFrequency: "10s",
    nodeStatusUpdateFrequency: "5s",
    serializeImagePulls: false,
  };
}

function kubeProxyConfig(adminKubeconfig: string) {
  return {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "iptables",
    clientConnection: { kubeconfig: adminKubeconfig },
    hostnameOverride: NODE_NAME,
    clusterCIDR: POD_CIDR,
    bindAddress: NODE_IP,
    nodePortAddresses: [POD_CIDR],
    healthzBindAddress: "",
    metricsBindAddress: "",
    // else kube-proxy sets net.ipv4.conf.all.route_localnet=1
    iptables: { localhostNodePorts: false },
    // leave the machine's conntrack settings alone
    conntrack: { maxPerCore: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
  };
}

/** What {@linkcode startNode} needs from the control plane. */
export interface NodeSettings {
  /** The cluster folder (logs, the node's config files). */
  dir: string;
  /** The control plane's binaries (kubelet, kube-proxy are there too). */
  bin: string;
  /** The API server's URL and port (on 127.0.0.1). */
  server: string;
  apiPort: number;
  detached: boolean;
}

/** Starts containerd, the pod network, the kubelet and kube-proxy (the node then registers). */
export async function startNode(settings: NodeSettings): Promise<Record<string, number>> {
  const { dir, bin, detached } = settings;
  const pki = `${dir}/pki`;
  const pids: Record<string, number> = {};
  const start = async (name: string, argv: string[]) => {
    pids[name] = spawnLogged(`${dir}/logs`, name, argv, detached);
    await recordPid(name, pids[name]);
  };
  if (!(await Deno.stat(SAVED_SYSCTLS).then(() => true, () => false))) {
    await Deno.writeTextFile(SAVED_SYSCTLS, JSON.stringify(await readSysctls(), null, 2));
  }
  await networkUp(settings.apiPort);
  for (const sub of ["containerd", "cni/conf", "cni/ipam", "kubelet", "pod-logs"]) {
    await Deno.mkdir(`${RUN}/${sub}`, { recursive: true });
  }
  await Deno.mkdir(CONTAINERD_ROOT, { recursive: true });
  await Deno.writeTextFile(`${RUN}/containerd/config.toml`, containerdConfig());
  await Deno.writeTextFile(`${RUN}/cni/conf/10-kt-pods.conflist`, JSON.stringify(cniConfig()));
  await start("containerd", ["containerd", "--config", `${RUN}/containerd/config.toml`]);
  await waitFor("containerd", 30, async () => (await ctr(["version"]), true));
  // the kubelet exits at once if the CRI plugin is not serving yet; it says so last
  await waitFor("containerd's CRI plugin", 30, async () => {
    const log = await Deno.readTextFile(`${dir}/logs/containerd.log`);
    return log.includes('msg="Start streaming server"');
  });
  await loadImages([PAUSE_IMAGE]);

  await Deno.writeTextFile(
    `${dir}/kubelet-config.json`,
    JSON.stringify(kubeletConfig(pki), null, 2),
  );
  await Deno.writeTextFile(
    `${dir}/node.kubeconfig`,
    await kubeconfig(pki, settings.server, "node"),
  );
  await start("kubelet", [
    `${bin}/kubelet`,
    `--config=${dir}/kubelet-config.json`,
    `--kubeconfig=${dir}/node.kubeconfig`,
    `--root-dir=${RUN}/kubelet`,
    `--cert-dir=${RUN}/kubelet/pki`,
    `--hostname-override=${NODE_NAME}`,
    `--node-ip=${NODE_IP}`,
    "--v=1",
  ]);
  await Deno.writeTextFile(
    `${dir}/kube-proxy-config.json`,
    JSON.stringify(kubeProxyConfig(`${dir}/admin.kubeconfig`), null, 2),
  );
  await start("kube-proxy", [
    `${bin}/kube-proxy`,
    `--config=${dir}/kube-proxy-config.json`,
    "--v=1",
  ]);
  return pids;
}

/**
 * Loads images from the podman store of images.ts into the node's containerd, unless it
 * has them already (their tags are hashes of their contents, so a name means one content).
 */
export async function loadImages(images: string[]): Promise<void> {
  const present = (await ctr(["images", "ls", "-q"])).split("\n").filter(Boolean);
  for (const image of images) {
    if (present.includes(image)) continue;
    // an older build of the same image (tags are content hashes) is no use any more
    const name = image.slice(0, image.lastIndexOf(":"));
    const older = present.filter((p) => p.startsWith(`${name}:`));
    if (older.length) await ctr(["images", "rm", ...older]);
    const archive = await Deno.makeTempFile({ prefix: "kt-image-", suffix: ".tar" });
    try {
      await sh("podman", [
        ...podmanArgs(),
        "save",
        "--format",
        "docker-archive",
        "-o",
        archive,
        image,
      ]);
      await ctr(["images", "import", archive]);
    } finally {
      await Deno.remove(archive);
    }
    if (!(await ctr(["images", "ls", "-q"])).split("\n").includes(image)) {
      throw new Error(`containerd did not list ${image} after importing it`);
    }
  }
}

/** Running containers on the node: container ID → host PID of its main process. */
export async function containerPids(): Promise<Map<string, number>> {
  const pids = new Map<string, number>();
  for (const line of (await ctr(["tasks", "ls"])).split("\n").slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id && status === "RUNNING") pids.set(id, Number(pid));
  }
  return pids;
}

/** The ID in a pod status's `containerID` (`containerd://<id>`). */
export function containerIdOf(containerID: string): string {
  return containerID.replace(/^containerd:\/\//, "");
}

async function adminFetch(dir: string) {
  const pki = `${dir}/pki`;
  const config = JSON.parse(await Deno.readTextFile(`${dir}/admin.kubeconfig`));
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(`${pki}/ca.crt`)],
    cert: await Deno.readTextFile(`${pki}/admin.crt`),
    key: await Deno.readTextFile(`${pki}/admin.key`),
  });
  const server: string = config.clusters[0].cluster.server;
  return {
    request: async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server}${path}`, {
        method,
        client,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      return response.ok ? await response.json() : (await response.body?.cancel(), null);
    },
    close: () => client.close(),
  };
}

/**
 * Deletes every pod through the API server so the kubelet stops their containers and
 * tears down their sandboxes and network, and waits until containerd runs nothing
 * (call it with the controller manager stopped, or Jobs make new pods).
 */
export async function drainNode(dir: string): Promise<void> {
  if ((await readOwner())?.dir !== dir) return;
  const api = await adminFetch(dir).catch(() => null);
  if (!api) return;
  try {
    const namespaces = await api.request("GET", "/api/v1/namespaces").catch(() => null);
    for (const ns of namespaces?.items ?? []) {
      await api.request("DELETE", `/api/v1/namespaces/${ns.metadata.name}/pods`, {
        apiVersion: "v1",
        kind: "DeleteOptions",
        gracePeriodSeconds: 0,
      }).catch(() => null);
    }
    await waitFor("the node's containers to stop", 30, async () => {
      return (await ctr(["tasks", "ls", "-q"])).trim() === "";
    }).catch((error) => console.error(`${(error as Error).message}; killing them`));
  } finally {
    api.close();
  }
}

async function mountsUnder(prefixes: string[]): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const points = info.split("\n").map((line) => line.split(" ")[4]).filter(Boolean)
    .map((p) => p.replace(/\\040/g, " "));
  return points.filter((p) => prefixes.some((prefix) => p === prefix || p.startsWith(`${prefix}/`)))
    .sort((a, b) => b.length - a.length);
}

/** PIDs of containerd shims started for the node's containerd (their command line names it). */
async function ourShims(): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    const argv = cmdline.split("\0");
    if (argv[0]?.endsWith("containerd-shim-runc-v2") && argv.includes(SOCKET)) {
      found.push(Number(entry.name));
    }
  }
  return found;
}

/** Control groups the kubelet made (cgroupfs driver: `kubepods` under each hierarchy). */
async function ourCgroups(): Promise<string[]> {
  const found: string[] = [];
  for await (const hierarchy of Deno.readDir("/sys/fs/cgroup")) {
    const path = `/sys/fs/cgroup/${hierarchy.name}/kubepods`;
    if (await Deno.stat(path).then((s) => s.isDirectory, () => false)) found.push(path);
  }
  return found;
}

async function removeCgroup(path: string): Promise<void> {
  const children: string[] = [];
  for await (const entry of Deno.readDir(path)) {
    if (entry.isDirectory) children.push(`${path}/${entry.name}`);
  }
  for (const child of children) await removeCgroup(child);
  const procs = await Deno.readTextFile(`${path}/cgroup.procs`).catch(() => "");
  for (const pid of procs.split("\n").filter(Boolean)) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch { /* gone */ }
  }
  await waitFor(`${path} to empty`, 5, async () => {
    return (await Deno.readTextFile(`${path}/cgroup.procs`).catch(() => "")).trim() === "";
  }).catch(() => {});
  await Deno.remove(path).catch(() => {});
}

async function kubeChains(family: "4" | "6"): Promise<Map<string, string[]>> {
  const program = family === "4" ? "iptables-save" : "ip6tables-save";
  const saved = await sh(program, [], { allowFailure: true }) ?? "";
  const chains = new Map<string, string[]>();
  let table = "";
  for (const line of saved.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    const chain = /^:(KUBE-\S+)/.exec(line)?.[1];
    if (chain) chains.set(table, [...(chains.get(table) ?? []), chain]);
  }
  return chains;
}

/**
 * Undoes {@linkcode startNode}: kube-proxy (and its rules), the kubelet, any container left,
 * containerd and only its shims, mounts under the node's folders, the rules and chains of
 * ours and the kubelet's, the bridge, the kernel settings as they were, the kubelet's
 * cgroups and the runtime folder. Safe to run on a node that is half up or already down.
 */
export async function stopNode(dir: string): Promise<void> {
  const owner = await readOwner();
  // another cluster's node, still running
  if (owner && owner.dir !== dir && running(owner)) return;
  const pids = owner?.pids ?? {};
  if (pids["kube-proxy"]) await stopGroup(pids["kube-proxy"]);
  await sh(`${K8S_BIN}/kube-proxy`, ["--cleanup"], { allowFailure: true });
  if (pids.kubelet) await stopGroup(pids.kubelet);

  if (pids.containerd && isRunning(pids.containerd)) {
    const tasks = (await ctr(["tasks", "ls", "-q"]).catch(() => "")).split("\n").filter(Boolean);
    for (const task of tasks) {
      await ctr(["tasks", "kill", "-a", "-s", "SIGKILL", task]).catch(() => {});
    }
    for (const task of tasks) {
      await ctr(["tasks", "rm", "-f", task]).catch(() => {});
    }
    const containers = (await ctr(["containers", "ls", "-q"]).catch(() => "")).split("\n")
      .filter(Boolean);
    for (const container of containers) {
      await ctr(["containers", "rm", container]).catch(() => {});
    }
    await stopGroup(pids.containerd);
  }
  for (const pid of await ourShims()) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  for (const cgroup of await ourCgroups()) await removeCgroup(cgroup);

  for (let pass = 0; pass < 3; pass++) {
    for (const point of await mountsUnder([RUN, CONTAINERD_ROOT, dir])) {
      if (!(await sh("umount", [point], { allowFailure: true }))) {
        await sh("umount", ["-l", point], { allowFailure: true });
      }
    }
  }

  while (await iptables("4", ["-D", ...GUARD]));
  const dnat = (await sh("iptables-save", ["-t", "nat"], { allowFailure: true }) ?? "").split("\n")
    .filter((line) =>
      line.startsWith("-A PREROUTING") && line.includes(`${API_SERVICE_IP}/32`) &&
      line.includes(POD_CIDR)
    );
  for (const rule of dnat) {
    await iptables("4", ["-t", "nat", "-D", ...rule.slice(3).split(" ")]);
  }
  for (const family of ["4", "6"] as const) {
    for (const chain of ["INPUT", "OUTPUT"]) {
      while (await iptables(family, ["-D", chain, "-j", "KUBE-FIREWALL"]));
    }
    for (const [table, chains] of await kubeChains(family)) {
      for (const chain of chains.filter((c) => KUBELET_CHAINS.includes(c))) {
        await iptables(family, ["-t", table, "-F", chain]);
        await iptables(family, ["-t", table, "-X", chain]);
      }
    }
  }
  await sh("ip", ["link", "del", BRIDGE], { allowFailure: true });

  const saved: Record<string, string> | null = await Deno.readTextFile(SAVED_SYSCTLS)
    .then(JSON.parse, () => null);
  if (saved) {
    const now = await readSysctls();
    for (const [key, value] of Object.entries(saved)) {
      if (now[key] !== value) await writeSysctl(key, value);
    }
  }
  await Deno.remove(RUN, { recursive: true }).catch(() => {});
}

/**
 * What of the node is still on this machine: processes, mounts, the bridge, iptables rules
 * and chains, cgroups, the runtime folder. Empty after {@linkcode stopNode}.
 */
export async function nodeLeftovers(pids: number[], dir?: string): Promise<string[]> {
  const left: string[] = [];
  for (const pid of pids.filter(isRunning)) left.push(`process ${pid}`);
  for (const pid of await ourShims()) left.push(`containerd shim ${pid}`);
  const folders = dir ? [RUN, CONTAINERD_ROOT, dir] : [RUN, CONTAINERD_ROOT];
  for (const point of await mountsUnder(folders)) left.push(`mount ${point}`);
  if (await Deno.stat(`/sys/class/net/${BRIDGE}`).then(() => true, () => false)) {
    left.push(`bridge ${BRIDGE}`);
  }
  for await (const link of Deno.readDir("/sys/class/net")) {
    if (link.name.startsWith("veth")) left.push(`interface ${link.name}`);
  }
  for (const family of ["4", "6"] as const) {
    const program = family === "4" ? "iptables-save" : "ip6tables-save";
    const saved = await sh(program, [], { allowFailure: true }) ?? "";
    for (const line of saved.split("\n")) {
      if (/KUBE-|10\.88\.0\.0\/16|10\.0\.0\.1\/32/.test(line)) left.push(`ip${family} ${line}`);
    }
  }
  for (const cgroup of await ourCgroups()) left.push(`cgroup ${cgroup}`);
  if (await Deno.stat(RUN).then(() => true, () => false)) left.push(`folder ${RUN}`);
  return left;
}

/** Kills a container's processes at once (SIGKILL), as the kernel's OOM killer or a crash would. */
export async function killContainer(containerID: string): Promise<void> {
  await ctr(["tasks", "kill", "--all", "--signal", "SIGKILL", containerIdOf(containerID)]);
}
