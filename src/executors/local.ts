/**
 * The local executor: runs each job's tasks on this machine, in worker processes, at most
 * `concurrency` tasks at once, with per-task retries and a job timeout.
 *
 * @module
 */
import type { JobState } from "../engine/state.ts";
import { TaskTimeRecorder } from "../records/task_times.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { lookupFunction } from "../task/function_lookup.ts";
import { taskRequest } from "../task/request.ts";
import { runCommand } from "../task/run_task.ts";
import { selfCommand } from "../task/self_command.ts";
import {
  type Executor,
  type ExecutorEvents,
  failureSummary,
  type JobOutcome,
  type JobProgress,
} from "./executor.ts";
import { Slots } from "../async/slots.ts";
import { PythonPool } from "./python_pool.ts";
import { type TaskResult, WorkerPool } from "./worker_pool.ts";

/** Settings of a {@linkcode LocalExecutor}. */
export interface LocalExecutorOptions {
  runId: string;
  dataDir: string;
  functionsDir: string;
  /** Most tasks running at once over all jobs (default: the CPU count). */
  concurrency?: number;
  events?: ExecutorEvents;
}

/** The default task concurrency: this machine's CPU count. */
export function defaultConcurrency(): number {
  return navigator.hardwareConcurrency || 1;
}

function reason(signal: AbortSignal): string {
  return signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
}

/**
 * Runs jobs on this machine.
 *
 * @example
 * ```ts
 * import { LocalExecutor } from "./local.ts";
 * const executor = new LocalExecutor({ runId: "ktpr0000abcd", dataDir: "./kt-data", functionsDir: "./kt_functions" });
 * ```
 */
export class LocalExecutor implements Executor {
  readonly #slots: Slots;
  readonly #concurrency: number;
  readonly #pool: WorkerPool;
  readonly #python: PythonPool;
  /** Aborts the jobs under way; stop() aborts them all, `#stopped` those that come later. */
  readonly #jobs = new Set<AbortController>();
  #stopped?: Error;
  readonly #where: { runId: string; dataDir: string; functionsDir: string };
  readonly #times: TaskTimeRecorder;

  constructor(readonly options: LocalExecutorOptions) {
    this.#concurrency = options.concurrency ?? defaultConcurrency();
    this.#slots = new Slots(this.#concurrency);
    this.#where = {
      runId: options.runId,
      dataDir: options.dataDir,
      functionsDir: options.functionsDir,
    };
    this.#times = new TaskTimeRecorder(new DataFs(openStorage(options.dataDir)), options.runId);
    this.#pool = new WorkerPool(
      selfCommand(["worker"]),
      {},
      (request, line) => options.events?.log?.(request.job, request.index, line),
    );
    this.#python = new PythonPool((request, line) =>
      options.events?.log?.(request.job, request.index, line)
    );
  }

  async run(job: Readonly<JobState>): Promise<JobOutcome> {
    const count = job.type === "dynamic" ? 1 : job.tasks!.length;
    const retries = job.retries ?? 0;
    const abort = new AbortController();
    if (this.#stopped) abort.abort(this.#stopped);
    this.#jobs.add(abort);
    const timer = job.timeout === undefined ? undefined : setTimeout(
      () => abort.abort(new Error(`job timed out after ${job.timeout}s`)),
      job.timeout * 1000,
    );
    const progress: JobProgress = {
      job: job.name,
      total: count,
      succeeded: 0,
      running: 0,
      failed: 0,
    };
    const failures: { index: number; error: string }[] = [];
    let taskRetries = 0;
    const times = this.#times.job(job.name, count);

    let next = 0;
    const runner = async () => {
      for (let index = next++; index < count; index = next++) {
        for (let attempt = 0;; attempt++) {
          const release = await this.#slots.acquire();
          progress.running++;
          this.options.events?.progress?.({ ...progress });
          let result: TaskResult;
          const started = Date.now();
          try {
            result = await this.#attempt(job, index, abort.signal);
          } finally {
            release();
            progress.running--;
          }
          times.record(index, started, Date.now(), result.ok);
          if (!result.ok && attempt < retries && !abort.signal.aborted) {
            taskRetries++;
            continue;
          }
          if (result.ok) progress.succeeded++;
          else {
            progress.failed++;
            failures.push({ index, error: result.error });
          }
          this.options.events?.progress?.({ ...progress });
          break;
        }
      }
    };
    const runners = Math.min(count, job.parallelism ?? count, this.#concurrency);

    try {
      await Promise.all(Array.from({ length: runners }, runner));
    } finally {
      clearTimeout(timer);
      this.#jobs.delete(abort);
    }
    if (failures.length === 0) return { ok: true, taskRetries };
    failures.sort((a, b) => a.index - b.index);
    return { ok: false, taskRetries, error: failureSummary(count, failures.length, failures) };
  }

  async #attempt(job: Readonly<JobState>, index: number, signal: AbortSignal): Promise<TaskResult> {
    if (signal.aborted) return { ok: false, error: reason(signal) };
    const request = taskRequest(job, index, this.#where);
    const found = request.function && lookupFunction(request.functionsDir, request.function);
    if (found && found.language === "python") {
      return await this.#python.exec(request, found, signal);
    }
    if (!request.command) return await this.#pool.exec(request, signal);
    try {
      await runCommand(request, {
        signal,
        output: (line) => this.options.events?.log?.(job.name, index, line),
      });
      return { ok: true };
    } catch (error) {
      return { ok: false, error: signal.aborted ? reason(signal) : (error as Error).message };
    }
  }

  async stop(why: string): Promise<void> {
    this.#stopped ??= new Error(why);
    for (const abort of this.#jobs) abort.abort(this.#stopped);
    await Promise.all([this.#pool.close(), this.#python.close()]);
    await this.#times.flush();
  }
}
