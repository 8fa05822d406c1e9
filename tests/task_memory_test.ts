/**
 * A job's `memory` caps what a local task really holds (resident memory of its worker and
 * of what it started), as a pod's limit does, never its address space: pandas and pyarrow,
 * which reserve far more address space than they touch, work under the default 1Gi and
 * under 256Mi; a task that holds more fails with `out of memory (limit 256Mi)`, Python or
 * TypeScript; quantities that are not whole bytes work.
 */
import assert from "node:assert/strict";
import { ktDeno, runIdOf, specFile, stateOf } from "./cli_helpers.ts";
import { pandasPython } from "./pandas_venv.ts";

const FUNCTIONS = new URL("./fixtures/task_memory", import.meta.url).pathname;

const task = (fn: string, args: Record<string, unknown> = {}) => ({ function: fn, args });
const job = (name: string, tasks: unknown[], memory?: string, dependencies: string[] = []) => ({
  name,
  type: "static",
  tasks,
  dependencies,
  ...memory ? { memory } : {},
});

/** Runs the jobs with pandas' Python; the state, and the log of each job that completed. */
async function run(jobs: { name: string }[], flags: string[] = []) {
  const { dir, path } = await specFile({ name: "task-memory", jobs });
  const data = `${dir}/data`;
  try {
    const result = await ktDeno(
      ["run", path, "--functions", FUNCTIONS, "--data-dir", data, ...flags],
      dir,
      { KT_PYTHON: await pandasPython() },
    );
    const runId = runIdOf(result.stdout);
    const state = await stateOf(data, runId);
    const logs: Record<string, string> = {};
    for (const { name } of jobs) {
      if (state.jobs[name].status !== "Completed") continue;
      logs[name] = await Deno.readTextFile(`${data}/kt-metadata/${runId}/logs/${name}/0.log`);
    }
    return { result, state, logs };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("pandas, pyarrow and thread pools run under the default memory and under 256Mi; quantities in fractions work", async () => {
  const { result, state, logs } = await run([
    job("parquet-default", [task("py_mem.parquet", { rows: 1000 })]),
    job("parquet-256", [task("py_mem.parquet", { rows: 1000 })], "256Mi"),
    job("threads-256", [task("py_mem.threads", { count: 32 })], "256Mi"),
    job("python-1-1gi", [task("py_mem.parquet", { rows: 1000 })], "1.1Gi"),
    job("python-1-7gi", [task("py_mem.threads", { count: 8 })], "1.7Gi"),
    job("ts-1-1gi", [task("ts_mem.small", { mib: 64 })], "1.1Gi"),
  ]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(state.status, "Completed");
  assert.match(logs["parquet-default"], /^parquet round trip of 1000 rows$/m);
  assert.match(logs["parquet-256"], /^parquet round trip of 1000 rows$/m);
  assert.match(logs["python-1-1gi"], /^parquet round trip of 1000 rows$/m);
  assert.match(logs["threads-256"], /^32 threads met$/m);
  assert.match(logs["python-1-7gi"], /^8 threads met$/m);
  assert.match(logs["ts-1-1gi"], /^held 64 MiB$/m);
});

Deno.test("a Python or TypeScript task that holds 600 MB under 256Mi fails with out of memory (limit 256Mi)", async () => {
  const { result, state } = await run([
    job("python-hog", [task("py_mem.hold", { mib: 600 })], "256Mi"),
    job("ts-hog", [task("ts_mem.hold", { mib: 600 })], "256Mi"),
    job("python-hog-fraction", [task("py_mem.hold", { mib: 600 })], "0.25Gi"),
    // One byte, rounded up from a thousandth, as Kubernetes rounds it.
    job("python-1m", [task("py_mem.hold", { mib: 1 })], "1m"),
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(state.jobs["python-hog"].status, "Failed");
  assert.equal(state.jobs["python-hog"].error, "out of memory (limit 256Mi)");
  assert.equal(state.jobs["ts-hog"].status, "Failed");
  assert.equal(state.jobs["ts-hog"].error, "out of memory (limit 256Mi)");
  assert.equal(state.jobs["python-hog-fraction"].error, "out of memory (limit 0.25Gi)");
  assert.equal(state.jobs["python-1m"].error, "out of memory (limit 1m)");
});

Deno.test("a Python worker that holds more than the next task's memory is replaced before that task", async () => {
  const { result, logs } = await run([
    job("big", [task("py_mem.keep", { mib: 300 })], "2Gi"),
    job("small", [task("py_mem.worker")], "256Mi", ["big"]),
  ], ["--concurrency", "1"]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const [, bigWorker] = logs.big.match(/^keeping 300 MiB, worker (\d+)$/m)!;
  const [, smallWorker] = logs.small.match(/^found 0 MiB, worker (\d+)$/m)!;
  assert.notEqual(smallWorker, bigWorker);
});
