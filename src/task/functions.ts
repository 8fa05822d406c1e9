/**
 * Loading a TypeScript task function: `a.b.fn` is the export `fn` of `a/b.ts` (or `.js`,
 * `.mjs`) inside the functions folder (found by `function_lookup.ts`, which also finds
 * Python modules; those run in Python workers, see `python/`).
 *
 * @module
 */
import { embeddedFunctionsDir } from "../version.ts";
import type { TaskContext } from "./context.ts";
import { type FunctionModule, FunctionNotFoundError } from "./function_lookup.ts";

/** What a task function looks like: called with the task's args and a context. */
export type TaskFunction = (
  args: Record<string, unknown>,
  ctx: TaskContext,
) => unknown | Promise<unknown>;

export { FunctionNotFoundError };

/** The functions loaded in this process, by file and export: a worker imports each once. */
const loaded = new Map<string, TaskFunction>();

/**
 * The function a found module exports (imported once per process); throws
 * {@linkcode FunctionNotFoundError} when it is Python or not an exported function.
 *
 * @example
 * ```ts
 * import { findFunctionModule } from "./function_lookup.ts";
 * import { loadFunction } from "./functions.ts";
 * const found = findFunctionModule("examples/hello-world/kt_functions", "hello.prepend_file");
 * const fn = await loadFunction(found);
 * ```
 */
export async function loadFunction(found: FunctionModule): Promise<TaskFunction> {
  const { file, module: modulePath, name: exportName, language } = found;
  const key = `${file}#${exportName}`;
  const known = loaded.get(key);
  if (known) return known;
  if (language === "python") {
    throw new FunctionNotFoundError(
      `function ${modulePath}.${exportName} is Python (${file}); it runs in a Python worker, not here`,
    );
  }
  const module = await import(new URL(`file://${file}`).href);
  const fn = module[exportName];
  if (typeof fn !== "function") {
    throw new FunctionNotFoundError(
      `module ${modulePath} (${file}) has no exported function ${exportName}`,
    );
  }
  loaded.set(key, fn);
  return fn as TaskFunction;
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * The functions folder to use: the given one when it exists on disk; otherwise the
 * folder compiled into this binary (`deno task compile --functions DIR`), if any.
 */
export function resolveFunctionsDir(dir: string): string {
  if (isDirectory(dir)) return dir;
  const embedded = embeddedFunctionsDir();
  return embedded && isDirectory(embedded) ? embedded : dir;
}
