/**
 * Engine benchmark: the pure state machine alone, fed completions one at a time as the
 * driver feeds it (each completion, then `advance`), with no executor and no I/O.
 *
 * - wide: a DAG of 10 layers of 10,000 jobs, each job after it in the first layer
 *   depending on 3 jobs of the layer before (100,000 jobs, about 270,000 edges);
 * - dynamic: a dynamic job that returns 10,000 jobs, then their completions;
 * - chain: 10,000 jobs in a chain listed dependents-first.
 *
 * Prints the time of the whole run and the cost per completion at its start and at its
 * end (which must not grow with the run).
 *
 *     deno run -A bench/engine_bench.ts [--layers 10] [--width 10000]
 *
 * @module
 */
import { PipelineRun } from "../src/engine/pipeline_run.ts";
import type { Job } from "../src/spec/schema.ts";

const args = Object.fromEntries(
  Deno.args.join("=").split(/=?--/).filter(Boolean).map((a) => a.split("=")),
);
const LAYERS = Number(args.layers ?? 10);
const WIDTH = Number(args.width ?? 10_000);
const now = new Date("2026-01-01T00:00:00Z");

function job(name: string, dependencies: string[] = [], type: Job["type"] = "static"): Job {
  const base = { name, type, memory: "1Gi", cpu: "500m", dependencies };
  return type === "static"
    ? { ...base, tasks: [{ function: "m.f", args: {} }] }
    : { ...base, function: "m.spawn", args: {} };
}

/** Completes every job, oldest submitted first; returns ms in all and µs per completion. */
function drain(run: PipelineRun, returns: (name: string) => Job[] = () => []) {
  const queue = [...run.advance(now)];
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < queue.length; i++) {
    const t = performance.now();
    run.succeed(queue[i].name, returns(queue[i].name), now);
    for (const next of run.advance(now)) queue.push(next);
    times.push(performance.now() - t);
  }
  const ms = performance.now() - started;
  const tenth = Math.max(1, Math.floor(times.length / 10));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length * 1000;
  if (run.status !== "Completed") throw new Error(`run ${run.status}`);
  return {
    completions: times.length,
    ms,
    firstUs: mean(times.slice(0, tenth)),
    lastUs: mean(times.slice(-tenth)),
  };
}

function report(name: string, setupMs: number, r: ReturnType<typeof drain>): void {
  console.log(
    `${name}: ${r.completions} completions in ${r.ms.toFixed(0)} ms (start ${
      setupMs.toFixed(0)
    } ms); per completion ${r.firstUs.toFixed(1)} µs in the first tenth, ${
      r.lastUs.toFixed(1)
    } µs in the last`,
  );
}

console.log(`machine: ${navigator.hardwareConcurrency} cores, deno ${Deno.version.deno}`);
{
  const jobs: Job[] = [];
  for (let layer = 0; layer < LAYERS; layer++) {
    for (let i = 0; i < WIDTH; i++) {
      const deps = layer === 0
        ? []
        : [i, (i * 7 + 3) % WIDTH, (i * 13 + 5) % WIDTH].map((j) => `l${layer - 1}-${j}`);
      jobs.push(job(`l${layer}-${i}`, [...new Set(deps)]));
    }
  }
  let t = performance.now();
  const run = PipelineRun.start("ktpr0000wide", { name: "wide", jobs }, now);
  t = performance.now() - t;
  report(`wide (${LAYERS} layers of ${WIDTH})`, t, drain(run));
}
{
  let t = performance.now();
  const run = PipelineRun.start("ktpr0000dyna", {
    name: "dynamic",
    jobs: [job("plan", [], "dynamic")],
  }, now);
  t = performance.now() - t;
  const leaves = Array.from({ length: WIDTH }, (_, i) => job(`leaf-${i}`));
  report(
    `dynamic (one job returning ${WIDTH})`,
    t,
    drain(run, (name) => name === "plan" ? leaves : []),
  );
}
{
  const jobs = Array.from(
    { length: WIDTH },
    (_, i) => job(`step-${i}`, i < WIDTH - 1 ? [`step-${i + 1}`] : []),
  );
  let t = performance.now();
  const run = PipelineRun.start("ktpr0000chai", { name: "chain", jobs }, now);
  t = performance.now() - t;
  report(`chain (${WIDTH} jobs)`, t, drain(run));
}
