/**
 * Which file a function reference names: `a.b.fn` is `a/b.ts` (or `.js`, `.mjs`) in the
 * functions folder, else the Python module `a/b.py` (or the package `a/b/__init__.py`).
 *
 * @module
 */

/** The two kinds of task function module. */
export type FunctionLanguage = "typescript" | "python";

/** Where a function reference points. */
export interface FunctionModule {
  language: FunctionLanguage;
  /** The module's file, absolute. */
  file: string;
  /** The dotted module path (`a.b`). */
  module: string;
  /** The function's name in it (`fn`). */
  name: string;
}

const SCRIPT_EXTENSIONS = [".ts", ".js", ".mjs"];
const PYTHON_FILES = [".py", "/__init__.py"];

/** Raised when a function reference cannot be resolved; names module and function. */
export class FunctionNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FunctionNotFoundError";
  }
}

/** Whether `path` is a file (false when it is missing or cannot be read). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/**
 * Finds the module of a function reference; throws {@linkcode FunctionNotFoundError} when
 * there is none, or when the name is both a TypeScript/JavaScript and a Python module.
 *
 * @example
 * ```ts
 * import { findFunctionModule } from "./function_lookup.ts";
 * const found = findFunctionModule("examples/hello-world/kt_functions", "hello.plan");
 * found.language; // "typescript"
 * ```
 */
export function findFunctionModule(functionsDir: string, ref: string): FunctionModule {
  const dot = ref.lastIndexOf(".");
  const parts = ref.slice(0, dot).split(".");
  const name = ref.slice(dot + 1);
  if (dot < 1 || parts.some((part) => !/^[A-Za-z_$][\w$]*$/.test(part))) {
    throw new FunctionNotFoundError(`invalid function reference ${JSON.stringify(ref)}`);
  }
  const relative = parts.join("/");
  const base = `${absolute(functionsDir).replace(/\/+$/, "")}/${relative}`;
  const script = SCRIPT_EXTENSIONS.find((ext) => isFile(base + ext));
  const python = PYTHON_FILES.find((ext) => isFile(base + ext));
  const module = parts.join(".");
  if (script && python) {
    throw new FunctionNotFoundError(
      `function ${ref} is ambiguous: both ${relative + script} and ${
        relative + python
      } are in ${functionsDir}; keep one`,
    );
  }
  if (script) return { language: "typescript", file: base + script, module, name };
  if (python) return { language: "python", file: base + python, module, name };
  const tried = [...SCRIPT_EXTENSIONS, ...PYTHON_FILES].map((ext) => relative + ext);
  throw new FunctionNotFoundError(
    `module ${module} not found for function ${ref}: tried ${tried.join(", ")} in ${functionsDir}`,
  );
}

/**
 * Finds function modules in one folder, each reference once: the local executor keeps one
 * for its run, so that a job of 100,000 tasks of one function, or 10,000 jobs of one, look
 * on disk once, not per task. A reference not found is looked for again at its next task.
 *
 * @example
 * ```ts
 * import { FunctionFinder } from "./function_lookup.ts";
 * const finder = new FunctionFinder("examples/hello-world/kt_functions");
 * const found = finder.find("hello.plan");
 * found instanceof Error ? found.message : found.language; // "typescript"
 * ```
 */
export class FunctionFinder {
  readonly #found = new Map<string, FunctionModule>();

  constructor(readonly functionsDir: string) {}

  /** The module of `ref`, or the error that says why there is none. */
  find(ref: string): FunctionModule | FunctionNotFoundError {
    let found = this.#found.get(ref);
    if (found === undefined) {
      try {
        found = findFunctionModule(this.functionsDir, ref);
      } catch (error) {
        if (error instanceof FunctionNotFoundError) return error;
        throw error;
      }
      this.#found.set(ref, found);
    }
    return found;
  }
}
