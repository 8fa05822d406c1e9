/**
 * The process node: a node agent that registers a Node with the API server, keeps its
 * Lease and Ready condition fresh, and runs every pod bound to it as local processes,
 * each container in a private mount namespace with its volumes bind-mounted where the pod
 * spec says, so that in-cluster configuration works unchanged.
 *
 *     deno run -A tests/cluster/node_agent.ts --kubeconfig FILE --image-map FILE --state DIR
 *       [--name kt-node] [--kubelet-port N --tls-cert FILE --tls-key FILE]
 *
 * Only `restartPolicy: Never` pods are run as Kubernetes would; containers start together
 * and the pod ends when all of them have exited. Each container's output goes to
 * `<state>/pods/<namespace>_<pod>_<uid>/<container>.log`, which `kubectl logs` reads through
 * the API server when the agent serves the kubelet port.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ApiError, KubeClient, kubeconfigConnection } from "../../src/k8s/client.ts";
import { type ImageMap, lookupImage } from "./image_map.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    kubeconfig: { type: "string" },
    "image-map": { type: "string" },
    state: { type: "string" },
    name: { type: "string", default: "kt-node" },
    "kubelet-port": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
  },
});
if (!flags.kubeconfig || !flags["image-map"] || !flags.state) {
  console.error(
    "usage: node_agent.ts --kubeconfig FILE --image-map FILE --state DIR [--name NAME]",
  );
  Deno.exit(2);
}
Deno.env.set("KUBECONFIG", flags.kubeconfig);
const NODE = flags.name!;
const STATE = flags.state!;
const kube = new KubeClient(await kubeconfigConnection());
const apiPort = new URL(kube.connection.server).port || "443";
const CAPACITY = { cpu: "4", memory: "8Gi", pods: "110", "ephemeral-storage": "100Gi" };
const createdMountpoints = new Set<string>();

function log(message: string): void {
  console.log(`${new Date().toISOString()} ${message}`);
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

// ---- the Node and its Lease ------------------------------------------------------------

function readyCondition(): Obj[] {
  const time = now();
  return [
    {
      type: "Ready",
      status: "True",
      reason: "KubeletReady",
      message: "process node is ready",
      lastHeartbeatTime: time,
      lastTransitionTime: time,
    },
    ...["MemoryPressure", "DiskPressure", "PIDPressure"].map((type) => ({
      type,
      status: "False",
      reason: `KubeletHasNo${type}`,
      lastHeartbeatTime: time,
      lastTransitionTime: time,
    })),
  ];
}

async function registerNode(): Promise<void> {
  const status = {
    capacity: CAPACITY,
    allocatable: CAPACITY,
    conditions: readyCondition(),
    addresses: [{ type: "InternalIP", address: "127.0.0.1" }, { type: "Hostname", address: NODE }],
    nodeInfo: {
      machineID: "kt",
      systemUUID: "kt",
      bootID: crypto.randomUUID(),
      kernelVersion: Deno.osRelease(),
      osImage: "kt-deno process node",
      containerRuntimeVersion: "process://1",
      kubeletVersion: "v1.35.4",
      kubeProxyVersion: "v1.35.4",
      operatingSystem: "linux",
      architecture: "amd64",
    },
    daemonEndpoints: { kubeletEndpoint: { Port: Number(flags["kubelet-port"] ?? 0) } },
  };
  try {
    await kube.request("POST", "/api/v1/nodes", {
      body: {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name: NODE,
          labels: {
            "kubernetes.io/hostname": NODE,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
          },
        },
        status,
      },
    });
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 409)) throw error;
  }
  await kube.request("PATCH", `/api/v1/nodes/${NODE}/status`, {
    contentType: "application/strategic-merge-patch+json",
    body: { status },
  });
}

async function heartbeat(): Promise<void> {
  await kube.request("PATCH", `/api/v1/nodes/${NODE}/status`, {
    contentType: "application/strategic-merge-patch+json",
    body: { status: { conditions: readyCondition() } },
  });
  const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`;
  const spec = {
    holderIdentity: NODE,
    leaseDurationSeconds: 40,
    renewTime: new Date().toISOString().replace("Z", "000Z"),
  };
  try {
    const lease = await kube.request<Obj>("GET", path);
    await kube.request("PUT", path, { body: { ...lease, spec: { ...lease.spec, ...spec } } });
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    await kube.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
      body: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: NODE, namespace: "kube-node-lease" },
        spec,
      },
    });
  }
}

// ---- pods ------------------------------------------------------------------------------

interface RunningPod {
  uid: string;
  namespace: string;
  name: string;
  /** Process group leaders, one per container. */
  pids: number[];
  done: Promise<void>;
  finished: boolean;
  killing: boolean;
}

const pods = new Map<string, RunningPod>();
/** `namespace/pod` → the pod's folder (its container logs), for `kubectl logs`. */
const podDirs = new Map<string, string>();
const finalized = new Set<string>();

function fieldValue(pod: Obj, path: string): string {
  const annotation = /^metadata\.annotations\['(.+)'\]$/.exec(path);
  if (annotation) return pod.metadata.annotations?.[annotation[1]] ?? "";
  const label = /^metadata\.labels\['(.+)'\]$/.exec(path);
  if (label) return pod.metadata.labels?.[label[1]] ?? "";
  switch (path) {
    case "metadata.name":
      return pod.metadata.name;
    case "metadata.namespace":
      return pod.metadata.namespace;
    case "metadata.uid":
      return pod.metadata.uid;
    case "spec.nodeName":
      return NODE;
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "default";
    case "status.podIP":
    case "status.hostIP":
      return "127.0.0.1";
  }
  throw new Error(`unsupported fieldRef ${path}`);
}

async function getObject(
  kind: "configmaps" | "secrets",
  namespace: string,
  name: string,
): Promise<Obj | null> {
  try {
    return await kube.request("GET", `/api/v1/namespaces/${namespace}/${kind}/${name}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

function decode(kind: "configmaps" | "secrets", object: Obj): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const data = object.data ?? {};
  for (const [key, value] of Object.entries<string>(data)) {
    out[key] = kind === "secrets"
      ? Uint8Array.from(atob(value), (c) => c.charCodeAt(0))
      : new TextEncoder().encode(value);
  }
  for (const [key, value] of Object.entries<string>(object.binaryData ?? {})) {
    out[key] = Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
  }
  return out;
}

function expand(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
    (match, name) => match === "$$" ? "$" : name in env ? env[name] : match,
  );
}

async function containerEnv(pod: Obj, container: Obj): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    KUBERNETES_SERVICE_HOST: "127.0.0.1",
    KUBERNETES_SERVICE_PORT: apiPort,
    KUBERNETES_SERVICE_PORT_HTTPS: apiPort,
    HOSTNAME: pod.metadata.name,
  };
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    const kind = source.configMapRef ? "configmaps" : "secrets";
    const object = await getObject(kind, pod.metadata.namespace, ref.name);
    if (!object) {
      if (ref.optional) continue;
      throw new Error(`${kind} ${ref.name} not found`);
    }
    for (const [key, value] of Object.entries(decode(kind, object))) {
      env[(source.prefix ?? "") + key] = new TextDecoder().decode(value);
    }
  }
  for (const entry of container.env ?? []) {
    if (entry.valueFrom === undefined) {
      env[entry.name] = expand(entry.value ?? "", env);
      continue;
    }
    const from = entry.valueFrom;
    if (from.fieldRef) env[entry.name] = fieldValue(pod, from.fieldRef.fieldPath);
    else if (from.configMapKeyRef || from.secretKeyRef) {
      const ref = from.configMapKeyRef ?? from.secretKeyRef;
      const kind = from.configMapKeyRef ? "configmaps" : "secrets";
      const object = await getObject(kind, pod.metadata.namespace, ref.name);
      const value = object ? decode(kind, object)[ref.key] : undefined;
      if (value === undefined) {
        if (ref.optional) continue;
        throw new Error(
          `couldn't find key ${ref.key} in ${kind} ${pod.metadata.namespace}/${ref.name}`,
        );
      }
      env[entry.name] = new TextDecoder().decode(value);
    } else if (from.resourceFieldRef) {
      const resource = from.resourceFieldRef.resource as string;
      const [kind, name] = resource.split(".");
      env[entry.name] = container.resources?.[kind]?.[name] ?? "";
    }
  }
  return env;
}

async function writeFiles(
  dir: string,
  files: Record<string, Uint8Array>,
  items?: Obj[],
): Promise<void> {
  const chosen = items
    ? items.map((item: Obj) => [item.path, files[item.key]] as const)
    : Object.entries(files);
  for (const [path, data] of chosen) {
    if (data === undefined) continue;
    const target = `${dir}/${path}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(target, data);
  }
}

/** Materializes a pod's volumes; returns volume name → host path. */
async function prepareVolumes(pod: Obj, podDir: string): Promise<Map<string, string>> {
  const paths = new Map<string, string>();
  const ns = pod.metadata.namespace;
  for (const volume of pod.spec.volumes ?? []) {
    const dir = `${podDir}/volumes/${volume.name}`;
    if (volume.hostPath) {
      const type = volume.hostPath.type ?? "";
      if (type === "DirectoryOrCreate") await Deno.mkdir(volume.hostPath.path, { recursive: true });
      else if (type === "Directory") {
        if (!(await Deno.stat(volume.hostPath.path)).isDirectory) {
          throw new Error(`${volume.hostPath.path} is not a directory`);
        }
      }
      paths.set(volume.name, volume.hostPath.path);
      continue;
    }
    await Deno.mkdir(dir, { recursive: true });
    paths.set(volume.name, dir);
    if (volume.emptyDir) continue;
    if (volume.configMap || volume.secret) {
      const kind = volume.configMap ? "configmaps" : "secrets";
      const source = volume.configMap ?? volume.secret;
      const name = source.name ?? source.secretName;
      const object = await getObject(kind, ns, name);
      if (!object) {
        if (source.optional) continue;
        throw new Error(`${kind} ${ns}/${name} not found`);
      }
      await writeFiles(dir, decode(kind, object), source.items);
    } else if (volume.projected || volume.downwardAPI) {
      const sources = volume.projected?.sources ?? [{ downwardAPI: volume.downwardAPI }];
      for (const source of sources) {
        if (source.serviceAccountToken) {
          const spec = source.serviceAccountToken;
          const account = pod.spec.serviceAccountName ?? "default";
          const token = await kube.request<Obj>(
            "POST",
            `/api/v1/namespaces/${ns}/serviceaccounts/${account}/token`,
            {
              body: {
                apiVersion: "authentication.k8s.io/v1",
                kind: "TokenRequest",
                spec: {
                  audiences: spec.audience ? [spec.audience] : [],
                  expirationSeconds: spec.expirationSeconds ?? 3607,
                  boundObjectRef: {
                    kind: "Pod",
                    apiVersion: "v1",
                    name: pod.metadata.name,
                    uid: pod.metadata.uid,
                  },
                },
              },
            },
          );
          await writeFiles(dir, { [spec.path]: new TextEncoder().encode(token.status.token) });
        } else if (source.configMap || source.secret) {
          const kind = source.configMap ? "configmaps" : "secrets";
          const ref = source.configMap ?? source.secret;
          const object = await getObject(kind, ns, ref.name);
          if (!object) {
            if (ref.optional) continue;
            throw new Error(`${kind} ${ns}/${ref.name} not found`);
          }
          await writeFiles(dir, decode(kind, object), ref.items);
        } else if (source.downwardAPI) {
          const files: Record<string, Uint8Array> = {};
          for (const item of source.downwardAPI.items ?? []) {
            if (item.fieldRef) {
              files[item.path] = new TextEncoder().encode(fieldValue(pod, item.fieldRef.fieldPath));
            }
          }
          await writeFiles(dir, files);
        }
      }
    } else {
      throw new Error(`volume ${volume.name}: unsupported volume type`);
    }
  }
  return paths;
}

async function ensureMountpoint(path: string, isFile: boolean): Promise<void> {
  try {
    await Deno.lstat(path);
    return;
  } catch {
    // create it below
  }
  const parts = path.split("/").filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const prefix = "/" + parts.slice(0, i).join("/");
    try {
      await Deno.lstat(prefix);
    } catch {
      if (i === parts.length && isFile) await Deno.writeFile(prefix, new Uint8Array());
      else await Deno.mkdir(prefix);
      createdMountpoints.add(prefix);
    }
  }
}

async function patchStatus(pod: Obj, status: Obj): Promise<void> {
  try {
    await kube.request(
      "PATCH",
      `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`,
      {
        contentType: "application/strategic-merge-patch+json",
        body: { metadata: { uid: pod.metadata.uid }, status },
      },
    );
  } catch (error) {
    if (!(error instanceof ApiError && (error.status === 404 || error.status === 409))) throw error;
  }
}

function statusConditions(ready: boolean, reason?: string): Obj[] {
  const time = now();
  return [
    { type: "PodReadyToStartContainers", status: "True", lastTransitionTime: time },
    { type: "Initialized", status: "True", lastTransitionTime: time },
    {
      type: "ContainersReady",
      status: ready ? "True" : "False",
      lastTransitionTime: time,
      ...(reason ? { reason } : {}),
    },
    {
      type: "Ready",
      status: ready ? "True" : "False",
      lastTransitionTime: time,
      ...(reason ? { reason } : {}),
    },
  ];
}

const SIGNALS: Record<string, number> = {
  SIGKILL: 9,
  SIGTERM: 15,
  SIGINT: 2,
  SIGABRT: 6,
  SIGSEGV: 11,
  SIGHUP: 1,
};

/** A container's status as the kubelet reports it; `pid` once its process exists. */
function containerStatus(
  container: { name: string; image: string },
  state: Obj,
  pid?: number,
): Obj {
  return {
    name: container.name,
    image: container.image,
    imageID: "",
    ...(pid === undefined ? {} : { containerID: `process://${pid}` }),
    ready: state.running !== undefined,
    started: state.running !== undefined,
    restartCount: 0,
    state,
  };
}

async function startPod(pod: Obj): Promise<void> {
  const uid = pod.metadata.uid;
  const imageMap: ImageMap = JSON.parse(await Deno.readTextFile(flags["image-map"]!));
  const containers: Obj[] = pod.spec.containers;
  const missing = containers.find((c) => !lookupImage(imageMap, c.image));
  if (missing) {
    log(
      `pod ${pod.metadata.namespace}/${pod.metadata.name}: image ${missing.image} is not in the image map`,
    );
    await patchStatus(pod, {
      containerStatuses: containers.map((c) =>
        containerStatus(c, {
          waiting: {
            reason: "ErrImageNeverPull",
            message: `image ${c.image} is not in the process node's image map`,
          },
        })
      ),
    });
    return;
  }
  const podDir = `${STATE}/pods/${pod.metadata.namespace}_${pod.metadata.name}_${uid}`;
  await Deno.mkdir(podDir, { recursive: true });
  podDirs.set(`${pod.metadata.namespace}/${pod.metadata.name}`, podDir);
  const running: RunningPod = {
    uid,
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    pids: [],
    done: Promise.resolve(),
    finished: false,
    killing: false,
  };
  pods.set(uid, running);
  const startedAt = now();
  let volumes: Map<string, string>;
  const launched: { name: string; image: string; child: Deno.ChildProcess; startedAt: string }[] =
    [];
  try {
    volumes = await prepareVolumes(pod, podDir);
    for (const container of containers) {
      const entry = lookupImage(imageMap, container.image)!;
      const env = await containerEnv(pod, container);
      const binDir = `${podDir}/bin-${container.name}`;
      await Deno.mkdir(binDir, { recursive: true });
      for (const [name, target] of Object.entries(entry.bin ?? {})) {
        await Deno.symlink(target, `${binDir}/${name}`).catch(() => {});
      }
      env.PATH = `${binDir}:${env.PATH ?? Deno.env.get("PATH") ?? "/usr/bin:/bin"}`;
      env.HOME ??= Deno.env.get("HOME") ?? "/root";
      const mounts: [string, string, boolean][] = [];
      if (entry.app) mounts.push([entry.app, "/app", true]);
      for (const mount of container.volumeMounts ?? []) {
        const source = volumes.get(mount.name);
        if (!source) throw new Error(`volumeMount ${mount.name}: no such volume`);
        const path = mount.subPath ? `${source}/${mount.subPath}` : source;
        mounts.push([path, mount.mountPath, mount.readOnly ?? false]);
      }
      const lines: string[] = [];
      for (const [source, target, readOnly] of mounts) {
        const isFile = (await Deno.stat(source)).isFile;
        await ensureMountpoint(target, isFile);
        lines.push(`mount --bind ${quote(source)} ${quote(target)}`);
        if (readOnly) lines.push(`mount -o remount,bind,ro ${quote(target)}`);
      }
      const argv = [...(container.command ?? []), ...(container.args ?? [])].map((a) =>
        expand(a, env)
      );
      if (argv.length === 0) {
        throw new Error(
          `container ${container.name}: no command (the process node runs no image entrypoints)`,
        );
      }
      const logFile = `${podDir}/${container.name}.log`;
      lines.push(`cd ${quote(container.workingDir ?? "/")}`);
      lines.push(`exec "$@" >>${quote(logFile)} 2>&1`);
      const child = new Deno.Command("setsid", {
        args: [
          "unshare",
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-ec",
          lines.join("\n"),
          "sh",
          ...argv,
        ],
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      running.pids.push(child.pid);
      launched.push({ name: container.name, image: container.image, child, startedAt: now() });
    }
  } catch (error) {
    log(
      `pod ${pod.metadata.namespace}/${pod.metadata.name} cannot start: ${
        (error as Error).message
      }`,
    );
    for (const { child } of launched) {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await patchStatus(pod, {
      phase: "Failed",
      reason: "ContainerCannotRun",
      message: (error as Error).message,
      conditions: statusConditions(false, "PodFailed"),
      containerStatuses: containers.map((c) =>
        containerStatus(c, {
          terminated: {
            exitCode: 128,
            reason: "ContainerCannotRun",
            message: (error as Error).message,
            startedAt,
            finishedAt: now(),
          },
        })
      ),
    });
    running.finished = true;
    return;
  }
  log(`pod ${pod.metadata.namespace}/${pod.metadata.name} started: pids ${running.pids.join(",")}`);
  await patchStatus(pod, {
    phase: "Running",
    hostIP: "127.0.0.1",
    hostIPs: [{ ip: "127.0.0.1" }],
    podIP: "127.0.0.1",
    podIPs: [{ ip: "127.0.0.1" }],
    startTime: startedAt,
    conditions: statusConditions(true),
    containerStatuses: launched.map((c) =>
      containerStatus(c, { running: { startedAt: c.startedAt } }, c.child.pid)
    ),
  });
  running.done = (async () => {
    const results = await Promise.all(launched.map(async (c) => {
      const [status, stderr] = await Promise.all([
        c.child.status,
        new Response(c.child.stderr).text(),
      ]);
      if (stderr.trim()) {
        await Deno.writeTextFile(`${podDir}/${c.name}.log`, stderr, { append: true });
      }
      const exitCode = status.signal ? 128 + (SIGNALS[status.signal] ?? 0) : status.code;
      return { ...c, exitCode, signal: status.signal };
    }));
    running.finished = true;
    const ok = results.every((r) => r.exitCode === 0);
    log(
      `pod ${pod.metadata.namespace}/${pod.metadata.name} ended: exit codes ${
        results.map((r) => r.exitCode).join(",")
      }`,
    );
    await patchStatus(pod, {
      phase: ok ? "Succeeded" : "Failed",
      conditions: statusConditions(false, ok ? "PodCompleted" : "PodFailed"),
      containerStatuses: results.map((r) =>
        containerStatus(r, {
          terminated: {
            exitCode: r.exitCode,
            ...(r.signal ? { signal: SIGNALS[r.signal] } : {}),
            reason: r.exitCode === 0 ? "Completed" : "Error",
            startedAt: r.startedAt,
            finishedAt: now(),
            containerID: `process://${r.child.pid}`,
          },
        }, r.child.pid)
      ),
    });
  })();
}

function killGroups(running: RunningPod, signal: Deno.Signal): void {
  for (const pid of running.pids) {
    try {
      Deno.kill(-pid, signal);
    } catch {
      // already gone
    }
  }
}

async function finalize(pod: Obj): Promise<void> {
  const uid = pod.metadata.uid;
  if (finalized.has(uid)) return;
  finalized.add(uid);
  const running = pods.get(uid);
  if (running && !running.finished) {
    running.killing = true;
    killGroups(running, "SIGTERM");
    const grace = Math.min(pod.metadata.deletionGracePeriodSeconds ?? 30, 5);
    const timer = setTimeout(() => killGroups(running, "SIGKILL"), grace * 1000);
    await running.done;
    clearTimeout(timer);
  }
  try {
    await kube.request(
      "DELETE",
      `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`,
      {
        body: {
          apiVersion: "v1",
          kind: "DeleteOptions",
          gracePeriodSeconds: 0,
          preconditions: { uid },
        },
      },
    );
  } catch (error) {
    if (!(error instanceof ApiError && (error.status === 404 || error.status === 409))) throw error;
  }
  pods.delete(uid);
  podDirs.delete(`${pod.metadata.namespace}/${pod.metadata.name}`);
}

async function handlePod(pod: Obj): Promise<void> {
  const uid = pod.metadata.uid;
  if (pod.metadata.deletionTimestamp) return await finalize(pod);
  if (pods.has(uid)) return;
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return;
  if (pod.status?.containerStatuses?.some((c: Obj) => c.state?.running || c.state?.terminated)) {
    // a pod this agent ran before it restarted: its processes are gone
    await patchStatus(pod, {
      phase: "Failed",
      reason: "NodeRestarted",
      message: "the process node restarted",
    });
    return;
  }
  await startPod(pod);
}

async function watchPods(signal: AbortSignal): Promise<void> {
  const path = "/api/v1/pods";
  const query = { fieldSelector: `spec.nodeName=${NODE}` };
  while (!signal.aborted) {
    try {
      const list = await kube.request<Obj>("GET", path, { query });
      for (const pod of list.items) {
        handlePod(pod).catch((e) => log(`pod ${pod.metadata.name}: ${e.message}`));
      }
      let resourceVersion = list.metadata.resourceVersion;
      for await (
        const event of kube.watch<Obj>(
          path,
          { ...query, resourceVersion, timeoutSeconds: 300 },
          signal,
        )
      ) {
        resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
        if (event.type === "BOOKMARK") continue;
        if (event.type === "DELETED") {
          const running = pods.get(event.object.metadata.uid);
          if (running && !running.finished) killGroups(running, "SIGKILL");
          continue;
        }
        handlePod(event.object).catch((e) =>
          log(`pod ${event.object.metadata.name}: ${e.message}`)
        );
      }
    } catch (error) {
      if (signal.aborted) return;
      log(`pod watch ended: ${(error as Error).message}; relisting`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

// ---- the kubelet port: container logs -----------------------------------------------------

/** Serves `GET /containerLogs/<namespace>/<pod>/<container>[?follow=true]` to the API server. */
function serveLogs(request: Request): Response {
  const url = new URL(request.url);
  const match = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
  if (!match) return new Response("not found\n", { status: 404 });
  const [, namespace, name, container] = match.map(decodeURIComponent);
  const dir = podDirs.get(`${namespace}/${name}`);
  if (!dir) {
    return new Response(`no logs of pod ${namespace}/${name} on this node\n`, { status: 404 });
  }
  const file = `${dir}/${container}.log`;
  const uid = dir.slice(dir.lastIndexOf("_") + 1);
  const running = () => {
    const pod = pods.get(uid);
    return pod !== undefined && !pod.finished;
  };
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const data = await Deno.readFile(file).catch(() => new Uint8Array());
        if (data.length > offset) {
          controller.enqueue(data.subarray(offset));
          offset = data.length;
          return;
        }
        if (url.searchParams.get("follow") !== "true" || !running()) return controller.close();
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
  });
  return new Response(body, { headers: { "content-type": "text/plain" } });
}

// ---- main ------------------------------------------------------------------------------

const stopping = new AbortController();
const shutdown = async () => {
  if (stopping.signal.aborted) return;
  stopping.abort();
  for (const running of pods.values()) killGroups(running, "SIGKILL");
  await Promise.race([
    Promise.all([...pods.values()].map((p) => p.done)),
    new Promise((resolve) => setTimeout(resolve, 3000)),
  ]);
  for (const path of [...createdMountpoints].sort().reverse()) {
    await Deno.remove(path).catch(() => {});
  }
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", shutdown);
Deno.addSignalListener("SIGINT", shutdown);

await Deno.mkdir(`${STATE}/pods`, { recursive: true });
if (flags["kubelet-port"] && flags["tls-cert"] && flags["tls-key"]) {
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(flags["kubelet-port"]),
    cert: await Deno.readTextFile(flags["tls-cert"]),
    key: await Deno.readTextFile(flags["tls-key"]),
    onListen: () => {},
  }, serveLogs);
}
await registerNode();
await heartbeat();
log(`node ${NODE} registered (api port ${apiPort})`);
setInterval(() => heartbeat().catch((e) => log(`heartbeat failed: ${e.message}`)), 10_000);
await watchPods(stopping.signal);
