/**
 * Which Python runs Python task functions (`KT_PYTHON`, default `python3`), and the check
 * that it is there and new enough, made once before any task runs.
 *
 * @module
 */

/** The oldest Python that runs task functions. */
export const MIN_PYTHON: readonly [number, number] = [3, 9];

/** The Python program: `KT_PYTHON`, or `python3` from PATH. */
export function pythonProgram(): string {
  return Deno.env.get("KT_PYTHON") || "python3";
}

/** Raised when Python task functions cannot run here: no Python, or one too old. */
export class PythonUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PythonUnavailableError";
  }
}

/**
 * Checks that the Python program (`KT_PYTHON` or `python3`, unless `program` names one)
 * runs and is {@linkcode MIN_PYTHON} or newer; resolves to its version (`[3, 11, 7]`). `why` says what needs
 * it, for the error.
 *
 * @example
 * ```ts ignore
 * await checkPython("the functions folder has hello.py");
 * ```
 */
export async function checkPython(
  why: string,
  program: string = pythonProgram(),
): Promise<number[]> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(program, {
      args: ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    const found = !(error instanceof Deno.errors.NotFound)
      ? `cannot be started (${(error as Error).message})`
      : program.includes("/")
      ? "not found"
      : "not found in PATH";
    throw new PythonUnavailableError(
      `${program} ${found}: Python ${MIN_PYTHON.join(".")} or newer is needed, as ${why}`,
    );
  }
  const text = new TextDecoder().decode(output.stdout).trim();
  const version = text.split(".").map(Number);
  if (!output.success || version.length !== 3 || version.some(Number.isNaN)) {
    throw new PythonUnavailableError(
      `${program} does not run (exit code ${output.code}${
        text ? `, said ${JSON.stringify(text)}` : ""
      }): Python ${MIN_PYTHON.join(".")} or newer is needed, as ${why}`,
    );
  }
  if (version[0] < MIN_PYTHON[0] || (version[0] === MIN_PYTHON[0] && version[1] < MIN_PYTHON[1])) {
    throw new PythonUnavailableError(
      `${program} is Python ${text}: Python ${MIN_PYTHON.join(".")} or newer is needed, as ${why}`,
    );
  }
  return version;
}

/** The first `.py` file under a folder (searched breadth first, hidden folders skipped). */
export async function firstPythonFile(dir: string): Promise<string | undefined> {
  const queue = [""];
  for (let seen = 0; queue.length && seen < 10_000; seen++) {
    const relative = queue.shift()!;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(relative ? `${dir}/${relative}` : dir));
    } catch {
      continue;
    }
    entries.sort((a, b) => a.name < b.name ? -1 : 1);
    for (const entry of entries) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isFile && entry.name.endsWith(".py")) return path;
      if (entry.isDirectory && !entry.name.startsWith(".") && entry.name !== "__pycache__") {
        queue.push(path);
      }
    }
  }
  return undefined;
}

/**
 * Before a local run: when the functions folder holds Python, checks that Python can run
 * it, so that a missing or old `python3` is one error before any task runs.
 */
export async function checkPythonFor(functionsDir: string): Promise<void> {
  const file = await firstPythonFile(functionsDir);
  if (file) await checkPython(`the functions folder has Python functions (${file})`);
}
