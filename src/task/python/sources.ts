/**
 * The Python files kt-deno ships (its worker, the `kt_deno` module and the stand-in for
 * `kube_transform.fsutil`), embedded as text imports, which `deno compile` follows and
 * embeds like any module. They are written to a private temporary folder the first time a
 * Python worker starts, and removed when this process ends.
 *
 * @module
 */
import worker from "./py/kt_worker.py" with { type: "text" };
import ktDeno from "./py/kt_deno/__init__.py" with { type: "text" };
import ktRun from "./py/kt_deno/run.py" with { type: "text" };
import ktChannel from "./py/kt_deno/_channel.py" with { type: "text" };
import ktFiles from "./py/kt_deno/_files.py" with { type: "text" };
import ktInit from "./py/kube_transform/__init__.py" with { type: "text" };
import fsutil from "./py/kube_transform/fsutil.py" with { type: "text" };

/** Each shipped file, by its path in the folder Python is given. */
export const PYTHON_SOURCES: Readonly<Record<string, string>> = {
  "kt_worker.py": worker,
  "kt_deno/__init__.py": ktDeno,
  "kt_deno/run.py": ktRun,
  "kt_deno/_channel.py": ktChannel,
  "kt_deno/_files.py": ktFiles,
  "kube_transform/__init__.py": ktInit,
  "kube_transform/fsutil.py": fsutil,
};

let written: Promise<string> | undefined;

/**
 * The path of the worker script, in a folder (mode 0700) holding every shipped file;
 * written once per process.
 *
 * @example
 * ```ts ignore
 * const script = await pythonWorkerScript();
 * new Deno.Command("python3", { args: [script] });
 * ```
 */
export function pythonWorkerScript(): Promise<string> {
  written ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "kt-deno-python-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // already gone
      }
    });
    for (const [path, text] of Object.entries(PYTHON_SOURCES)) {
      const slash = path.lastIndexOf("/");
      if (slash > 0) await Deno.mkdir(`${dir}/${path.slice(0, slash)}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/${path}`, text);
    }
    return `${dir}/kt_worker.py`;
  })();
  return written;
}
