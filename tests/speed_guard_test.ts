/**
 * A guard on the local task path's speed that a slow or busy machine cannot fool: it
 * compares costs measured in this one process, never a time with a fixed figure.
 *
 * - the cost of a job must not grow with the run: 10,000 independent single-task jobs, or
 *   a chain of them, cost at most 1.5 times as much per job as 1,000;
 * - the cost of a task must not grow with its job: 10,000 no-op tasks of one job cost at
 *   most 1.5 times as much per task as 1,000;
 * - a no-op task costs at most {@linkcode TASK_BOUND} writes of a small file (the
 *   reference, `Deno.writeTextFile` a few thousand times here): today it costs about
 *   {@linkcode TASK_TODAY}, so a task path three times slower fails.
 *
 * Each figure is the mean of five runs, which take turns with the runs they are compared
 * with; a run's time is from its first task's start to its last task's end, as its task
 * times record them (the workers' start, which does not grow with the run, left out).
 *
 * @module
 */
import assert from "node:assert/strict";
import { runLocally } from "../src/run/local_run.ts";
import { newRunId } from "../src/records/run_id.ts";
import { checkSpec } from "../src/spec/validate.ts";
import { readRunTimes } from "../src/records/task_times.ts";
import { DataFs } from "../src/storage/data_fs.ts";
import { openStorage } from "../src/storage/open.ts";
import { FIXTURE_FUNCTIONS } from "./cli_helpers.ts";

/**
 * A no-op task costs about this many small-file writes: 0.09 to 0.10 on the machine the bound
 * was set on when quiet, 0.12 with two busy loops beside it (0.12 to 0.13 before the Dec 8
 * speed work); 0.34 with 45 µs of busy work added to each task in the worker (2.5 times the
 * task path's cost then); 1.56 on main before the task path's first fix.
 */
const TASK_TODAY = 0.1;
/** The most a no-op task may cost, in small-file writes: under 2.5 times today's. */
const TASK_BOUND = 0.24;
if (TASK_BOUND >= 2.5 * TASK_TODAY) {
  throw new Error("the speed guard's bound lets a 2.5x slowdown through");
}
const TURNS = 5;
/** Writes of the reference. */
const WRITES = 3_000;

const noop = { function: "steps.noop" };

function jobs(count: number, chained: boolean) {
  return {
    name: "speed-jobs",
    jobs: Array.from({ length: count }, (_, i) => ({
      name: `j${i}`,
      type: "static",
      dependencies: chained && i > 0 ? [`j${i - 1}`] : [],
      tasks: [noop],
    })),
  };
}

function tasks(count: number) {
  return {
    name: "speed-tasks",
    jobs: [{ name: "fan", type: "static", tasks: Array.from({ length: count }, () => noop) }],
  };
}

/**
 * The time a local run of `spec` took to run its tasks, in milliseconds: from its first
 * task's start to its last task's end, as its task times record them (so that the workers'
 * start, which does not grow with the run, is left out).
 */
async function runTime(spec: unknown): Promise<number> {
  const pipeline = checkSpec(spec, "speed");
  const dataDir = await Deno.makeTempDir({ prefix: "kt-speed-" });
  try {
    const runId = newRunId();
    const run = await runLocally(pipeline, { runId, dataDir, functionsDir: FIXTURE_FUNCTIONS });
    assert.equal(run.status, "Completed");
    const times = await readRunTimes(new DataFs(openStorage(dataDir)), runId);
    let first = Infinity, last = -Infinity;
    for (const job of Object.values(times!.jobs)) {
      job.start.forEach((start, i) => {
        first = Math.min(first, start);
        last = Math.max(last, start + job.took[i]);
      });
    }
    return last - first;
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** The time of `count` writes of a small file, one after the other, in milliseconds. */
async function writesTime(count: number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "kt-speed-ref-" });
  try {
    const started = performance.now();
    for (let i = 0; i < count; i++) await Deno.writeTextFile(`${dir}/${i % 100}.json`, "[]");
    return performance.now() - started;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The mean time of each measure over `TURNS` turns, the measures taking turns: a run slowed
 * by the machine, or one that was lucky (a short chain's best run can be half its usual
 * time), moves it little.
 */
async function typical(measures: Record<string, () => Promise<number>>) {
  const times: Record<string, number[]> = {};
  for (let turn = 0; turn < TURNS; turn++) {
    for (const [name, measure] of Object.entries(measures)) {
      (times[name] ??= []).push(await measure());
    }
  }
  // The mean: a 1,000-job chain runs in one of two speeds (0.11 or 0.25 ms an edge), and a
  // median of five can land on the fast one alone.
  const mean: Record<string, number> = {};
  for (const [name, all] of Object.entries(times)) {
    mean[name] = all.reduce((sum, ms) => sum + ms, 0) / all.length;
  }
  console.log(
    Object.entries(times).map(([name, all]) =>
      `${name} ${mean[name].toFixed(0)} ms (${all.map((ms) => ms.toFixed(0)).join(", ")})`
    ).join("; "),
  );
  return mean;
}

/** Cost per unit at `large` units over cost per unit at `small`. */
function growth(t: Record<string, number>, small: number, large: number): number {
  return (t.large / large) / (t.small / small);
}

Deno.test("the cost per job does not grow from 1,000 to 10,000 independent jobs", async () => {
  const t = await typical({
    small: () => runTime(jobs(1_000, false)),
    large: () => runTime(jobs(10_000, false)),
  });
  const ratio = growth(t, 1_000, 10_000);
  console.log(`per job: 10,000 jobs / 1,000 jobs = ${ratio.toFixed(2)}`);
  assert.ok(ratio <= 1.5, `a job costs ${ratio.toFixed(2)} times as much in a run of 10,000`);
});

Deno.test("the cost per job does not grow from a chain of 1,000 to one of 10,000", async () => {
  const t = await typical({
    small: () => runTime(jobs(1_000, true)),
    large: () => runTime(jobs(10_000, true)),
  });
  const ratio = growth(t, 1_000, 10_000);
  console.log(`per chain edge: 10,000 / 1,000 = ${ratio.toFixed(2)}`);
  assert.ok(ratio <= 1.5, `an edge costs ${ratio.toFixed(2)} times as much in a chain of 10,000`);
});

Deno.test("a no-op task costs no more in a job of 10,000, and at most a few file writes", async () => {
  const t = await typical({
    small: () => runTime(tasks(1_000)),
    large: () => runTime(tasks(10_000)),
    writes: () => writesTime(WRITES),
  });
  const ratio = growth(t, 1_000, 10_000);
  const perTask = t.large / 10_000;
  const inWrites = perTask / (t.writes / WRITES);
  console.log(
    `per task: 10,000 tasks / 1,000 tasks = ${ratio.toFixed(2)}; a task costs ${
      inWrites.toFixed(2)
    } file writes (${(perTask * 1000).toFixed(0)} µs)`,
  );
  assert.ok(ratio <= 1.5, `a task costs ${ratio.toFixed(2)} times as much in a job of 10,000`);
  assert.ok(
    inWrites <= TASK_BOUND,
    `a no-op task costs ${inWrites.toFixed(2)} small-file writes, more than ${TASK_BOUND}`,
  );
});
