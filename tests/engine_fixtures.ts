/**
 * What the engine's tests build runs from: a fixed clock, jobs of either type, and the
 * statuses of a run's jobs.
 *
 * @module
 */
import type { PipelineRun } from "../src/engine/pipeline_run.ts";
import type { Job } from "../src/spec/schema.ts";

/** The tests' clock. */
export const now = new Date("2026-01-01T00:00:00Z");

/** A job with one task (static) or a function that returns jobs (dynamic). */
export function job(name: string, type: "static" | "dynamic", dependencies: string[] = []): Job {
  const base = { name, type, memory: "1Gi", cpu: "500m", dependencies };
  return type === "static"
    ? { ...base, tasks: [{ function: "m.f", args: {} }] }
    : { ...base, function: "m.spawn", args: {} };
}

/** Each job's status, by name. */
export function statuses(run: PipelineRun): Record<string, string> {
  return Object.fromEntries(run.jobs().map((j) => [j.name, j.status]));
}
