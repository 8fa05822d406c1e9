/**
 * `kt-deno python install [--python PATH]` and `kt-deno python path`: kt-deno's Python
 * package (`kt_deno`, and `kube_transform` with `run_pipeline`) for notebooks and scripts.
 *
 * @module
 */
import { Command } from "commander";
import { installPackage, PythonInstallError, pythonPathFolder } from "../task/python/package.ts";
import { UsageError } from "./errors.ts";

/** Installs the package into the environment of `python`; resolves to the exit code. */
export async function pythonInstallCommand(python: string): Promise<number> {
  const { checkPython, PythonUnavailableError } = await import(
    "../task/python/python_check.ts"
  );
  try {
    await checkPython("kt-deno python install puts its package there", python);
  } catch (error) {
    if (error instanceof PythonUnavailableError) throw new UsageError(error.message);
    throw error;
  }
  try {
    const { prefix, kubeTransform } = await installPackage(python);
    console.log(`installed kt-deno's Python package into ${prefix}`);
    console.log(
      kubeTransform
        ? "use: from kube_transform import run_pipeline"
        : "kube-transform is installed there and was left alone; use: from kt_deno.run import run_pipeline",
    );
    return 0;
  } catch (error) {
    if (!(error instanceof PythonInstallError)) throw error;
    console.error(`kt-deno: ${error.message}`);
    console.error(
      "kt-deno: install into a virtualenv (python3 -m venv .venv), or use PYTHONPATH=$(kt-deno python path)",
    );
    return 1;
  }
}

/** The `python` subcommand and its two subcommands. */
export function pythonSubcommand(exit: (code: number) => void): Command {
  const python = new Command("python")
    .description("kt-deno's Python package, to start and watch runs from Python (run_pipeline)");
  python.addCommand(
    new Command("install")
      .description("pip-install the package into a Python's environment (offline)")
      .option(
        "--python <path>",
        "the Python whose environment gets it (default: KT_PYTHON or python3)",
      )
      .action(async (flags: { python?: string }) => {
        if (flags.python !== undefined && flags.python.trim() === "") {
          throw new UsageError("--python is empty");
        }
        const program = flags.python ?? (Deno.env.get("KT_PYTHON") || "python3");
        exit(await pythonInstallCommand(program));
      }),
  );
  python.addCommand(
    new Command("path")
      .description("print a folder holding the package, for PYTHONPATH")
      .action(async () => {
        console.log(await pythonPathFolder());
        exit(0);
      }),
  );
  for (const sub of python.commands) sub.exitOverride();
  return python;
}
