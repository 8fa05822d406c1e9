/**
 * The layers of src/, read from the code's own imports: every arrow points down (see the
 * README's Layout section), sub-folders make no cycle with their folder, and the data-dir
 * layout and the pod environment's names have one home each.
 */
import assert from "node:assert/strict";
import ts from "typescript";

const SRC = new URL("../src/", import.meta.url).pathname;

/** src/'s folders (and top-level files), bottom first; a layer imports only from below. */
const LAYERS: string[][] = [
  ["version.ts", "async"],
  ["spec", "storage"],
  ["engine"],
  ["records"],
  ["task"],
  ["executors"],
  ["run"],
  ["k8s"],
  ["report"],
  ["cli"],
  ["mod.ts"],
];

const LEVEL = new Map(LAYERS.flatMap((names, level) => names.map((name) => [name, level])));

/** Every .ts file under src/, as paths relative to src/. */
function sources(dir = SRC, prefix = ""): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) found.push(...sources(`${dir}${entry.name}/`, `${path}/`));
    else if (entry.name.endsWith(".ts")) found.push(path);
  }
  return found.sort();
}

/** The code of a file without its comments' lines (examples in JSDoc import themselves). */
function code(file: string): string {
  return Deno.readTextFileSync(`${SRC}${file}`).split("\n")
    .filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line)).join("\n");
}

/** The relative imports of a file (static, re-exports and dynamic), as paths under src/. */
function imports(file: string): string[] {
  const found: string[] = [];
  const pattern = /(?:\bfrom|\bimport)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g;
  for (const match of code(file).matchAll(pattern)) {
    const url = new URL(match[1], `file://${SRC}${file}`);
    found.push(url.pathname.slice(SRC.length));
  }
  return found;
}

/** The layer a file belongs to: its folder under src/, or its own name at the top. */
function home(path: string): string {
  return path.split("/")[0];
}

const FILES = sources();

Deno.test("every folder of src/ has a layer", () => {
  const homes = new Set(FILES.map(home));
  const missing = [...homes].filter((name) => !LEVEL.has(name));
  assert.deepEqual(missing, [], `give these a layer in tests/layers_test.ts: ${missing}`);
});

Deno.test("imports in src/ only point down", () => {
  const wrong: string[] = [];
  for (const file of FILES) {
    const from = home(file);
    for (const target of imports(file)) {
      const to = home(target);
      if (to === from) continue;
      const [a, b] = [LEVEL.get(from)!, LEVEL.get(to)!];
      if (b > a) wrong.push(`${file} imports ${target}, a layer above (${from} -> ${to})`);
      else if (b === a) wrong.push(`${file} imports ${target}, beside it (${from} -> ${to})`);
    }
  }
  assert.deepEqual(wrong, [], wrong.join("\n"));
});

Deno.test("the folders of src/ import each other in no cycle", () => {
  const edges = new Map<string, Set<string>>();
  for (const file of FILES) {
    for (const target of imports(file)) {
      if (home(target) === home(file)) continue;
      if (!edges.has(home(file))) edges.set(home(file), new Set());
      edges.get(home(file))!.add(home(target));
    }
  }
  const done = new Set<string>();
  const cycle = (node: string, path: string[]): string[] | null => {
    if (path.includes(node)) return [...path.slice(path.indexOf(node)), node];
    if (done.has(node)) return null;
    for (const next of edges.get(node) ?? []) {
      const found = cycle(next, [...path, node]);
      if (found) return found;
    }
    done.add(node);
    return null;
  };
  for (const node of edges.keys()) {
    const found = cycle(node, []);
    assert.equal(found, null, `folder cycle: ${found?.join(" -> ")}`);
  }
});

Deno.test("the CLI imports no API client", () => {
  const wrong = FILES.filter((file) => home(file) === "cli").flatMap((file) => [
    ...imports(file).filter((target) => target === "k8s/client.ts").map((t) => `${file}: ${t}`),
    ...(/"@kubernetes\/client-node"/.test(code(file)) ? [`${file}: @kubernetes/client-node`] : []),
  ]);
  assert.deepEqual(wrong, []);
});

Deno.test("only the data-dir layout module spells a path under kt-metadata/", () => {
  const layout = "records/layout.ts";
  const wrong = FILES.filter((file) =>
    file !== layout && Deno.readTextFileSync(`${SRC}${file}`).includes("kt-metadata")
  );
  assert.deepEqual(wrong, [], `kt-metadata outside ${layout}`);
  assert.ok(Deno.readTextFileSync(`${SRC}${layout}`).includes(`"kt-metadata"`));
});

/** The most lines a function of src/ may span, not counting the text of its templates. */
const MOST_LINES = 100;

/**
 * The functions of a file longer than {@linkcode MOST_LINES}: lines from its first to its
 * last, less those inside a template literal (markup and scripts written as text).
 */
function longFunctions(file: string): string[] {
  const text = Deno.readTextFileSync(`${SRC}${file}`);
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const line = (pos: number) => source.getLineAndCharacterOfPosition(pos).line;
  const templated = new Set<number>();
  const functions: ts.Node[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isTemplateExpression(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      for (let l = line(node.getStart()) + 1; l <= line(node.getEnd()); l++) templated.add(l);
    }
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) functions.push(node);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return functions.flatMap((node) => {
    const [first, last] = [line(node.getStart()), line(node.getEnd())];
    let lines = 0;
    for (let l = first; l <= last; l++) if (!templated.has(l)) lines++;
    if (lines <= MOST_LINES) return [];
    const name = (node as ts.FunctionLikeDeclaration).name?.getText() ??
      text.slice(node.getStart(), node.getStart() + 40).split("\n")[0];
    return [`${file}:${first + 1} ${name}: ${lines} lines`];
  });
}

Deno.test(`no function of src/ is over ${MOST_LINES} lines (templates' text aside)`, () => {
  const long = FILES.flatMap(longFunctions);
  assert.deepEqual(long, [], long.join("\n"));
});

/** The folder a file is in, sub-folders kept (`task/python`), or its own name at the top. */
function folder(path: string): string {
  const parts = path.split("/");
  return parts.length === 1 ? parts[0] : parts.slice(0, -1).join("/");
}

Deno.test("the folders of src/, sub-folders included, import each other in no cycle", () => {
  const edges = new Map<string, Set<string>>();
  for (const file of FILES) {
    for (const target of imports(file)) {
      if (folder(target) === folder(file)) continue;
      if (!edges.has(folder(file))) edges.set(folder(file), new Set());
      edges.get(folder(file))!.add(folder(target));
    }
  }
  const cycles: string[] = [];
  for (const [from, targets] of edges) {
    for (const to of targets) {
      // A path back from `to` to `from` closes a cycle.
      const seen = new Set<string>();
      const stack = [to];
      while (stack.length) {
        const node = stack.pop()!;
        if (node === from) {
          cycles.push(`${from} -> ${to} -> ... -> ${from}`);
          break;
        }
        if (seen.has(node)) continue;
        seen.add(node);
        stack.push(...edges.get(node) ?? []);
      }
    }
  }
  assert.deepEqual(cycles, [], cycles.join("\n"));
});

/** Where each name of the task pod's environment is spelled, and where the task's are. */
const ENV_HOMES: [string, string][] = [
  ["task/pod_env.ts", "POD_ENV"],
  ["task/request.ts", "TASK_ENV"],
];

Deno.test("each environment name of a task pod and of a task is spelled in one module", async () => {
  const modules = await Promise.all(
    ENV_HOMES.map(([file]) => import(`../src/${file}`) as Promise<Record<string, unknown>>),
  );
  const wrong: string[] = [];
  ENV_HOMES.forEach(([file, table], i) => {
    const names = Object.values(modules[i][table] as Record<string, string>);
    assert.ok(names.length > 0, `${file} has no ${table}`);
    // `pipeline_run_id` is also a field of the state document (kube-transform's name for both).
    for (const name of names.filter((name) => /^[A-Z][A-Z0-9_]*$/.test(name))) {
      const spelled = FILES.filter((other) => code(other).includes(`"${name}"`));
      if (spelled.length !== 1 || spelled[0] !== file) {
        wrong.push(`${name} is spelled in ${spelled.join(", ")} (its home: ${file})`);
      }
    }
  });
  assert.deepEqual(wrong, [], wrong.join("\n"));
});

/**
 * The modules every command may share: the flag sets and their parsers, the usage errors,
 * the text tables; and `main.ts`, which gathers the commands. Everything else a command
 * does lives below cli/.
 */
const SHARED_CLI = ["cli/flags.ts", "cli/errors.ts", "cli/table.ts"];

Deno.test("a command of cli/ imports no other command, only the shared CLI modules", () => {
  const wrong = FILES.filter((file) => home(file) === "cli" && file !== "cli/main.ts")
    .flatMap((file) =>
      imports(file).filter((target) => home(target) === "cli" && !SHARED_CLI.includes(target))
        .map((target) => `${file} imports ${target}`)
    );
  assert.deepEqual(wrong, [], wrong.join("\n"));
});

Deno.test("run/ and records/ import nothing from cli/", () => {
  const wrong = FILES.filter((file) => ["run", "records"].includes(home(file)))
    .flatMap((file) =>
      imports(file).filter((target) => home(target) === "cli").map((t) => `${file} imports ${t}`)
    );
  assert.deepEqual(wrong, [], wrong.join("\n"));
});
