/**
 * The local executor's Python workers: one long-lived Python process per concurrency slot
 * in use, each running one task at a time (see `task/python/py/kt_worker.py`). A worker
 * that a task ends (`os._exit`, a crash, a kill at a timeout) is replaced by a new one, and
 * so is one that has served `tasksPerWorker` tasks: as in a TypeScript worker, the C
 * library keeps every environment value a task sets. When a worker cannot start, Python is
 * checked, to say why.
 *
 * A task's `memory` counts the resident memory of its whole worker (see
 * `task/memory_watch.ts`), what earlier tasks left there included (module-level state, a
 * heap that did not shrink). So a worker that has served a task with a larger limit is
 * measured before a task with a smaller one, and replaced if it already holds more.
 *
 * @module
 */
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import type { FunctionModule } from "../task/function_lookup.ts";
import { checkPython } from "../task/python/python_check.ts";
import { PythonWorker } from "../task/python/python_worker.ts";
import type { TaskRequest } from "../task/request.ts";
import { memoryLimit, treeMemory } from "../task/memory_watch.ts";
import { saveReturnedJobs } from "../task/run_task.ts";
import { closeWorkers, type OutputSink, type TaskResult, TASKS_PER_WORKER } from "./worker_pool.ts";

function reason(signal: AbortSignal): string {
  return signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
}

/**
 * Python workers, started on demand and reused; the caller limits how many tasks run at
 * once. A task that fails ends its log with `kt-deno task: <error>`, as a TypeScript
 * task's does.
 */
export class PythonPool {
  readonly #idle: PythonWorker[] = [];
  readonly #all = new Set<PythonWorker>();
  readonly #served = new WeakMap<PythonWorker, number>();
  /** The largest memory limit each worker has run a task under (Infinity: none). */
  readonly #largest = new WeakMap<PythonWorker, number>();

  constructor(readonly output: OutputSink, readonly tasksPerWorker = TASKS_PER_WORKER) {}

  /** Runs one Python task; an aborted signal kills its worker. */
  async exec(
    request: TaskRequest,
    found: FunctionModule,
    signal: AbortSignal,
  ): Promise<TaskResult> {
    if (signal.aborted) return { ok: false, error: reason(signal) };
    const fail = (error: string): TaskResult => {
      this.output(request, `kt-deno task: ${error}`);
      return { ok: false, error };
    };
    let worker: PythonWorker | undefined;
    try {
      worker = await this.#take(memoryLimit(request.memory) ?? Infinity);
    } catch (error) {
      // Why it would not start, said plainly when Python is missing or too old.
      return await checkPython(`function ${request.function} is Python (${found.file})`).then(
        () => fail((error as Error).message),
        (why) => fail(why.message),
      );
    }
    const abort = () => worker.kill();
    signal.addEventListener("abort", abort, { once: true });
    try {
      const outcome = await worker.run(request, found, (line) => this.output(request, line));
      if (signal.aborted) return { ok: false, error: reason(signal) };
      if (!outcome.ok) return fail(outcome.error);
      if (request.kind === "dynamic") {
        const fs = new DataFs(openStorage(request.dataDir));
        await saveReturnedJobs(
          fs,
          request,
          JSON.parse(outcome.jobs ?? "[]"),
          (line) => this.output(request, line),
        );
      }
      return outcome.observed ? { ok: true, observed: outcome.observed } : { ok: true };
    } catch (error) {
      return fail((error as Error).message);
    } finally {
      signal.removeEventListener("abort", abort);
      const served = (this.#served.get(worker) ?? 0) + 1;
      this.#served.set(worker, served);
      if (worker.alive && served < this.tasksPerWorker) this.#idle.push(worker);
      // The slot stays taken until the old worker is gone, so the two never overlap.
      else if (worker.alive) await worker.close();
    }
  }

  /** An idle worker that holds less than `limit`, or a new one. */
  async #take(limit: number): Promise<PythonWorker> {
    for (let worker; (worker = this.#idle.pop());) {
      const largest = this.#largest.get(worker) ?? limit;
      if (limit < largest && treeMemory(worker.pid) >= limit) {
        await worker.close();
        continue;
      }
      this.#largest.set(worker, Math.max(limit, largest));
      return worker;
    }
    const worker = await this.#start();
    this.#largest.set(worker, limit);
    return worker;
  }

  async #start(): Promise<PythonWorker> {
    const worker = await PythonWorker.start();
    this.#all.add(worker);
    worker.exited.then(() => this.#all.delete(worker));
    return worker;
  }

  /** Ends every worker: idle ones by closing their input, busy ones by killing them. */
  async close(): Promise<void> {
    await closeWorkers(this.#all, this.#idle);
  }
}
