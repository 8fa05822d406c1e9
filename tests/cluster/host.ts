/**
 * Running host programs for the test cluster: one command at a time, its output returned,
 * its failure an error that names the command and quotes what it printed; and the Debian
 * packages the real node needs, installed with apt-get when missing.
 *
 * @module
 */
import { isAlive } from "../ports.ts";

/** Where kt-deno's test tooling caches what it builds (binaries, images, containerd's store). */
export const CACHE = Deno.env.get("KT_DENO_CACHE") ?? `${Deno.env.get("HOME")}/.cache/kt-deno`;
/** The Kubernetes binaries build.sh makes (control plane, kubelet, kube-proxy, kubectl). */
export const K8S_BIN = `${CACHE}/bin/k8s-v1.35.4`;

/** Settings of {@linkcode sh}. */
export interface ShOptions {
  /** Extra environment. */
  env?: Record<string, string>;
  /** Resolve to null instead of throwing when the program fails. */
  allowFailure?: boolean;
}

/** Runs `program args` and returns its stdout; throws on a non-zero exit unless allowed. */
export async function sh(
  program: string,
  args: string[],
  options: ShOptions & { allowFailure: true },
): Promise<string | null>;
export async function sh(program: string, args: string[], options?: ShOptions): Promise<string>;
export async function sh(
  program: string,
  args: string[],
  options: ShOptions = {},
): Promise<string | null> {
  const output = await new Deno.Command(program, {
    args,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (output.success) return decoder.decode(output.stdout);
  if (options.allowFailure) return null;
  const said = (decoder.decode(output.stderr) || decoder.decode(output.stdout)).trim();
  throw new Error(
    `${program} ${args.join(" ")} failed (exit ${output.code}): ${said.slice(-2000)}`,
  );
}

/** Programs the real node and the image build use, and the Debian package of each. */
const PACKAGES: Record<string, string> = {
  containerd: "containerd",
  runc: "runc",
  "/usr/lib/cni/bridge": "containernetworking-plugins",
  iptables: "iptables",
  ip6tables: "iptables",
  conntrack: "conntrack",
  podman: "podman",
  debootstrap: "debootstrap",
  gcc: "gcc",
  "/usr/include/stdio.h": "libc6-dev",
  openssl: "openssl",
  ip: "iproute2",
  mount: "mount",
};

async function found(program: string): Promise<boolean> {
  if (program.startsWith("/")) return await Deno.stat(program).then(() => true, () => false);
  return (await sh("sh", ["-c", `command -v ${program}`], { allowFailure: true })) !== null;
}

/** Installs (apt-get) the Debian packages of the programs above that are missing. */
export async function ensurePackages(): Promise<void> {
  const missing = new Set<string>();
  for (const [program, pkg] of Object.entries(PACKAGES)) {
    if (!(await found(program))) missing.add(pkg);
  }
  if (missing.size === 0) return;
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  console.error(`installing Debian packages: ${[...missing].join(" ")}`);
  // the packages' own services (a system containerd) are not started: the node runs its own
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !(await found(policy));
  if (ownPolicy) await Deno.writeTextFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    await sh("apt-get", ["update", "-qq"], { env });
    await sh("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env });
  } finally {
    if (ownPolicy) await Deno.remove(policy);
  }
}

/**
 * Waits until `check` resolves true (errors count as false), polling; throws after `seconds`,
 * or at once when `hopeless` names a reason to stop waiting (a process that exited).
 */
export async function waitFor(
  what: string,
  seconds: number,
  check: () => Promise<boolean>,
  hopeless: () => string | undefined = () => undefined,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    const reason = hopeless();
    if (reason) throw new Error(`${reason} while waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out after ${seconds}s waiting for ${what}`);
}

/**
 * Starts `argv` in a session of its own (so its process group can be stopped as one) with
 * its output in `<logs>/<name>.log`; returns its PID.
 */
export function spawnLogged(logs: string, name: string, argv: string[], detached: boolean): number {
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", `exec "$0" "$@" >>"${logs}/${name}.log" 2>&1`, ...argv],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  if (detached) child.unref();
  else child.status.catch(() => {});
  return child.pid;
}

/**
 * True while a process runs: it exists and is not a zombie (a detached process's exit is
 * reaped by init, which may take a while).
 */
export function isRunning(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Stops a process group started by {@linkcode spawnLogged}: SIGTERM, then SIGKILL. */
export async function stopGroup(pid: number, graceMs = 10_000): Promise<void> {
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    try {
      Deno.kill(-pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + (signal === "SIGTERM" ? graceMs : 2_000);
    while (isRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!isRunning(pid)) return;
  }
}
