/**
 * Loading a TypeScript task function: `a.b.fn` is the export `fn` of `a/b.ts` (or `.js`,
 * `.mjs`) inside the functions folder (found by `function_lookup.ts`, which also finds
 * Python modules; those run in Python workers, see `python/`).
 *
 * @module
 */
import { embeddedFunctionsDir } from "../version.ts";
import type { TaskContext } from "./context.ts";
import { findFunctionModule, FunctionNotFoundError } from "./function_lookup.ts";

/** What a task function looks like: called with the task's args and a context. */
export type TaskFunction = (
  args: Record<string, unknown>,
  ctx: TaskContext,
) => unknown | Promise<unknown>;

export { FunctionNotFoundError };

/**
 * Imports the module of a function reference and returns the function.
 *
 * @example
 * ```ts
 * import { loadFunction } from "./functions.ts";
 * const fn = await loadFunction("examples/hello-world/kt_functions", "hello.prepend_file");
 * ```
 */
export async function loadFunction(functionsDir: string, ref: string): Promise<TaskFunction> {
  const { file, module: modulePath, name: exportName, language } = findFunctionModule(
    functionsDir,
    ref,
  );
  if (language === "python") {
    throw new FunctionNotFoundError(
      `function ${ref} is Python (${file}); it runs in a Python worker, not here`,
    );
  }
  const module = await import(new URL(`file://${file}`).href);
  const fn = module[exportName];
  if (typeof fn !== "function") {
    throw new FunctionNotFoundError(
      `module ${modulePath} (${file}) has no exported function ${exportName}`,
    );
  }
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
