/**
 * Starting and watching runs from Python: `kt-deno python install` into a fresh virtualenv,
 * then a notebook-like script that calls kube-transform's `run_pipeline`; `kt-deno python
 * path`; and `kt-deno run -`.
 */
import assert from "node:assert/strict";
import { exists } from "./cli_helpers.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function command(
  program: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: string } = {},
): Promise<Result> {
  const child = new Deno.Command(program, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function ktDeno(args: string[], options: Parameters<typeof command>[2] = {}): Promise<Result> {
  return command(
    Deno.execPath(),
    ["run", "-A", "--quiet", "--config", CONFIG, MAIN, ...args],
    options,
  );
}

const FUNCTIONS = `
import time
from kube_transform import fsutil as fs

def hello(name):
    print(f"hello {name}")
    fs.write(f"out/{name}.txt", name)

def where():
    import kt_deno
    print(kt_deno.__file__)

def boom():
    raise ValueError("cannot parse row 17")

def block():
    print("started", flush=True)
    while True:  # until the run is cancelled
        time.sleep(0.05)
`;

// What a user types in a notebook, one cell after another; prints what it saw as JSON.
const NOTEBOOK = `
import json, os, time
from kube_transform import run_pipeline
from kt_deno.run import RunFailed

seen = {}
spec = {"name": "nb", "jobs": [{"name": "greet", "type": "static", "tasks": [
    {"function": "nb.hello", "args": {"name": "ada"}},
    {"function": "nb.hello", "args": {"name": "bob"}}]}]}
run = run_pipeline(spec, None, "data", wait=True)
seen["completed"] = {
    "status": run.status(), "run_id": run.run_id, "logs": run.logs(),
    "task_log": run.logs("greet", 1), "report": os.path.isfile(run.report_path),
    "outputs": sorted(os.listdir("data/out")), "output_kept": run.output_path,
}

with open("pipeline.yaml", "w") as f:
    f.write("name: from-file\\njobs:\\n  - {name: one, type: static, tasks: [{function: nb.hello, args: {name: cy}}]}\\n")
seen["path"] = run_pipeline("pipeline.yaml", None, "data", wait=True).status()
seen["yaml_text"] = run_pipeline(
    "name: text\\njobs: [{name: t, type: static, tasks: [{function: nb.hello, args: {name: di}}]}]\\n",
    None, "data", wait=True).status()

where = run_pipeline({"name": "w", "jobs": [{"name": "where", "type": "static",
    "tasks": [{"function": "nb.where"}]}]}, None, "data", wait=True)
seen["task_kt_deno"] = where.logs("where", 0)

try:
    run_pipeline({"name": "bad", "jobs": [{"name": "b", "type": "static",
        "tasks": [{"function": "nb.boom"}]}]}, None, "data", wait=True)
except RunFailed as error:
    seen["failed"] = {"status": error.status, "errors": error.errors, "message": str(error)}

try:
    run_pipeline({"name": "x", "jobs": [{"name": "b", "type": "sometimes"}]}, None, "data")
except ValueError as error:
    seen["invalid"] = str(error)

blocked = run_pipeline({"name": "slow", "jobs": [{"name": "block", "type": "static",
    "tasks": [{"function": "nb.block"}]}]}, None, "data")
deadline = time.monotonic() + 60
while "started" not in blocked.logs("block", 0) and time.monotonic() < deadline:
    time.sleep(0.05)
seen["running"] = blocked.status()
try:
    blocked.wait(timeout=0.01)
except TimeoutError:
    seen["timeout"] = True
blocked.cancel()
try:
    blocked.wait()
except RunFailed as error:
    seen["cancelled"] = error.status
print(json.dumps(seen))
`;

Deno.test("python install: a notebook in a fresh venv starts, watches and cancels runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-notebook-" });
  try {
    const made = await command("python3", ["-m", "venv", `${dir}/venv`]);
    assert.equal(made.code, 0, made.stderr);
    const python = `${dir}/venv/bin/python`;
    const installed = await ktDeno(["python", "install", "--python", python]);
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stdout, /from kube_transform import run_pipeline/);

    await Deno.mkdir(`${dir}/kt_functions`);
    await Deno.writeTextFile(`${dir}/kt_functions/nb.py`, FUNCTIONS);
    await Deno.writeTextFile(`${dir}/notebook.py`, NOTEBOOK);
    // The venv's python, as a notebook kernel would be, with nothing else on its path.
    const env = { PATH: "/usr/bin:/bin", HOME: Deno.env.get("HOME")!, TMPDIR: dir };
    const ran = await command(python, ["notebook.py"], { cwd: dir, env });
    assert.equal(ran.code, 0, ran.stderr);
    const seen = JSON.parse(ran.stdout);

    assert.equal(seen.completed.status, "Completed");
    assert.match(seen.completed.run_id, /^ktpr[0-9a-f]{8}$/);
    assert.match(seen.completed.logs, /greet\[0\] hello ada/);
    assert.equal(seen.completed.task_log.trim(), "greet[1] hello bob");
    assert.equal(seen.completed.report, true);
    assert.equal(seen.completed.output_kept, null, "a completed run's output file is removed");
    assert.deepEqual(seen.completed.outputs, ["ada.txt", "bob.txt"]);
    assert.equal(seen.path, "Completed");
    assert.equal(seen.yaml_text, "Completed");
    // A task imports the kt_deno of the kt-deno that runs it, not the one installed.
    assert.match(seen.task_kt_deno, /kt-deno-python-[^/]+\/kt_deno\/__init__\.py/);

    assert.equal(seen.failed.status, "Failed");
    assert.deepEqual(seen.failed.errors, { b: "ValueError: cannot parse row 17" });
    assert.match(seen.failed.message, /Failed\n {2}b: ValueError: cannot parse row 17/);
    assert.match(seen.invalid, /invalid pipeline spec \(standard input\)/);
    assert.match(seen.invalid, /field type/);

    assert.equal(seen.running, "Running");
    assert.equal(seen.timeout, true);
    assert.equal(seen.cancelled, "Cancelled");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("python path: a folder for PYTHONPATH, naming this kt-deno unless KT_DENO says", async () => {
  const path = await ktDeno(["python", "path"]);
  assert.equal(path.code, 0, path.stderr);
  const folder = path.stdout.trim();
  assert.ok(await exists(`${folder}/kube_transform/fsutil.py`));
  const show = "from kube_transform import run_pipeline\n" +
    "from kt_deno.run import kt_deno_command\nprint(kt_deno_command())";
  const recorded = await command("python3", ["-c", show], { env: { PYTHONPATH: folder } });
  assert.equal(recorded.code, 0, recorded.stderr);
  assert.match(recorded.stdout, new RegExp(`'${MAIN}'`));
  const overridden = await command("python3", ["-c", show], {
    env: { PYTHONPATH: folder, KT_DENO: "/opt/kt-deno --quiet" },
  });
  assert.equal(overridden.stdout.trim(), "['/opt/kt-deno', '--quiet']");
});

Deno.test("run - reads the spec from standard input", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-stdin-" });
  try {
    const spec = {
      name: "stdin",
      jobs: [{ name: "c", type: "static", tasks: [{ command: ["true"] }] }],
    };
    const ran = await ktDeno(["run", "-", "--data-dir", `${dir}/data`], {
      cwd: dir,
      stdin: JSON.stringify(spec),
    });
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /run ktpr[0-9a-f]{8} Completed/);

    const yaml = await ktDeno(["run", "-", "--data-dir", `${dir}/yaml`], {
      cwd: dir,
      stdin: 'name: y\njobs:\n  - {name: c, type: static, tasks: [{command: ["true"]}]}\n',
    });
    assert.equal(yaml.code, 0, yaml.stderr);

    const bad = await ktDeno(["run", "-", "--data-dir", `${dir}/bad`], {
      cwd: dir,
      stdin: "name: y\njobs: [{name: c, type: sometimes}]\n",
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid pipeline spec \(standard input\)/);
    assert.equal(await exists(`${dir}/bad`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("python: bad input is exit 2 with one line", async () => {
  const cases: [string[], RegExp][] = [
    [["python", "install", "--python", "/nonexistent/python3"], /\/nonexistent\/python3 not found/],
    [["python", "install", "--python", " "], /--python is empty/],
    [["python", "install", "extra"], /too many arguments/],
    [["python", "path", "extra"], /too many arguments/],
    [["python", "unpack"], /unknown command 'unpack'/],
    [["python", "install", "--python", "/bin/false"], /does not run \(exit code 1\)/],
  ];
  for (const [args, message] of cases) {
    const result = await ktDeno(args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});
