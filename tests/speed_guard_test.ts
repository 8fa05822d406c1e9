/**
 * A guard on the local task path's speed that a slow or busy machine cannot fool: it
 * compares costs measured in this one process, never a time with a fixed figure.
 *
 * - the cost of a job must not grow with the run: 10,000 independent single-task jobs, or
 *   a chain of them, cost at most 1.5 times as much per job as 1,000;
 * - the cost of a task must not grow with its job: 10,000 no-op tasks of one job cost at
 *   most 1.5 times as much per task as 1,000;
 * - a no-op task costs at most {@linkcode TASK_BOUND} writes of a small file (the
 *   reference, `Deno.writeTextFile` the same number of times here): today it costs about
 *   {@linkcode TASK_TODAY}, so a task path three times slower fails.
 *
 * Each figure is the best of a few runs, which take turns with the runs they are compared
 * with, and a run's fixed cost (workers starting, the first and last state writes) is
 * taken out: the cost of N jobs is the time of N minus the time of one.
 *
 * @module
 */
import assert from "node:assert/strict";
import { runLocally } from "../src/run/local_run.ts";
import { newRunId } from "../src/records/run_id.ts";
import { checkSpec } from "../src/spec/load.ts";
import { FIXTURE_FUNCTIONS } from "./cli_helpers.ts";

/** A no-op task costs about this many small-file writes on the machine the bound was set on. */
const TASK_TODAY = 1;
/** The most a no-op task may cost, in small-file writes. */
const TASK_BOUND = 2 * TASK_TODAY;
const TURNS = 3;

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

/** The time of a whole local run of `spec`, in milliseconds. */
async function runTime(spec: unknown): Promise<number> {
  const pipeline = checkSpec(spec, "speed");
  const dataDir = await Deno.makeTempDir({ prefix: "kt-speed-" });
  try {
    const started = performance.now();
    const run = await runLocally(pipeline, {
      runId: newRunId(),
      dataDir,
      functionsDir: FIXTURE_FUNCTIONS,
    });
    const took = performance.now() - started;
    assert.equal(run.status, "Completed");
    return took;
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

/** The best time of each measure over `TURNS` turns, the measures taking turns. */
async function best(measures: Record<string, () => Promise<number>>) {
  const least: Record<string, number> = {};
  for (let turn = 0; turn < TURNS; turn++) {
    for (const [name, measure] of Object.entries(measures)) {
      least[name] = Math.min(least[name] ?? Infinity, await measure());
    }
  }
  return least;
}

/** Cost per unit at `large` units over cost per unit at `small`, the fixed cost taken out. */
function growth(t: Record<string, number>, small: number, large: number): number {
  return ((t.large - t.one) / large) / ((t.small - t.one) / small);
}

Deno.test("the cost per job does not grow from 1,000 to 10,000 independent jobs", async () => {
  const t = await best({
    one: () => runTime(jobs(1, false)),
    small: () => runTime(jobs(1_000, false)),
    large: () => runTime(jobs(10_000, false)),
  });
  const ratio = growth(t, 1_000, 10_000);
  console.log(`per job: 10,000 jobs / 1,000 jobs = ${ratio.toFixed(2)}`);
  assert.ok(ratio <= 1.5, `a job costs ${ratio.toFixed(2)} times as much in a run of 10,000`);
});

Deno.test("the cost per job does not grow from a chain of 1,000 to one of 10,000", async () => {
  const t = await best({
    one: () => runTime(jobs(1, true)),
    small: () => runTime(jobs(1_000, true)),
    large: () => runTime(jobs(10_000, true)),
  });
  const ratio = growth(t, 1_000, 10_000);
  console.log(`per chain edge: 10,000 / 1,000 = ${ratio.toFixed(2)}`);
  assert.ok(ratio <= 1.5, `an edge costs ${ratio.toFixed(2)} times as much in a chain of 10,000`);
});

Deno.test("a no-op task costs no more in a job of 10,000, and at most a few file writes", async () => {
  const t = await best({
    one: () => runTime(tasks(1)),
    small: () => runTime(tasks(1_000)),
    large: () => runTime(tasks(10_000)),
    writes: () => writesTime(10_000),
  });
  const ratio = growth(t, 1_000, 10_000);
  const perTask = (t.large - t.one) / 10_000;
  const inWrites = perTask / (t.writes / 10_000);
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
