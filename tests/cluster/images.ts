/**
 * Images for the real node, built offline with podman from the project's Dockerfile.
 *
 * Nothing is pulled. The Dockerfile's base images are made here under the names it uses:
 * `node:22-bookworm-slim` is a Debian bookworm root file system (debootstrap, from the
 * machine's own Debian mirror) with this machine's Node.js and npm copied in, since npm is
 * all the Dockerfile asks of it and every machine that runs these tests has both (Debian's
 * own npm package would pull hundreds of packages more). It also trusts what the host
 * trusts (the host's CA bundle, for npm and Deno), so the build reaches the npm registry
 * as the host does, through whatever TLS proxy the host's network has.
 * The `worker` target is then built as the Dockerfile says (its `npm install` and
 * `deno install` reach the npm registry through the host's network), and test images
 * follow the README's recipe: `FROM kt-deno-worker:<version>` + `COPY kt_functions`.
 * The pause image is Kubernetes' own pause.c, compiled static, in an image of its own.
 *
 * Everything is cached under `~/.cache/kt-deno/images` (podman's store, the debootstrap
 * tarball); an image is rebuilt only when its inputs change (its tag or label is a hash of
 * them), so a warm run builds nothing.
 *
 * ```ts ignore
 * const image = await testImage("fixtures", ["tests/fixtures/kt_functions"]);
 * // image.ref: "localhost/kt-test-fixtures:<hash>", named from the files alone;
 * // await image.build() puts it in podman's store (the cluster harness does); node.ts loads it
 * ```
 *
 * @module
 */
import { VERSION } from "../../src/version.ts";
import { copy } from "../copy.ts";
import { CACHE, ensureHost, sh } from "./host.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const IMAGES = `${CACHE}/images`;
const K8S_VERSION = "v1.35.4";

/** The worker image's name, as the README's recipe writes it. */
export const WORKER_IMAGE = `kt-deno-worker:${VERSION}`;
/** The pod sandbox image the node's containerd uses. */
export const PAUSE_IMAGE = `localhost/kt-pause:${K8S_VERSION}`;
const DEBIAN_IMAGE = "localhost/kt-debian:bookworm";
const NODE_BASE = "docker.io/library/node:22-bookworm-slim";
const SOURCE_LABEL = "kt-deno.source";

/**
 * podman's run-time state: under /run, where it belongs, and short, since podman refuses a
 * runroot longer than 50 characters (a cache under a long HOME would pass that). Named by
 * a hash of the cache folder, so two caches never share it.
 */
const RUNROOT = `/run/kt-deno-podman-${
  [...new TextEncoder().encode(IMAGES)].reduce((h, b) => (h * 31 + b) >>> 0, 7).toString(16)
}`;

/** podman with its own store under the cache, runc and cgroupfs (no systemd here). */
export function podmanArgs(): string[] {
  return [
    "--root",
    `${IMAGES}/store`,
    "--runroot",
    RUNROOT,
    "--storage-driver",
    "overlay",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
    "--runtime",
    "/usr/sbin/runc",
  ];
}

/** Runs podman on the test store (installed first if missing); returns its output. */
export async function podman(args: string[]): Promise<string> {
  await ensureHost();
  return await sh("podman", [...podmanArgs(), ...args]);
}

async function podmanOrNull(args: string[]): Promise<string | null> {
  await ensureHost();
  return await sh("podman", [...podmanArgs(), ...args], { allowFailure: true });
}

async function hashFiles(paths: string[], extra = ""): Promise<string> {
  const files: string[] = [];
  const walk = async (path: string) => {
    const info = await Deno.stat(path);
    if (!info.isDirectory) return void files.push(path);
    for await (const entry of Deno.readDir(path)) await walk(`${path}/${entry.name}`);
  };
  for (const path of paths) await walk(path);
  const parts: Uint8Array[] = [new TextEncoder().encode(extra)];
  for (const file of files.sort()) {
    parts.push(new TextEncoder().encode(`\0${file.replace(ROOT, "")}\0`));
    parts.push(await Deno.readFile(file));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) all.set(part, (at += part.length) - part.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function label(image: string): Promise<string | null> {
  const out = await podmanOrNull(
    ["image", "inspect", "--format", `{{index .Labels "${SOURCE_LABEL}"}}`, image],
  );
  return out === null ? null : out.trim();
}

async function exists(image: string): Promise<boolean> {
  return (await podmanOrNull(["image", "exists", image])) !== null;
}

/** Removes the older builds of an image (other tags of its name) and what only they used. */
async function removeOtherTags(image: string): Promise<void> {
  const name = image.slice(0, image.lastIndexOf(":"));
  const listed = await podman(["images", "--format", "{{.Repository}}:{{.Tag}}", name]);
  const old = listed.split("\n").filter((line) => line && line !== image);
  if (old.length) await podman(["rmi", ...old]);
  await podman(["image", "prune", "--force"]);
}

/** Removes the store of an older harness, whose podman database names a runroot in the cache. */
async function dropOldStore(): Promise<void> {
  const old = `${IMAGES}/podman`;
  if (!(await Deno.stat(old).then(() => true, () => false))) return;
  const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n");
  const points = mounts.map((line) => line.split(" ")[4]).filter((p) => p?.startsWith(`${old}/`));
  for (const point of points.sort().reverse()) {
    await sh("umount", ["-l", point], { allowFailure: true });
  }
  await Deno.remove(old, { recursive: true });
}

/** Holds an exclusive lock on the image cache while `fn` runs (two builds never interleave). */
async function locked<T>(fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(IMAGES, { recursive: true });
  const file = await Deno.open(`${IMAGES}/.lock`, { create: true, write: true });
  await file.lock(true);
  try {
    await dropOldStore();
    return await fn();
  } finally {
    // podman's overlay driver leaves its store bind-mounted on itself
    const mounts = await Deno.readTextFile("/proc/self/mountinfo");
    for (const line of mounts.split("\n")) {
      const point = line.split(" ")[4];
      if (point?.startsWith(`${IMAGES}/`) || point?.startsWith(`${RUNROOT}/`)) {
        await sh("umount", [point], { allowFailure: true });
      }
    }
    // and its containers' cgroups (cgroupfs manager) under libpod_parent in each hierarchy
    await sh("sh", [
      "-c",
      "find /sys/fs/cgroup/*/libpod_parent -depth -type d -exec rmdir {} + 2>/dev/null",
    ], {
      allowFailure: true,
    });
    file.close();
  }
}

function debianMirror(): string {
  try {
    const sources = Deno.readTextFileSync("/etc/apt/sources.list.d/debian.sources");
    const uri = /^URIs:\s*(\S+)/m.exec(sources)?.[1];
    if (uri) return uri;
  } catch { /* no deb822 sources */ }
  try {
    const list = Deno.readTextFileSync("/etc/apt/sources.list");
    const uri = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(list)?.[1];
    if (uri) return uri;
  } catch { /* no sources.list */ }
  return "http://deb.debian.org/debian";
}

/** A Debian bookworm minbase image made with debootstrap (its tarball cached). */
async function debianImage(): Promise<void> {
  if (await exists(DEBIAN_IMAGE)) return;
  const tarball = `${IMAGES}/debian-bookworm-minbase.tar`;
  if (!(await Deno.stat(tarball).then(() => true, () => false))) {
    const rootfs = await Deno.makeTempDir({ dir: IMAGES, prefix: "rootfs-" });
    try {
      await sh("debootstrap", ["--variant=minbase", "bookworm", rootfs, debianMirror()]);
      for (const dir of ["var/cache/apt/archives", "var/lib/apt/lists"]) {
        await sh("find", [`${rootfs}/${dir}`, "-type", "f", "-delete"]);
      }
      await sh("tar", ["-C", rootfs, "-cf", `${tarball}.part`, "."]);
      await Deno.rename(`${tarball}.part`, tarball);
    } finally {
      await Deno.remove(rootfs, { recursive: true });
    }
  }
  await podman(["import", tarball, DEBIAN_IMAGE]);
}

/** `node:22-bookworm-slim`: Debian plus this machine's node and npm (all the Dockerfile uses). */
async function nodeBase(): Promise<void> {
  const node = (await sh("sh", ["-c", "command -v node"])).trim();
  const npm = `${(await sh("npm", ["root", "-g"])).trim()}/npm`;
  const bundle = "/etc/ssl/certs/ca-certificates.crt";
  const wanted = await hashFiles([await Deno.realPath(node), `${npm}/package.json`, bundle]);
  if ((await label(NODE_BASE)) === wanted) return;
  await debianImage();
  const context = await Deno.makeTempDir({ prefix: "kt-node-base-" });
  try {
    await Deno.copyFile(await Deno.realPath(node), `${context}/node`);
    await copy(npm, `${context}/npm`);
    await Deno.copyFile(bundle, `${context}/ca-certificates.crt`);
    await Deno.writeTextFile(
      `${context}/Containerfile`,
      [
        `FROM ${DEBIAN_IMAGE}`,
        "COPY node /usr/local/bin/node",
        "COPY npm /usr/local/lib/node_modules/npm",
        `COPY ca-certificates.crt ${bundle}`,
        `ENV NODE_EXTRA_CA_CERTS=${bundle} DENO_CERT=${bundle}`,
        "RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\",
        " && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\",
        " && node --version && npm --version",
        'CMD ["node"]',
        "",
      ].join("\n"),
    );
    await podman([
      "build",
      "--pull=never",
      "--network",
      "none",
      "--label",
      `${SOURCE_LABEL}=${wanted}`,
      "-t",
      NODE_BASE,
      context,
    ]);
  } finally {
    await Deno.remove(context, { recursive: true });
  }
}

const WORKER_INPUTS = ["Dockerfile", "deno.json", "deno.lock", "main.ts", "src"];

/**
 * The tag of the worker image built from these sources
 * (`localhost/kt-deno-worker:<version>-<hash>`), from the files alone: nothing is built or
 * started. Checkouts of different sources testing at once each keep their own image under it,
 * where the shared tag goes to whichever built last.
 */
export async function workerImageRef(): Promise<{ ref: string; hash: string }> {
  const hash = await hashFiles(WORKER_INPUTS.map((p) => `${ROOT}${p}`));
  return { ref: `localhost/kt-deno-worker:${VERSION}-${hash.slice(0, 16)}`, hash };
}

/**
 * Builds the Dockerfile's `worker` target as `kt-deno-worker:<version>` unless up to date,
 * and returns its source-named tag ({@linkcode workerImageRef}).
 */
export function workerImage(): Promise<string> {
  return locked(async () => {
    const { ref: pinned, hash } = await workerImageRef();
    if (await exists(pinned)) return pinned;
    await nodeBase();
    await podman([
      "build",
      "--pull=never",
      "--network",
      "host",
      "--target",
      "worker",
      "--label",
      `${SOURCE_LABEL}=${hash}`,
      "-t",
      WORKER_IMAGE,
      "-t",
      pinned,
      "-f",
      `${ROOT}Dockerfile`,
      ROOT,
    ]);
    await podman(["image", "prune", "--force"]);
    return pinned;
  });
}

/** An image the test cluster loads into its node: its name now, its build when needed. */
export interface TestImage {
  /** The image's full name (what a pod's `image` or `--image` says). */
  ref: string;
  /** Builds the image unless podman's store has it; resolves to {@linkcode TestImage.ref}. */
  build(): Promise<string>;
}

/** What a test image adds to the worker image besides its functions. */
export interface TestImageOptions {
  /**
   * Python packages pip installs from PyPI into the image's python3, pinned
   * (`["pandas==3.1.1"]`): as the README's recipe says, Debian's `python3-pip` then
   * `pip install --break-system-packages`, the build on the host's network with the host's
   * CA bundle (so it reaches PyPI as the host's pip does, through any TLS proxy).
   */
  pip?: string[];
}

/**
 * A worker image with the task functions of `functionDirs`, made as the README says
 * (`FROM kt-deno-worker:<version>`, `COPY kt_functions /app/kt_functions`), and the Python
 * packages of `options.pip`. Its tag is a hash of the worker image's sources, the functions
 * and the packages, so pods can use it with the default pull policy and never see a stale
 * one. Naming it reads files only; the build (worker image included) waits until
 * {@linkcode TestImage.build}, which the cluster harness calls when a cluster starts, so a
 * test file can name its image at the top level on a fresh machine.
 */
export async function testImage(
  name: string,
  functionDirs: string[],
  options: TestImageOptions = {},
): Promise<TestImage> {
  const worker = await workerImageRef();
  const pip = options.pip ?? [];
  const tag = await hashFiles(functionDirs, worker.hash + pip.map((p) => `\0${p}`).join(""));
  const image = `localhost/kt-test-${name}:${tag}`;
  const bundle = "/etc/ssl/certs/ca-certificates.crt";
  const build = async () => {
    const base = await workerImage();
    return await locked(async () => {
      if (await exists(image)) return image;
      const context = await Deno.makeTempDir({ prefix: "kt-test-image-" });
      try {
        for (const dir of functionDirs) await copy(dir, `${context}/kt_functions`);
        const lines = [`FROM ${base}`];
        if (pip.length) {
          await Deno.copyFile(bundle, `${context}/host-ca.crt`);
          lines.push(
            "USER root",
            "COPY host-ca.crt /tmp/host-ca.crt",
            "RUN apt-get update \\",
            " && apt-get install -y --no-install-recommends python3-pip \\",
            " && rm -rf /var/lib/apt/lists/* \\",
            " && pip install --no-cache-dir --break-system-packages --cert /tmp/host-ca.crt \\",
            `      ${pip.map((p) => `'${p}'`).join(" ")} \\`,
            " && rm /tmp/host-ca.crt",
            "USER 10001",
          );
        }
        lines.push("COPY kt_functions /app/kt_functions", "");
        await Deno.writeTextFile(`${context}/Containerfile`, lines.join("\n"));
        const network = pip.length ? "host" : "none";
        await podman(["build", "--pull=never", "--network", network, "-t", image, context]);
      } finally {
        await Deno.remove(context, { recursive: true });
      }
      await removeOtherTags(image);
      return image;
    });
  };
  return { ref: image, build };
}

/** The pause image: pause.c from the k8s.io/kubernetes module (build.sh downloads it). */
export function pauseImage(): Promise<string> {
  return locked(async () => {
    if (await exists(PAUSE_IMAGE)) return PAUSE_IMAGE;
    const modules = (await sh("go", ["env", "GOMODCACHE"])).trim();
    const source = `${modules}/k8s.io/kubernetes@${K8S_VERSION}/build/pause/linux/pause.c`;
    const context = await Deno.makeTempDir({ prefix: "kt-pause-" });
    try {
      await sh("gcc", ["-Os", "-static", "-o", `${context}/pause`, source]);
      await Deno.writeTextFile(
        `${context}/Containerfile`,
        'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n',
      );
      await podman(["build", "--network", "none", "-t", PAUSE_IMAGE, context]);
    } finally {
      await Deno.remove(context, { recursive: true });
    }
    return PAUSE_IMAGE;
  });
}
