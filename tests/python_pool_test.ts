/**
 * The local executor's Python workers, driven directly: a worker serves task after task,
 * is replaced after `tasksPerWorker` tasks, and one killed at an abort takes its task's
 * processes with it.
 */
import assert from "node:assert/strict";
import { PythonPool } from "../src/executors/python_pool.ts";
import { findFunctionModule } from "../src/task/function_lookup.ts";
import type { TaskRequest } from "../src/task/request.ts";
import { until } from "./until.ts";

const FUNCTIONS = new URL("./fixtures/py_functions", import.meta.url).pathname;

function request(dataDir: string, fn: string, args: Record<string, unknown>): TaskRequest {
  return {
    runId: "ktpr0000cafe",
    job: "j",
    kind: "static",
    index: 0,
    function: fn,
    args,
    dataDir,
    functionsDir: FUNCTIONS,
  };
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

Deno.test("a Python worker serves task after task, and is replaced after tasksPerWorker", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-python-pool-" });
  const pool = new PythonPool(() => {}, 2);
  try {
    const found = findFunctionModule(FUNCTIONS, "steps.pid");
    const pids: string[] = [];
    for (const i of [0, 1, 2]) {
      const result = await pool.exec(
        request(dir, "steps.pid", { target: `pid-${i}` }),
        found,
        new AbortController().signal,
      );
      assert.deepEqual(result, { ok: true });
      pids.push(await Deno.readTextFile(`${dir}/pid-${i}`));
    }
    assert.equal(pids[0], pids[1], "the second task runs in the first one's worker");
    assert.notEqual(pids[2], pids[1], "the third runs in a new worker");
    assert.equal(alive(Number(pids[0])), false, "the old worker has exited");
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an abort kills the Python worker running the task, and the pool goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-python-pool-" });
  const pool = new PythonPool(() => {});
  try {
    const abort = new AbortController();
    const running = pool.exec(
      request(dir, "steps.sleep", { seconds: 600, target: "pid" }),
      findFunctionModule(FUNCTIONS, "steps.sleep"),
      abort.signal,
    );
    const pid = Number(
      await until("the task to start", 30, async () => {
        try {
          return await Deno.readTextFile(`${dir}/pid`) || undefined;
        } catch {
          return undefined;
        }
      }),
    );
    abort.abort(new Error("job timed out after 1s"));
    assert.deepEqual(await running, { ok: false, error: "job timed out after 1s" });
    await until("the worker to be gone", 30, () => !alive(pid) || undefined);
    const next = await pool.exec(
      request(dir, "steps.noop", {}),
      findFunctionModule(FUNCTIONS, "steps.noop"),
      new AbortController().signal,
    );
    assert.deepEqual(next, { ok: true });
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a Python worker that cannot start fails its task, saying why", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-python-pool-" });
  const lines: string[] = [];
  const pool = new PythonPool((_, line) => lines.push(line));
  Deno.env.set("KT_PYTHON", "/nonexistent/python3");
  try {
    const result = await pool.exec(
      request(dir, "steps.noop", {}),
      findFunctionModule(FUNCTIONS, "steps.noop"),
      new AbortController().signal,
    );
    const why =
      `/nonexistent/python3 not found: Python 3.9 or newer is needed, as function steps.noop is Python (${FUNCTIONS}/steps.py)`;
    assert.deepEqual(result, { ok: false, error: why });
    assert.deepEqual(lines, [`kt-deno task: ${why}`]);
  } finally {
    Deno.env.delete("KT_PYTHON");
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});
