/**
 * `kt-deno task`, a worker pod's command, with Python functions, run here as a process
 * with a pod's environment over task files laid out as the controller writes them: the
 * function runs in a Python worker of its own, its output reaches the pod's log and the
 * task's log, a dynamic job's jobs reach its output path, and an exception fails the pod
 * with Python's error line.
 */
import assert from "node:assert/strict";
import { dynamicOutputPath, taskErrorPath, taskLogPath } from "../src/records/layout.ts";
import { layOutTasks, type TaskDefinition } from "../src/records/task_files.ts";
import { VERSION } from "../src/version.ts";
import { ktDeno } from "./cli_helpers.ts";

const FUNCTIONS = new URL("./fixtures/py_functions", import.meta.url).pathname;
const RUN = "ktpr0000beef";

async function pod(job: string, definitions: TaskDefinition[], index: number) {
  const dir = await Deno.makeTempDir({ prefix: "kt-python-pod-" });
  const files = layOutTasks(RUN, job, definitions.length, () => definitions);
  for (const { path, text } of files.files) {
    await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, text);
  }
  const result = await ktDeno(["task"], dir, {
    KT_RUN_ID: RUN,
    KT_JOB_NAME: job,
    JOB_COMPLETION_INDEX: String(index),
    DATA_DIR: dir,
    KT_VERSION: VERSION,
    KT_TASKS_PER_CHUNK: String(files.perChunk),
    KT_FUNCTIONS_DIR: FUNCTIONS,
  });
  return { dir, result };
}

Deno.test("a pod runs a static Python task: output in the pod's log and the task's log", async () => {
  const tasks: TaskDefinition[] = [
    { kind: "static", function: "steps.noop", args: {} },
    { kind: "static", function: "steps.talk", args: {} },
  ];
  const { dir, result } = await pod("talk", tasks, 1);
  try {
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^printed line$/m);
    assert.match(result.stdout, /^WARNING:steps:logged at warning$/m);
    const log = await Deno.readTextFile(`${dir}/${taskLogPath(RUN, "talk", 1)}`);
    assert.match(log, /^INFO:root:logged at info$/m);
    assert.match(log, /^no newline at the end$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pod runs a dynamic Python job: its returned jobs reach the output path", async () => {
  const plan = [{ kind: "dynamic" as const, function: "steps.plan", args: { count: 2 } }];
  const { dir, result } = await pod("plan", plan, 0);
  try {
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const jobs = JSON.parse(await Deno.readTextFile(`${dir}/${dynamicOutputPath(RUN, "plan")}`));
    assert.deepEqual(jobs, [{
      name: "fan",
      type: "static",
      tasks: [{ function: "steps.noop" }, { function: "steps.noop" }],
    }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pod whose Python task raises exits 1 with Python's error line, the traceback in the log", async () => {
  const tasks = [{ kind: "static" as const, function: "steps.parse", args: { row: 17 } }];
  const { dir, result } = await pod("parse", tasks, 0);
  try {
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.equal(
      await Deno.readTextFile(`${dir}/${taskErrorPath(RUN, "parse", 0)}`),
      "ValueError: cannot parse row 17",
    );
    const log = await Deno.readTextFile(`${dir}/${taskLogPath(RUN, "parse", 0)}`);
    assert.match(log, /^Traceback \(most recent call last\):$/m);
    assert.match(log, /^ValueError: cannot parse row 17$/m);
    assert.match(log, /kt-deno task: ValueError: cannot parse row 17/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pod's Python task reaches the data dir through the pod's kt-deno", async () => {
  const tasks = [{ kind: "static" as const, function: "steps.big_files", args: { target: "b" } }];
  const { dir, result } = await pod("big", tasks, 0);
  try {
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(await Deno.readTextFile(`${dir}/b`), "True 200000");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
