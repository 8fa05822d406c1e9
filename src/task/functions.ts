/**
 * Finding a task function: `a.b.fn` is the export `fn` of `a/b.ts` (or `.js`, `.mjs`)
 * inside the functions folder.
 *
 * @module
 */
import { embeddedFunctionsDir } from "../version.ts";
import type { TaskContext } from "./context.ts";

/** What a task function looks like: called with the task's args and a context. */
export type TaskFunction = (
  args: Record<string, unknown>,
  ctx: TaskContext,
) => unknown | Promise<unknown>;

const EXTENSIONS = [".ts", ".js", ".mjs"];

/** Raised when a function reference cannot be resolved; names module and export. */
export class FunctionNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FunctionNotFoundError";
  }
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

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
  const dot = ref.lastIndexOf(".");
  const modulePath = ref.slice(0, dot).split(".");
  const exportName = ref.slice(dot + 1);
  if (dot < 1 || modulePath.some((part) => !/^[A-Za-z_$][\w$]*$/.test(part))) {
    throw new FunctionNotFoundError(`invalid function reference ${JSON.stringify(ref)}`);
  }
  const base = `${absolute(functionsDir).replace(/\/+$/, "")}/${modulePath.join("/")}`;
  const file = EXTENSIONS.map((ext) => base + ext).find((candidate) => {
    try {
      return Deno.statSync(candidate).isFile;
    } catch {
      return false;
    }
  });
  if (!file) {
    throw new FunctionNotFoundError(
      `module ${modulePath.join(".")} not found for function ${ref}: tried ${
        EXTENSIONS.map((ext) => modulePath.join("/") + ext).join(", ")
      } in ${functionsDir}`,
    );
  }
  const module = await import(new URL(`file://${file}`).href);
  const fn = module[exportName];
  if (typeof fn !== "function") {
    throw new FunctionNotFoundError(
      `module ${modulePath.join(".")} (${file}) has no exported function ${exportName}`,
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
