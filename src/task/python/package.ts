/**
 * kt-deno's Python package for notebooks and scripts: the shipped `kt_deno` and
 * `kube_transform` modules (the same files tasks import) with the command that runs this
 * kt-deno recorded in `kt_deno/_kt_deno_command.json`, so that `run_pipeline` calls the
 * kt-deno that installed it. Installed into a Python's environment as a wheel built by that
 * Python (no network, no build backend), or kept in a folder for `PYTHONPATH`.
 *
 * @module
 */
import { VERSION } from "../../version.ts";
import { selfCommand } from "../self_command.ts";
import makeWheel from "./make_wheel.py" with { type: "text" };
import { PYTHON_SOURCES } from "./sources.ts";

/** The distribution name pip knows the package by (`pip uninstall kt-deno`). */
export const DISTRIBUTION = "kt-deno";

/**
 * The package's files, by path: the shipped modules and the recorded command. `kt_deno`
 * goes without its `__init__.py`, as a namespace package: `kt_deno.run` imports from it,
 * while a task, whose worker finds site-packages before kt-deno's own folder, still imports
 * the `kt_deno` of the kt-deno running it (a regular package wins over a namespace one),
 * whatever version was installed.
 */
export function packageFiles(command: string[] = selfCommand([])): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [path, text] of Object.entries(PYTHON_SOURCES)) {
    if (path.includes("/") && path !== "kt_deno/__init__.py") files[path] = text;
  }
  files["kt_deno/_kt_deno_command.json"] = JSON.stringify({ command }) + "\n";
  return files;
}

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    const slash = path.lastIndexOf("/");
    if (slash > 0) await Deno.mkdir(`${dir}/${path.slice(0, slash)}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, text);
  }
}

function cacheDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/kt-deno`;
  const home = Deno.env.get("HOME");
  if (!home) throw new Error("neither XDG_CACHE_HOME nor HOME is set: no folder for the package");
  return `${home}/.cache/kt-deno`;
}

/**
 * A folder holding the package, for `PYTHONPATH`: under the user's cache, named by the
 * version and a hash of the files, written once (whole or absent, by a rename).
 *
 * @example
 * ```ts ignore
 * const dir = await pythonPathFolder(); // ~/.cache/kt-deno/python-package/0.1.0-3f2a9c01b2d4
 * ```
 */
export async function pythonPathFolder(): Promise<string> {
  const files = packageFiles();
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(JSON.stringify(files)),
  );
  const hash = [...new Uint8Array(digest).slice(0, 6)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const parent = `${cacheDir()}/python-package`;
  const dir = `${parent}/${VERSION}-${hash}`;
  try {
    if ((await Deno.stat(`${dir}/kt_deno/_kt_deno_command.json`)).isFile) return dir;
  } catch {
    // not written yet
  }
  await Deno.mkdir(parent, { recursive: true });
  const building = await Deno.makeTempDir({ dir: parent, prefix: ".building-" });
  try {
    await writeFiles(building, files);
    await Deno.rename(building, dir).catch(async (error) => {
      // Another kt-deno wrote it first: the same files.
      if (!(await Deno.stat(dir).then(() => true, () => false))) throw error;
    });
  } finally {
    await Deno.remove(building, { recursive: true }).catch(() => {});
  }
  return dir;
}

/** An installation that could not be made (pip failed, or the Python cannot run it). */
export class PythonInstallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PythonInstallError";
  }
}

/** What {@linkcode installPackage} did. */
export interface Installed {
  /** The environment it went into (`sys.prefix`). */
  prefix: string;
  /** False when the real kube-transform is installed there: its `kube_transform` was kept. */
  kubeTransform: boolean;
}

async function run(python: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(python, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const said = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-4).join("\n");
    throw new PythonInstallError(
      `${python} ${args.slice(0, 3).join(" ")} failed (exit code ${out.code})${
        said ? `:\n${said}` : ""
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Installs the package into the environment of `python` with its own pip (`pip install`
 * of a wheel that `python` builds from the files, offline), replacing an earlier one.
 *
 * @example
 * ```ts ignore
 * await installPackage(".venv/bin/python"); // then, there: from kube_transform import run_pipeline
 * ```
 */
export async function installPackage(python: string): Promise<Installed> {
  const dir = await Deno.makeTempDir({ prefix: "kt-deno-wheel-" });
  try {
    await writeFiles(`${dir}/package`, packageFiles());
    await Deno.writeTextFile(`${dir}/make_wheel.py`, makeWheel);
    const made = JSON.parse(
      await run(python, [`${dir}/make_wheel.py`, `${dir}/package`, DISTRIBUTION, VERSION, dir]),
    ) as { wheel: string; kube_transform: boolean };
    await run(python, [
      "-m",
      "pip",
      "install",
      "--no-index",
      "--no-deps",
      "--force-reinstall",
      "--disable-pip-version-check",
      "--quiet",
      made.wheel,
    ]);
    const prefix = await run(python, ["-c", "import sys; print(sys.prefix)"]);
    return { prefix, kubeTransform: made.kube_transform };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
