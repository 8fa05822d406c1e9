/**
 * The code digest of a task function, for incremental runs: the SHA-256 of its module file
 * and of the modules of the functions folder it imports, transitively. A TypeScript module's relative
 * import specifiers (`./x.ts`, `../y/z.ts`, static, re-exported or dynamic with a literal)
 * are followed; a Python module's `import a.b` and `from a import b` (absolute, of modules
 * inside the functions folder, or relative: `from .c import d`) are. Modules outside the
 * functions folder (kt-deno's own, packages from npm, JSR or PyPI, the Python standard
 * library) are not part of it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { findFunctionModule, type FunctionModule, isFile } from "./function_lookup.ts";

/** A function's code digest and the files it covers, each with its own digest. */
export interface CodeDigest {
  digest: string;
  /** Files relative to the functions folder (or absolute outside it) → SHA-256. */
  files: Record<string, string>;
}

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") out.pop();
    else if (part !== "." && part !== "") out.push(part);
  }
  return "/" + out.join("/");
}

/** The files of the functions folder a TypeScript module's relative specifiers name. */
function scriptImports(root: string, file: string, text: string): string[] {
  const found: string[] = [];
  const pattern = /(?:\bfrom|\bimport)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;
  for (const match of text.matchAll(pattern)) {
    const target = normalize(`${dirname(file)}/${match[1]}`);
    if (target.startsWith(`${root}/`) && isFile(target)) found.push(target);
  }
  return found;
}

/** The file of a dotted Python module under `root`, if it is there. */
function pythonModule(root: string, dotted: string): string | undefined {
  const base = `${root}/${dotted.split(".").join("/")}`;
  return [`${base}.py`, `${base}/__init__.py`].find(isFile);
}

/** The files of the functions folder's modules a Python module imports. */
function pythonImports(root: string, file: string, text: string): string[] {
  const found: string[] = [];
  const add = (path: string | undefined) => path && found.push(path);
  const packageDir = dirname(file);
  for (const line of text.split("\n")) {
    const from = /^\s*from\s+(\.*)([\w.]*)\s+import\s+\(?\s*([\w\s,]+)/.exec(line);
    if (from) {
      const [, dots, name, names] = from;
      let base = root;
      if (dots) {
        base = packageDir;
        for (let i = 1; i < dots.length; i++) base = dirname(base);
      }
      const module = name ? `${base}/${name.split(".").join("/")}` : base;
      const at = module.slice(base.length + 1).replaceAll("/", ".");
      add(name ? pythonModule(base, at) : undefined);
      // `from pkg import mod` may import a submodule.
      for (const sub of names.split(",").map((n) => n.trim().split(/\s+/)[0]).filter(Boolean)) {
        add(pythonModule(module, sub));
      }
      continue;
    }
    const plain = /^\s*import\s+([\w.\s,]+)/.exec(line);
    if (plain) {
      for (const part of plain[1].split(",")) {
        const dotted = part.trim().split(/\s+/)[0];
        const pieces = dotted.split(".");
        // `import a.b.c` imports a, a.b and a.b.c.
        for (let n = 1; n <= pieces.length; n++) {
          add(pythonModule(root, pieces.slice(0, n).join(".")));
        }
      }
    }
  }
  return found;
}

/**
 * The code digest of the function `ref` in `functionsDir`; throws when it is not found.
 *
 * @example
 * ```ts
 * import { codeDigest } from "./code_digest.ts";
 * const code = codeDigest("examples/hello-world/kt_functions", "hello.plan");
 * Object.keys(code.files); // ["hello.ts"]
 * ```
 *
 * `found` is the function's module when the caller has it already (the run's
 * `FunctionFinder` found it for the task's request): it is not looked for again.
 */
export function codeDigest(
  functionsDir: string,
  ref: string,
  found: FunctionModule = findFunctionModule(functionsDir, ref),
): CodeDigest {
  const rootDir = normalize(
    functionsDir.startsWith("/") ? functionsDir : `${Deno.cwd()}/${functionsDir}`,
  );
  const files: Record<string, string> = {};
  const todo = [normalize(found.file)];
  const seen = new Set<string>();
  for (let file; (file = todo.pop()) !== undefined;) {
    if (seen.has(file)) continue;
    seen.add(file);
    const bytes = Deno.readFileSync(file);
    const name = file.startsWith(`${rootDir}/`) ? file.slice(rootDir.length + 1) : file;
    files[name] = sha256(bytes);
    const text = new TextDecoder().decode(bytes);
    todo.push(
      ...(file.endsWith(".py")
        ? pythonImports(rootDir, file, text)
        : scriptImports(rootDir, file, text)),
    );
  }
  const sorted = Object.fromEntries(Object.entries(files).sort(([a], [b]) => a < b ? -1 : 1));
  return { digest: sha256(JSON.stringify(sorted)), files: sorted };
}
