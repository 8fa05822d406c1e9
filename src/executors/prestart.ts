/**
 * A worker started ahead of the run that will use it: `kt-deno run` starts one as soon as
 * it has read a spec whose first function is TypeScript, and the run's local executor takes
 * it over, so that the worker's start-up (a tenth of a second) and its import of that
 * function's module go on while the launcher checks the data dir, writes the run's first
 * records and loads the rest of itself, not before the run's first task.
 *
 * @module
 */
import { FunctionFinder } from "../task/function_lookup.ts";
import { DEFAULT_MEMORY } from "../spec/quantity.ts";
import { selfCommand } from "../task/self_command.ts";
import { denoWorkers, type OutputSink, pythonWorkers, WorkerPool } from "./worker_pool.ts";

/** The pool started ahead, and where its workers' output goes once an executor has it. */
let early: { pool: WorkerPool; sink: { output?: OutputSink } } | undefined;

/**
 * The first function a spec's jobs call, and its job's memory (its worker's heap limit); the
 * spec as parsed, not yet checked, so anything may be anywhere.
 */
function firstFunction(spec: unknown): { ref: string; memory?: string } | undefined {
  const jobs = (spec as { jobs?: unknown } | null)?.jobs;
  if (!Array.isArray(jobs)) return undefined;
  const text = (value: unknown) => typeof value === "string" ? value : undefined;
  for (const job of jobs as ({ function?: unknown; tasks?: unknown; memory?: unknown } | null)[]) {
    // As the schema will have it (a memory that is not a string fails it).
    const memory = job?.memory === undefined ? DEFAULT_MEMORY : text(job.memory);
    const ref = text(job?.function);
    if (ref !== undefined) return { ref, memory };
    if (!Array.isArray(job?.tasks)) continue;
    for (const task of job.tasks as ({ function?: unknown } | null)[]) {
      const ref = text(task?.function);
      if (ref !== undefined) return { ref, memory };
    }
  }
  return undefined;
}

/**
 * Starts one worker for the run of a spec (as parsed: it need not be checked yet) when its
 * first function is a TypeScript one (a run of commands or of Python functions needs
 * none), to be taken by {@linkcode takePrestartedPool}. Returns what ends that worker when
 * no run comes to take it (a check that fails first).
 */
export function prestartWorker(spec: unknown, functionsDir: string): { discard(): Promise<void> } {
  const first = firstFunction(spec);
  const found = first && new FunctionFinder(functionsDir).find(first.ref);
  if (
    !early && found !== undefined && !(found instanceof Error) && found.language === "typescript"
  ) {
    const sink: { output?: OutputSink } = {};
    const pool = new WorkerPool(
      { typescript: denoWorkers(selfCommand(["worker"]), {}), python: pythonWorkers },
      (request, line) => sink.output?.(request, line),
    );
    pool.prestart(first!.memory, found);
    early = { pool, sink };
  }
  return { discard: async () => await takePrestartedPool(() => {})?.close() };
}

/**
 * The pool started by {@linkcode prestartWorker}, its workers' output now going to
 * `output`; undefined when none was started. A pool is taken once.
 */
export function takePrestartedPool(output: OutputSink): WorkerPool | undefined {
  const taken = early;
  early = undefined;
  if (taken) taken.sink.output = output;
  return taken?.pool;
}
