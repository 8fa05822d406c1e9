/**
 * Every way issue 30 found to make the launcher die silently or accept a wrong value, as a
 * table: each case is a `kt-deno` invocation (a separate process, as a user runs it), its
 * expected exit code, and the first line of its stderr (or of its stdout, when it exits
 * 0). The values that vary (where a bad byte sits, how long a long name is) come from a
 * generator with a fixed seed, so a failure is reproduced by running the file again.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { exists, FIXTURE_FUNCTIONS, readUntil, runIdOf } from "./cli_helpers.ts";
import { until } from "./until.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const PY_FUNCTIONS = new URL("./fixtures/py_functions", import.meta.url).pathname;

/** mulberry32: a small generator, seeded, so that every run of the table is the same. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(30);
const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));

/** What a case does besides running `kt-deno ARGS`. */
interface Case {
  /** The item of issue 30 it covers. */
  item: number;
  name: string;
  /** Files to make in the case's folder: YAML of a value, or text, or bytes. */
  files?: Record<string, unknown>;
  args: string[];
  env?: Record<string, string>;
  code: number;
  /** The first line of stderr (of stdout when `code` is 0). */
  first: RegExp;
  /** Another line that must be there, in stdout or stderr. */
  also?: RegExp;
  /** The run's stdout and stderr are closed at once (`| head -0`, `2>&-`). */
  closedPipes?: boolean;
  /** Sent once the run's task has started (it writes `kt-data/started`). */
  signal?: Deno.Signal;
  /** Before the command runs (a state document to spoil, a port to take). */
  before?: (dir: string) => Promise<void | (() => void)>;
  /** Checks after it ran (nothing written, a file unchanged). */
  after?: (dir: string, out: { stdout: string; stderr: string }) => Promise<void>;
}

const DATA = ["--data-dir", "kt-data"];
const FUNCTIONS = ["--functions", FIXTURE_FUNCTIONS];
const staticJob = (extra: Record<string, unknown> = {}) => ({
  name: "a",
  type: "static",
  tasks: [{ function: "steps.noop" }],
  ...extra,
});
const one = (extra: Record<string, unknown> = {}) => ({ name: "p", jobs: [staticJob(extra)] });
const gated = {
  name: "gated",
  jobs: [{
    name: "gate",
    type: "static",
    tasks: [{ function: "report_steps.waitForFile", args: { path: "go", started: "started" } }],
  }],
};
const noMetadata = async (dir: string) => {
  assert.equal(await exists(`${dir}/kt-data/kt-metadata`), false, "kt-metadata was written");
};

/** A run made once, then spoiled or used by the cases of item 4. */
async function finishedRun(dir: string): Promise<string> {
  await Deno.writeTextFile(`${dir}/done.yaml`, stringify(one()));
  const out = await kt(["run", "done.yaml", ...DATA, ...FUNCTIONS], dir);
  assert.equal(out.code, 0, out.stderr);
  const runId = runIdOf(out.stdout);
  await Deno.writeTextFile(`${dir}/run-id`, runId);
  return runId;
}
const state = (dir: string, runId: string) =>
  `${dir}/kt-data/kt-metadata/${runId}/pipeline_run_state.json`;
async function spoiled(dir: string): Promise<void> {
  const runId = await finishedRun(dir);
  await Deno.writeTextFile(state(dir, runId), "<html>report</html>\n");
  await Deno.remove(`${dir}/kt-data/kt-metadata/${runId}/heartbeat.json`);
}

// The values that vary, drawn once, in this order.
const latinAt = between(9, 200);
const longName = between(254, 1 << 20);
const nulAt = between(0, 40);
const duplicated = ["name", "jobs", "type"][between(0, 2)];
const pad = "x".repeat(latinAt - "name: ".length);
const duplicateSpec = duplicated === "name"
  ? '{"name": "a",\n "name": "b", "jobs": []}'
  : duplicated === "jobs"
  ? '{"name": "a", "jobs": [],\n "jobs": []}'
  : '{"name": "a", "jobs": [{"type": "static",\n "type": "dynamic"}]}';

const CASES: Case[] = [
  // 1. Closed pipes and hang-ups: the run goes on, or stops as Ctrl-C does.
  {
    item: 1,
    name: "stdout and stderr closed at once: the run completes",
    files: {
      "p.yaml": {
        name: "p",
        jobs: [{ name: "talk", type: "static", tasks: [{ command: ["seq", "1", "2000"] }] }],
      },
    },
    args: ["run", "p.yaml", ...DATA],
    closedPipes: true,
    code: 0,
    first: /^$/,
    after: async (dir) => {
      const [runId] = [...Deno.readDirSync(`${dir}/kt-data/kt-metadata`)].map((e) => e.name);
      const doc = JSON.parse(await Deno.readTextFile(state(dir, runId)));
      assert.equal(doc.status, "Completed");
    },
  },
  {
    item: 1,
    name: "SIGPIPE changes nothing: the run completes",
    files: { "p.yaml": gated },
    args: ["run", "p.yaml", ...DATA, ...FUNCTIONS],
    signal: "SIGPIPE",
    code: 0,
    first: /^run id: ktpr[0-9a-f]{8}$/,
    also: /run ktpr[0-9a-f]{8} Completed/,
  },
  {
    item: 1,
    name: "SIGHUP interrupts the run, exit 129",
    files: { "p.yaml": gated },
    args: ["run", "p.yaml", ...DATA, ...FUNCTIONS],
    signal: "SIGHUP",
    code: 129,
    first: /^failed jobs:$/,
    also: /^ {2}gate: interrupted: SIGHUP \(the terminal was closed\)/m,
  },
  // 2. Numbers checked against what the runtime can do.
  {
    item: 2,
    name: "a 30-day timeout is refused, naming the bound",
    files: { "p.yaml": one({ timeout: 2592000 }) },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec p\.yaml:$/,
    also: /job "a", field timeout: at most 2147483 seconds .*found 2592000/,
  },
  {
    item: 2,
    name: "the longest timeout is accepted",
    files: { "p.yaml": one({ timeout: 2147483 }) },
    args: ["validate", "p.yaml"],
    code: 0,
    first: /^p\.yaml: valid pipeline "p", 1 jobs$/,
  },
  {
    item: 2,
    name: "memory beyond what a number holds is refused",
    files: { "p.yaml": one({ memory: "1e400" }) },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec p\.yaml:$/,
    also: /field memory: memory "1e400" is too large: at most 9007199254740991 bytes/,
  },
  {
    item: 2,
    name: "cpu beyond what a number holds is refused",
    files: { "p.yaml": one({ cpu: "1e20" }) },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec p\.yaml:$/,
    also: /field cpu: cpu "1e20" is too large: at most 9007199254740991 millicores/,
  },
  {
    item: 2,
    name: "retries above 100 are refused",
    files: { "p.yaml": one({ retries: 101 }) },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec p\.yaml:$/,
    also: /field retries: /,
  },
  {
    item: 2,
    name: "parallelism above Kubernetes' bound is refused",
    files: { "p.yaml": one({ parallelism: 100001 }) },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec p\.yaml:$/,
    also: /field parallelism: at most 100000/,
  },
  {
    item: 2,
    name: "tasks_per_pod of 0 is refused",
    files: { "p.yaml": one({ tasks_per_pod: 0 }) },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec p\.yaml:$/,
    also: /field tasks_per_pod: /,
  },
  ...[["TypeScript", FIXTURE_FUNCTIONS], ["Python", PY_FUNCTIONS]].map((
    [language, functions],
  ): Case => ({
    item: 2,
    name: `memory of 1.1Gi (not whole bytes) runs a ${language} task`,
    files: { "p.yaml": one({ memory: "1.1Gi" }) },
    args: ["run", "p.yaml", ...DATA, "--functions", functions],
    code: 0,
    first: /^run id: ktpr[0-9a-f]{8}$/,
    also: /run ktpr[0-9a-f]{8} Completed/,
  })),
  // 3. Bounded input.
  {
    item: 3,
    name: "/dev/zero is not read",
    args: ["validate", "/dev/zero"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec:$/,
    also: /cannot read \/dev\/zero: not a regular file/,
  },
  {
    item: 3,
    name: "a FIFO that never ends is not opened",
    before: async (dir) => {
      const made = await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
      assert.ok(made.success);
    },
    args: ["validate", "fifo"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec:$/,
    also: /cannot read fifo: not a regular file/,
  },
  {
    item: 3,
    name: "a spec over 256 MiB is refused before it is read",
    before: async (dir) => {
      using file = await Deno.create(`${dir}/huge.yaml`);
      await file.truncate(256 * 2 ** 20 + 1);
    },
    args: ["run", "huge.yaml", ...DATA],
    code: 2,
    first: /^kt-deno: invalid pipeline spec:$/,
    also: /cannot read huge\.yaml: 268435457 bytes, larger than 268435456 \(256 MiB\)/,
    after: noMetadata,
  },
  // 4. Nothing kt-deno writes overwrites its records; a spoiled record names its file.
  {
    item: 4,
    name: "report -o into kt-metadata/ is refused, the state left as it was",
    before: async (dir) => void await finishedRun(dir),
    args: ["report", "RUN", ...DATA, "-o", "kt-data/kt-metadata/RUN/pipeline_run_state.json"],
    code: 2,
    first:
      /^kt-deno: --output kt-data\/kt-metadata\/ktpr[0-9a-f]{8}\/pipeline_run_state\.json: refused, it is inside kt-metadata\//,
    after: async (dir) => {
      const runId = await Deno.readTextFile(`${dir}/run-id`);
      assert.equal(JSON.parse(await Deno.readTextFile(state(dir, runId))).status, "Completed");
    },
  },
  ...["status", "logs", "report", "resume"].map((command): Case => ({
    item: 4,
    name: `${command} of a spoiled state document names the file`,
    before: spoiled,
    args: [command, "RUN", ...DATA],
    code: 2,
    first:
      /^kt-deno: kt-data\/kt-metadata\/ktpr[0-9a-f]{8}\/pipeline_run_state\.json cannot be read: not JSON/,
  })),
  {
    item: 4,
    name: "list shows a spoiled run as unreadable and goes on",
    before: spoiled,
    args: ["list", ...DATA],
    code: 0,
    first: /^RUN\s+PIPELINE\s+STATUS/,
    also: /ktpr[0-9a-f]{8}\s+\?\s+Unreadable \(state: not JSON\)/,
  },
  // 5. Data-dir flags.
  {
    item: 5,
    name: "--data-dir /proc: exit 2 before a run id",
    files: { "p.yaml": one() },
    args: ["run", "p.yaml", "--data-dir", "/proc", ...FUNCTIONS],
    code: 2,
    first: /^kt-deno: data dir \/proc cannot be used: it cannot hold files/,
    after: (_dir, out) => Promise.resolve(assert.equal(out.stdout, "")),
  },
  {
    item: 5,
    name: "--data-dir a file: exit 2",
    files: { "p.yaml": one(), "a-file": "" },
    args: ["run", "p.yaml", "--data-dir", "a-file", ...FUNCTIONS],
    code: 2,
    first: /^kt-deno: data dir a-file cannot be used: data dir a-file is not a directory/,
  },
  {
    item: 5,
    name: "--data-dir '~/runs' is the home folder's, no folder named ~",
    files: { "p.yaml": one() },
    args: ["run", "p.yaml", "--data-dir", "~/runs", ...FUNCTIONS],
    env: { HOME: "HOME" },
    code: 0,
    first: /^run id: ktpr[0-9a-f]{8}$/,
    after: async (dir) => {
      assert.equal(await exists(`${dir}/~`), false);
      assert.ok(await exists(`${dir}/home/runs/kt-metadata`));
    },
  },
  {
    item: 5,
    name: "--data-dir '~user/x' is refused, naming the expansion",
    files: { "p.yaml": one() },
    args: ["run", "p.yaml", "--data-dir", "~nobody/x", ...FUNCTIONS],
    code: 2,
    first: /^kt-deno: --data-dir ~nobody\/x: kt-deno expands ~ and ~\/\.\.\., not ~user/,
  },
  {
    item: 5,
    name: "report --serve on a busy port: exit 2 naming it",
    before: async (dir) => {
      await finishedRun(dir);
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      await Deno.writeTextFile(`${dir}/port`, String((listener.addr as Deno.NetAddr).port));
      return () => listener.close();
    },
    args: ["report", "RUN", ...DATA, "--serve", "--port", "PORT"],
    code: 2,
    first: /^kt-deno: 127\.0\.0\.1 port \d+ is in use; choose another --port$/,
  },
  // 6. A spec means one thing.
  {
    item: 6,
    name: `a JSON key written twice ("${duplicated}") is an error, as in YAML`,
    files: { "p.json": duplicateSpec },
    args: ["validate", "p.json"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec:$/,
    also: new RegExp(`key "${duplicated}" is written twice in one object \\(line 2\\)`),
  },
  {
    item: 6,
    name: "__proto__ and constructor in args reach the task as data",
    files: {
      "p.json": JSON.stringify({
        name: "p",
        jobs: [{
          name: "echo",
          type: "static",
          tasks: [{
            function: "faults.echoArgs",
            args: JSON.parse('{"__proto__": {"polluted": 1}, "constructor": 2}'),
          }],
        }],
      }),
    },
    args: ["run", "p.json", ...DATA, ...FUNCTIONS],
    code: 0,
    first: /^run id: ktpr[0-9a-f]{8}$/,
    after: async (dir) => {
      const text = await Deno.readTextFile(`${dir}/kt-data/args/echo`);
      const seen = JSON.parse(text).args;
      assert.deepEqual(Object.keys(seen), ["__proto__", "constructor"]);
      assert.deepEqual(Object.getOwnPropertyDescriptor(seen, "__proto__")?.value, {
        polluted: 1,
      });
    },
  },
  {
    item: 6,
    name: 'a job named "" is refused',
    files: { "p.yaml": one({ name: "" }) },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec p\.yaml:$/,
    also: /job "jobs\[0\]", field name: a name cannot be empty/,
  },
  {
    item: 6,
    name: `a job name of ${longName} characters is refused, quoted short`,
    files: { "p.yaml": one({ name: "n".repeat(longName) }) },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec p\.yaml:$/,
    also: new RegExp(
      `job "n{60}\\.\\.\\. \\(${longName} characters\\)", field name: a name has at most 253 characters, found ${longName}$`,
      "m",
    ),
  },
  {
    item: 6,
    name: `a Latin-1 byte at offset ${latinAt} is an error naming the offset`,
    files: {
      "p.yaml": new Uint8Array([
        ...new TextEncoder().encode(`name: ${pad}`),
        0xe9,
        ...new TextEncoder().encode("\njobs: []\n"),
      ]),
    },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec:$/,
    also: new RegExp(`cannot read p\\.yaml: not UTF-8 \\(byte offset ${latinAt}\\)`),
  },
  {
    item: 6,
    name: "a NUL in a command is an error at validate",
    files: {
      "p.yaml": {
        name: "p",
        jobs: [{ name: "c", type: "static", tasks: [{ command: ["echo", "a\0b"] }] }],
      },
    },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec p\.yaml:$/,
    also: /job "c", field tasks\[0\]\.command\[1\]: holds a NUL character/,
  },
  {
    item: 6,
    name: `a NUL in an arg (at ${nulAt}) is an error at validate`,
    files: {
      "p.yaml": one({
        tasks: [{ function: "steps.noop", args: { deep: [{ text: `${"t".repeat(nulAt)}\0` }] } }],
      }),
    },
    args: ["validate", "p.yaml"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec p\.yaml:$/,
    also: /job "a", field tasks\[0\]\.args\.deep\[0\]\.text: holds a NUL character/,
  },
  {
    item: 6,
    name: "a JSON spec with comments is told JSON has none",
    files: { "p.json": '{\n  // the pipeline\n  "name": "p", "jobs": []\n}\n' },
    args: ["validate", "p.json"],
    code: 2,
    first: /^kt-deno: invalid pipeline spec:$/,
    also: /JSON has no comments \(line 2: \/\/ the pipeline\); .*YAML, where comments start with #/,
  },
  ...[
    [
      "an object",
      { op: "write", path: "x", text: { a: 1 } },
      /^error fs\.write\("x", \.\.\.\): expected text or bytes .* got object/,
    ],
    [
      "to dirlike/",
      { op: "write", path: "dirlike/", text: "x" },
      /^error refused path "dirlike\/": a path ending in '\/' names a folder/,
    ],
  ].map(([what, args, outcome]): Case => ({
    item: 6,
    name: `ctx.fs.write of ${what} fails plainly`,
    files: {
      "p.yaml": one({
        tasks: [{ function: "hostile.fsOp", args: { ...args as object, name: "o" } }],
      }),
    },
    args: ["run", "p.yaml", ...DATA, ...FUNCTIONS],
    code: 0,
    first: /^run id: ktpr[0-9a-f]{8}$/,
    after: async (dir) => {
      assert.match(await Deno.readTextFile(`${dir}/kt-data/outcome/o`), outcome as RegExp);
      assert.equal(await exists(`${dir}/kt-data/dirlike`), false);
    },
  })),
  ...[["TypeScript", FIXTURE_FUNCTIONS, "undefined"], ["Python", PY_FUNCTIONS, "None"]].map((
    [language, functions, nothing],
  ): Case => ({
    item: 6,
    name: `a ${language} dynamic function that returns ${nothing} says so in its log`,
    files: {
      "p.yaml": { name: "p", jobs: [{ name: "d", type: "dynamic", function: "steps.noop" }] },
    },
    args: ["run", "p.yaml", ...DATA, "--functions", functions],
    code: 0,
    first: /^run id: ktpr[0-9a-f]{8}$/,
    also: new RegExp(
      `^d\\[0\\] kt-deno task: dynamic function steps\\.noop returned ${nothing}: no jobs to add$`,
      "m",
    ),
  })),
  // 7. Signals say what happened.
  {
    item: 7,
    name: "SIGTERM interrupts the run, saying so, exit 143",
    files: { "p.yaml": gated },
    args: ["run", "p.yaml", ...DATA, ...FUNCTIONS],
    signal: "SIGTERM",
    code: 143,
    first: /^failed jobs:$/,
    also: /^ {2}gate: interrupted: terminated by SIGTERM/m,
  },
  {
    item: 7,
    name: "SIGINT as before, exit 130",
    files: { "p.yaml": gated },
    args: ["run", "p.yaml", ...DATA, ...FUNCTIONS],
    signal: "SIGINT",
    code: 130,
    first: /^failed jobs:$/,
    also: /^ {2}gate: interrupted: SIGINT/m,
  },
  // 8. From a checkout: the task the README names.
  {
    item: 8,
    name: "deno task kt runs kt-deno from the checkout",
    args: ["TASK", "version"],
    code: 0,
    first: /^kt-deno \d+\.\d+\.\d+/,
  },
];

/** The lines a run prints as it goes (times, task output), which vary from run to run. */
const PROGRESS = /^(\d{4}-\d\d-\d\dT\S+ \S+ .*|\S+\[\d+\] .*)$/;

async function kt(
  args: string[],
  cwd: string,
  options: Pick<Case, "env" | "closedPipes" | "signal"> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = args[0] === "TASK"
    ? ["task", "--quiet", "--config", CONFIG, "kt", ...args.slice(1)]
    : ["run", "-A", "--quiet", "--config", CONFIG, MAIN, ...args];
  const child = new Deno.Command(Deno.execPath(), {
    args: argv,
    cwd,
    env: options.env ?? {},
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.closedPipes) {
    await Promise.all([child.stdout.cancel(), child.stderr.cancel()]);
    return { code: (await child.status).code, stdout: "", stderr: "" };
  }
  const stderr = new Response(child.stderr).text();
  let stdout: Promise<string>;
  if (options.signal) {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const head = await readUntil(reader, /run id: ktpr[0-9a-f]{8}\n/);
    await until("the task to start", 60, () => exists(`${cwd}/kt-data/started`));
    child.kill(options.signal);
    if (options.signal === "SIGPIPE") await Deno.writeTextFile(`${cwd}/kt-data/go`, "");
    stdout = (async () => {
      let rest = head;
      for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
      return rest;
    })();
  } else stdout = new Response(child.stdout).text();
  const [status, out, err] = await Promise.all([child.status, stdout, stderr]);
  return { code: status.code, stdout: out, stderr: err };
}

for (const c of CASES) {
  Deno.test(`item ${c.item}: ${c.name}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "kt-table-" });
    let undo: void | (() => void) = undefined;
    try {
      for (const [name, content] of Object.entries(c.files ?? {})) {
        if (content instanceof Uint8Array) await Deno.writeFile(`${dir}/${name}`, content);
        else if (typeof content === "string") await Deno.writeTextFile(`${dir}/${name}`, content);
        else await Deno.writeTextFile(`${dir}/${name}`, stringify(content));
      }
      undo = await c.before?.(dir);
      const runId = await Deno.readTextFile(`${dir}/run-id`).catch(() => "RUN");
      const port = await Deno.readTextFile(`${dir}/port`).catch(() => "PORT");
      const args = c.args.map((a) => a.replaceAll("RUN", runId).replace(/^PORT$/, port));
      const env = c.env?.HOME ? { ...c.env, HOME: `${dir}/home` } : c.env;
      const out = await kt(args, dir, { env, closedPipes: c.closedPipes, signal: c.signal });
      const shown = c.code === 0 ? out.stdout : out.stderr;
      const first = shown.split("\n").find((line) => !PROGRESS.test(line)) ?? "";
      const context = `stdout:\n${out.stdout}\nstderr:\n${out.stderr.slice(0, 4000)}`;
      assert.equal(out.code, c.code, context);
      assert.match(first, c.first, context);
      if (c.also) assert.match(`${out.stdout}\n${out.stderr}`, c.also, context);
      await c.after?.(dir, out);
    } finally {
      if (undo) undo();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
