/**
 * Python task benchmark: one `kt-deno run` of a static job of 1,000 no-op Python tasks
 * (`steps.noop` of tests/fixtures/py_functions), as a user would type it. Prints the
 * tasks per second of the run itself (first job submitted to last job finished) and the
 * wall time of the whole command, Deno's and Python's start-up included. With `--processes`
 * each task is instead a command task `python3 -c pass`: a Python process per task, the
 * way to compare.
 *
 *     deno run -A bench/python_bench.ts [--tasks 1000] [--concurrency N] [--processes]
 *
 * @module
 */
import type { StateDocument } from "../src/engine/state.ts";

const args = Object.fromEntries(
  Deno.args.join("=").split(/=?--/).filter(Boolean).map((a) => a.split("=")),
);
const TASKS = Number(args.tasks ?? 1_000);
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const FUNCTIONS = new URL("../tests/fixtures/py_functions", import.meta.url).pathname;

const dir = await Deno.makeTempDir({ prefix: "kt-python-bench-" });
try {
  await Deno.writeTextFile(
    `${dir}/spec.json`,
    JSON.stringify({
      name: "python-bench",
      jobs: [{
        name: "noop",
        type: "static",
        tasks: Array.from(
          { length: TASKS },
          () =>
            "processes" in args
              ? { command: ["python3", "-c", "pass"] }
              : { function: "steps.noop" },
        ),
      }],
    }),
  );
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      CONFIG,
      MAIN,
      "run",
      `${dir}/spec.json`,
      "--data-dir",
      `${dir}/data`,
      "--functions",
      FUNCTIONS,
      ...(args.concurrency ? ["--concurrency", args.concurrency] : []),
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const wall = (performance.now() - started) / 1000;
  const runId = /run id: (\S+)/.exec(new TextDecoder().decode(output.stdout))![1];
  const state: StateDocument = JSON.parse(
    await Deno.readTextFile(`${dir}/data/kt-metadata/${runId}/pipeline_run_state.json`),
  );
  if (state.status !== "Completed") throw new Error(`run ${state.status}`);
  const job = state.jobs.noop;
  const seconds = (Date.parse(job.finished_at!) - Date.parse(job.submitted_at!)) / 1000;
  console.log(
    `python${"processes" in args ? " (a process per task)" : ""}: ${TASKS} no-op Python tasks in ${
      seconds.toFixed(2)
    } s = ${(TASKS / seconds).toFixed(0)} tasks/s (concurrency ${
      args.concurrency ?? navigator.hardwareConcurrency
    }; whole command ${wall.toFixed(2)} s)`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
