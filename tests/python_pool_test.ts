/**
 * The local executor's worker pool with Python workers, driven directly: a worker serves
 * task after task and batch after batch, is replaced after `tasksPerWorker` tasks, a task
 * that ends its worker takes only itself with it (the batch's others come back `notRun`),
 * and a worker killed at an abort takes its task's processes with it.
 */
import assert from "node:assert/strict";
import { type BatchResult, pythonWorkers, WorkerPool } from "../src/executors/worker_pool.ts";
import { findFunctionModule } from "../src/task/function_lookup.ts";
import type { TaskRequest } from "../src/task/request.ts";
import { until } from "./until.ts";

const FUNCTIONS = new URL("./fixtures/py_functions", import.meta.url).pathname;

function request(
  dataDir: string,
  fn: string,
  args: Record<string, unknown>,
  index = 0,
): TaskRequest {
  return {
    runId: "ktpr0000cafe",
    job: "j",
    kind: "static",
    index,
    function: fn,
    args,
    dataDir,
    functionsDir: FUNCTIONS,
    found: findFunctionModule(FUNCTIONS, fn),
  };
}

/** A pool of Python workers only (a TypeScript task would be a mistake here). */
function pythonPool(
  output: (request: TaskRequest, line: string) => void = () => {},
  tasksPerWorker?: number,
): WorkerPool {
  const none = {
    start: () => {
      throw new Error("no TypeScript worker in this test");
    },
    fits: () => false,
  };
  return new WorkerPool({ typescript: none, python: pythonWorkers }, output, tasksPerWorker);
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
  const pool = pythonPool(() => {}, 2);
  try {
    const pids: string[] = [];
    for (const i of [0, 1, 2]) {
      const result = await pool.exec(
        request(dir, "steps.pid", { target: `pid-${i}` }),
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

/** A result without its times (which a test does not assert). */
function outcome(result: BatchResult) {
  if (result.notRun) return result;
  const { started, ended, ...rest } = result;
  assert.ok(started <= ended);
  return rest;
}

Deno.test("a batch of Python tasks runs in one worker; a task that ends its worker fails alone, and the batch's later tasks do not run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-python-pool-" });
  const lines: [number, string][] = [];
  const pool = pythonPool((request, line) => lines.push([request.index, line]));
  const pid = (i: number) => request(dir, "steps.pid", { target: `pid-${i}` }, i);
  try {
    const signal = new AbortController().signal;
    const results = await Promise.all(pool.execBatch([
      pid(0),
      request(dir, "steps.parse", { row: 17 }, 1),
      pid(2),
      request(dir, "steps.hard_exit", { code: 4 }, 3),
      pid(4),
      pid(5),
    ], signal));
    const exited = "the task ended its process with exit code 4";
    const notRun = { ok: false, error: "the Python worker has exited", notRun: true };
    assert.deepEqual(results.map(outcome), [
      { ok: true },
      { ok: false, error: "ValueError: cannot parse row 17" },
      { ok: true },
      { ok: false, error: exited },
      notRun,
      notRun,
    ]);
    const first = await Deno.readTextFile(`${dir}/pid-0`);
    assert.equal(await Deno.readTextFile(`${dir}/pid-2`), first, "one worker ran the batch");
    // Each task's output is its own.
    assert.deepEqual(lines.filter(([i]) => i !== 1), [[3, `kt-deno task: ${exited}`]]);
    const parsed = lines.filter(([i]) => i === 1).map(([, line]) => line);
    assert.equal(parsed[0], "parsing up to row 17");
    assert.equal(parsed.at(-1), "kt-deno task: ValueError: cannot parse row 17");

    // What did not run goes again, and runs in a fresh worker.
    const again = await Promise.all(pool.execBatch([pid(4), pid(5)], signal));
    assert.deepEqual(again.map(outcome), [{ ok: true }, { ok: true }]);
    const fresh = await Deno.readTextFile(`${dir}/pid-4`);
    assert.notEqual(fresh, first);
    assert.equal(await Deno.readTextFile(`${dir}/pid-5`), fresh);
    assert.equal(alive(Number(first)), false, "the worker that the task ended is gone");
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an abort kills the Python worker running the task, and the pool goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kt-python-pool-" });
  const pool = pythonPool();
  try {
    const abort = new AbortController();
    const running = pool.exec(
      request(dir, "steps.sleep", { seconds: 600, target: "pid" }),
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
  const pool = pythonPool((_, line) => lines.push(line));
  Deno.env.set("KT_PYTHON", "/nonexistent/python3");
  try {
    const result = await pool.exec(
      request(dir, "steps.noop", {}),
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
