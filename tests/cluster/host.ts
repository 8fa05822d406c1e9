/**
 * Running host programs for the test cluster: one command at a time, its output returned,
 * its failure an error that names the command and quotes what it printed; and the Debian
 * packages the real node needs, installed with apt-get when missing.
 *
 * @module
 */
import { isAlive } from "../ports.ts";
import { until } from "../until.ts";

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

/**
 * Every program the tests start that a fresh machine lacks, and the Debian package of each:
 * the real node (containerd, runc, CNI, iptables, conntrack), the image build (podman,
 * debootstrap, a static C compiler for the pause image), the browser tests (chromium) and
 * the terminal tests (tmux).
 */
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
  tmux: "tmux",
  "/usr/bin/chromium": "chromium",
};

/** Packages installed with their recommended packages (Chromium's fonts). */
const WITH_RECOMMENDS = new Set(["chromium"]);

async function found(program: string): Promise<boolean> {
  if (program.startsWith("/")) return await Deno.stat(program).then(() => true, () => false);
  return (await sh("sh", ["-c", `command -v ${program}`], { allowFailure: true })) !== null;
}

async function missingPackages(): Promise<string[]> {
  const missing = new Set<string>();
  for (const [program, pkg] of Object.entries(PACKAGES)) {
    if (!(await found(program))) missing.add(pkg);
  }
  return [...missing];
}

async function installPackages(): Promise<void> {
  if (!(await found("go"))) {
    throw new Error("go is not on PATH: the tests build their servers from Go modules");
  }
  if ((await missingPackages()).length === 0) return;
  // one install at a time on this machine, whichever test process asks first
  const lock = await Deno.open("/run/lock/kt-deno-host.lock", { create: true, write: true });
  await lock.lock(true);
  try {
    const missing = await missingPackages();
    if (missing.length === 0) return;
    if (Deno.uid() !== 0) {
      throw new Error(
        `missing Debian packages; install them as root: apt-get install ${missing.join(" ")}`,
      );
    }
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    console.error(`installing Debian packages: ${missing.join(" ")}`);
    // the packages' own services (a system containerd) are not started: the node runs its own
    const policy = "/usr/sbin/policy-rc.d";
    const ownPolicy = !(await found(policy));
    if (ownPolicy) await Deno.writeTextFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
    try {
      await sh("apt-get", ["-o", "DPkg::Lock::Timeout=600", "update", "-qq"], { env });
      const plain = missing.filter((p) => !WITH_RECOMMENDS.has(p));
      const full = missing.filter((p) => WITH_RECOMMENDS.has(p));
      // another apt-get on this machine (not ours) is waited for, not failed on
      const install = ["-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq"];
      if (plain.length) {
        await sh("apt-get", [...install, "--no-install-recommends", ...plain], { env });
      }
      if (full.length) await sh("apt-get", [...install, ...full], { env });
    } finally {
      if (ownPolicy) await Deno.remove(policy);
    }
  } finally {
    lock.close();
  }
}

let hostReady: Promise<void> | undefined;

/**
 * Makes this machine ready for every test that starts a host program: installs (apt-get)
 * the Debian packages above that are missing, once per process and one process at a time.
 * Every path to podman, containerd, the kubelet, MinIO, kwok, actionlint, Chromium and tmux
 * goes through it (directly, or through {@linkcode buildTool}), so any test file can run
 * first, or alone, on a fresh machine. A failed install is tried again by the next caller.
 */
export function ensureHost(): Promise<void> {
  hostReady ??= installPackages().catch((error) => {
    hostReady = undefined;
    throw error;
  });
  return hostReady;
}

/**
 * Runs one of the tests' build scripts (`tests/<tool>/build.sh`: it builds a pinned Go module
 * into the cache unless it is there) after {@linkcode ensureHost}; returns the last line it
 * printed (the binary or folder it made).
 */
export async function buildTool(script: string): Promise<string> {
  await ensureHost();
  // one build of a tool at a time on the machine: a second test process waits for the first
  // and then finds the binary cached, instead of compiling the same module beside it
  await Deno.mkdir(CACHE, { recursive: true });
  const name = script.split("/").at(-2);
  const lock = await Deno.open(`${CACHE}/.build-${name}.lock`, { create: true, write: true });
  await lock.lock(true);
  try {
    const output = await new Deno.Command("bash", {
      args: [script],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!output.success) throw new Error(`${script} failed (see the output above)`);
    return new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!;
  } finally {
    lock.close();
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
  await until(what, seconds, async () => {
    if (await check().catch(() => false)) return true;
    const reason = hopeless();
    if (reason) throw new Error(`${reason} while waiting for ${what}`);
  }, { retryErrors: false });
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
