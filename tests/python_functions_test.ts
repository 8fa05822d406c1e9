/**
 * Python task functions, run locally through `kt-deno run` as a user would: the lookup,
 * the call, the nine task variables, output into the task's log, kube-transform's
 * `fsutil` and the `kt_deno` module over kt-deno's storage, Python's errors, isolation
 * between tasks, the memory cap, and a missing or old `python3`.
 *
 * The fixture folder is `tests/fixtures/py_functions`: it is imported as `kt_functions`
 * whatever its name.
 */
import assert from "node:assert/strict";
import { exists, ktDeno, runIdOf, spawnKtDeno, specFile, stateOf } from "./cli_helpers.ts";
import { descendants, running } from "./faults/processes.ts";
import { until } from "./until.ts";

const FUNCTIONS = new URL("./fixtures/py_functions", import.meta.url).pathname;

/** Each test of calls and failures runs in both ways a worker runs a task. */
const MODES: [string, Record<string, string>][] = [
  ["in the worker", {}],
  ["forked per task", { KT_PYTHON_FORK: "1" }],
];

const task = (fn: string, args: Record<string, unknown> = {}) => ({ function: fn, args });
const job = (name: string, tasks: unknown[], extra: Record<string, unknown> = {}) => ({
  name,
  type: "static",
  tasks,
  ...extra,
});

async function run(spec: unknown, env: Record<string, string> = {}, flags: string[] = []) {
  const { dir, path } = await specFile(spec);
  const result = await ktDeno(
    ["run", path, "--functions", FUNCTIONS, "--data-dir", `${dir}/data`, ...flags],
    dir,
    env,
  );
  return { dir, data: `${dir}/data`, result };
}

async function logOf(data: string, runId: string, name: string, index = 0): Promise<string> {
  return await Deno.readTextFile(`${data}/kt-metadata/${runId}/logs/${name}/${index}.log`);
}

for (const [mode, env] of MODES) {
  Deno.test(`Python functions run like kube-transform's: kwargs, variables, imports, logs, fsutil, kt_deno (${mode})`, async () => {
    const { dir, data, result } = await run({
      name: "python-ok",
      jobs: [
        job("env", [task("steps.environment", { target: "env-0.json", extra: 1 }), {
          function: "steps.environment",
          args: { target: "env-1.json" },
        }]),
        job("imports", [task("steps.imports", { target: "imports.txt" }), {
          function: "sub.hello",
          args: { target: "sub.txt" },
        }]),
        job("talk", [task("steps.talk")]),
        job("tour", [task("steps.fsutil_tour"), task("steps.kt_deno_tour")]),
        job("exits", [task("steps.exits", { code: 0 }), task("steps.exits", { code: null })]),
        { name: "plan", type: "dynamic", function: "steps.plan", args: { count: 3 } },
      ],
    }, env);
    try {
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const runId = runIdOf(result.stdout);
      const state = await stateOf(data, runId);
      assert.equal(state.status, "Completed");
      assert.equal(state.jobs.fan.tasks?.length, 3);
      assert.equal(state.jobs.fan.parent_job, "plan");

      const env = JSON.parse(await Deno.readTextFile(`${data}/env-1.json`));
      assert.deepEqual(env, {
        DATA_DIR: data,
        KT_RUN_ID: runId,
        KT_JOB_NAME: "env",
        JOB_COMPLETION_INDEX: "1",
        KT_JOB_ARGS: JSON.stringify({ target: "env-1.json" }),
        KT_FUNCTIONS_DIR: FUNCTIONS,
        pipeline_run_id: runId,
        JOB_INDEX: "1",
        KT_ORCH_SPEC_PATH: `kt-metadata/${runId}/dynamic_job_output/env.json`,
      });

      // absolute (`from kt_functions.lib`) and relative (`from .lib`, `from ..lib`) imports
      assert.equal(await Deno.readTextFile(`${data}/imports.txt`), "4 6 kt_functions.steps");
      assert.equal(await Deno.readTextFile(`${data}/sub.txt`), "package 42\n");

      assert.deepEqual((await logOf(data, runId, "talk")).trimEnd().split("\n"), [
        "printed line",
        "INFO:root:logged at info",
        "WARNING:steps:logged at warning",
        "to stderr",
        "no newline at the end",
      ]);

      const tour = JSON.parse(await Deno.readTextFile(`${data}/tour.json`));
      assert.deepEqual(tour, {
        bytes: [0, 1, 2],
        lines: ["line 1", "line 2"],
        read: "hello\nagain\n",
        listdir: ["a", "b.csv", "c.bin", "d.txt"],
        listdir_missing: [],
        isfile: [true, false],
        isdir: [true, false],
        exists: [true, false],
        stat: { size: 12, type: "file", name: `${data}/tour/a/x.txt` },
        glob: ["b.csv", "x.txt", "d.txt"],
        absolute: "1,2\n",
        mkdir_exists: "Directory tour/a already exists.",
        remove_missing: "FileNotFoundError",
        read_missing: "[Errno 2] No such file or directory: 'tour/none.txt'",
        after: ["c.bin", "d.txt"],
        join: "a/b/c.txt",
      });
      const kd = JSON.parse(await Deno.readTextFile(`${data}/kd_tour.json`));
      assert.deepEqual(kd, {
        json: { a: [1, 2] },
        raw: [255, 254],
        log: "one\ntwo\n",
        glob: ["kd/log.txt", "kd/raw", "kd/v.json"],
        listdir_missing: "FileNotFoundError",
        bad_mode:
          "mode 'r+' is not supported: a file of the data dir is open to read or to write, " +
          "not both (open it once for each)",
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`Python failures read like Python: the error in the job, the traceback in the log (${mode})`, async () => {
    const dynamic = (name: string, fn: string) => ({ name, type: "dynamic", function: fn });
    const { dir, data, result } = await run({
      name: "python-failures",
      jobs: [
        job("parse", [task("steps.parse", { row: 17 })]),
        job("no-module", [task("nothere.fn")]),
        job("no-function", [task("steps.nothing")]),
        job("ambiguous", [task("both.twice")]),
        job("broken", [task("broken.fn")]),
        job("exit-code", [task("steps.exits", { code: 3 })]),
        job("hard-exit", [task("steps.hard_exit", { code: 4 })]),
        job("bad-kwargs", [task("steps.noop", { surprise: 1 })]),
        job("escape", [task("steps.escape")]),
        job("hog", [task("steps.hog", { mib: 512 })], { memory: "64Mi" }),
        dynamic("not-a-list", "steps.not_a_list"),
        dynamic("not-json", "steps.not_json"),
        dynamic("invalid-jobs", "steps.invalid_jobs"),
      ],
    }, env);
    try {
      assert.equal(result.code, 1, result.stdout + result.stderr);
      const runId = runIdOf(result.stdout);
      const state = await stateOf(data, runId);
      const error = (name: string) => {
        assert.equal(state.jobs[name].status, "Failed", name);
        return state.jobs[name].error ?? "";
      };
      assert.equal(error("parse"), "ValueError: cannot parse row 17");
      const log = await logOf(data, runId, "parse");
      assert.match(log, /^parsing up to row 17$/m);
      assert.match(log, /^Traceback \(most recent call last\):$/m);
      assert.match(log, /File ".*py_functions\/steps\.py", line \d+, in parse/);
      assert.doesNotMatch(log, /kt_worker/, "the worker's own frames are left out");
      assert.match(log, /^ValueError: cannot parse row 17$/m);
      assert.match(log.trimEnd(), /kt-deno task: ValueError: cannot parse row 17$/);

      assert.equal(
        error("no-module"),
        `module nothere not found for function nothere.fn: tried nothere.ts, nothere.js, nothere.mjs, nothere.py, nothere/__init__.py in ${FUNCTIONS}`,
      );
      assert.match(error("no-function"), /^module steps \(.*steps\.py\) has no function nothing$/);
      assert.match(
        error("ambiguous"),
        /function both\.twice is ambiguous: both both\.ts and both\.py/,
      );
      assert.equal(
        error("broken"),
        "ModuleNotFoundError: No module named 'a_module_that_is_not_installed'",
      );
      assert.match(await logOf(data, runId, "broken"), /File ".*broken\.py", line 1/);
      assert.equal(error("exit-code"), "SystemExit: 3");
      assert.equal(error("hard-exit"), "the task ended its process with exit code 4");
      assert.match(
        error("bad-kwargs"),
        /^TypeError: noop\(\) got an unexpected keyword argument 'surprise'$/,
      );
      assert.match(
        error("escape"),
        /^ValueError: refused path "\.\.\/outside\.txt": '\.\.' leads out of the data dir$/,
      );
      assert.equal(error("hog"), "out of memory (limit 64Mi)");
      assert.equal(
        error("not-a-list"),
        "dynamic function steps.not_a_list returned dict, expected a list of jobs",
      );
      assert.equal(
        error("not-json"),
        "dynamic function steps.not_json returned jobs that are not JSON: TypeError: Object of type set is not JSON serializable",
      );
      assert.match(
        error("invalid-jobs"),
        /^the jobs it returned are invalid: .*a static job takes tasks, not function$/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("module state lives on in a worker; KT_PYTHON_FORK=1 starts each task from the module as imported", async () => {
  const spec = {
    name: "python-state",
    jobs: [job("counter", [0, 1, 2].map((i) => task("steps.counter", { target: `c-${i}` })))],
  };
  for (const [env, expected] of [[{}, "123"], [{ KT_PYTHON_FORK: "1" }, "111"]] as const) {
    const { dir, data, result } = await run(spec, env, ["--concurrency", "1"]);
    try {
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const counts = await Promise.all([0, 1, 2].map((i) => Deno.readTextFile(`${data}/c-${i}`)));
      assert.equal(counts.join(""), expected, JSON.stringify(env));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("a Python task that ends its worker fails alone: the job's other tasks run, those after it in a fresh worker", async () => {
  const pids = [0, 1, 2, 4, 5, 6, 7, 8];
  const tasks = pids.map((i) => task("steps.pid", { target: `pid-${i}` }));
  tasks.splice(3, 0, task("steps.hard_exit", { code: 4 }));
  const { dir, data, result } = await run(
    { name: "python-exit", jobs: [job("mixed", tasks)] },
    {},
    ["--concurrency", "1"],
  );
  try {
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const state = await stateOf(data, runIdOf(result.stdout));
    assert.equal(
      state.jobs.mixed.error,
      "1 of 9 tasks failed: task 3: the task ended its process with exit code 4",
    );
    const ran = await Promise.all(pids.map((i) => Deno.readTextFile(`${data}/pid-${i}`)));
    const [before, after] = [new Set(ran.slice(0, 3)), new Set(ran.slice(3))];
    assert.equal(before.size, 1, "the tasks before it share a worker");
    assert.equal(after.size, 1, "the tasks after it share a fresh one");
    assert.notDeepEqual([...before], [...after]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fsutil.open streams files of several megabytes both ways; one left open is not written", async () => {
  const { dir, data, result } = await run({
    name: "python-big",
    jobs: [job("big", [task("steps.big_files", { target: "big.txt" })])],
  });
  try {
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(await Deno.readTextFile(`${data}/big.txt`), "True 200000");
    assert.equal((await Deno.stat(`${data}/big/data.bin`)).size, 1500 * 3001);
    assert.equal(await exists(`${data}/big/never.txt`), false);
    const leftovers = [...Deno.readDirSync(`${data}/big`)].map((e) => e.name).sort();
    assert.deepEqual(leftovers, ["data.bin", "lines.txt"], "no temporary file is left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing python3 is one error before anything runs: exit 2, nothing written", async () => {
  const { dir, data, result } = await run(
    { name: "no-python", jobs: [job("a", [task("steps.noop")])] },
    { KT_PYTHON: "/nonexistent/python3" },
  );
  try {
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.equal(
      result.stderr.trim(),
      "kt-deno: /nonexistent/python3 not found: Python 3.9 or newer is needed, as the functions folder has Python functions (both.py)",
    );
    assert.equal(await exists(data), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a python3 older than 3.9 is one error before anything runs: exit 2, nothing written", async () => {
  const fake = await Deno.makeTempFile({ prefix: "kt-old-python-" });
  await Deno.writeTextFile(fake, "#!/bin/sh\necho 3.8.10\n");
  await Deno.chmod(fake, 0o755);
  const { dir, data, result } = await run(
    { name: "old-python", jobs: [job("a", [task("steps.noop")])] },
    { KT_PYTHON: fake },
  );
  try {
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /is Python 3\.8\.10: Python 3\.9 or newer is needed/);
    assert.equal(await exists(data), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(fake);
  }
});

Deno.test({
  name:
    "SIGKILL of a local launcher takes its Python workers, and what their tasks started, with it",
  sanitizeResources: false,
  fn: async () => {
    const { dir, path } = await specFile({
      name: "python-lingering",
      jobs: [job("slow", [task("steps.sleep", { seconds: 60, target: "pid" })])],
    });
    const dataDir = `${dir}/data`;
    const launcher = spawnKtDeno(
      ["run", path, "--data-dir", dataDir, "--functions", FUNCTIONS],
      dir,
    );
    try {
      const pid = Number(
        await until("the Python task to start", 60, async () => {
          const text = await Deno.readTextFile(`${dataDir}/pid`).catch(() => "");
          return text || undefined;
        }),
      );
      const before = descendants(launcher.pid);
      assert.ok(before.includes(pid), `the task's worker ${pid} is below the launcher`);
      assert.ok(before.some((p) => descendants(pid).includes(p)), "the task's `sleep` too");
      Deno.kill(launcher.pid, "SIGKILL");
      assert.equal((await launcher.status).signal, "SIGKILL");
      await until("the run's processes to end", 10, () => before.every((p) => !running(p)), {
        everyMs: 50,
      });
    } finally {
      await launcher.stdout.cancel();
      await launcher.stderr.cancel();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
