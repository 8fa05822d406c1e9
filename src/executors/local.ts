/**
 * The local executor: runs each job's tasks on this machine, in worker processes, at most
 * `concurrency` tasks at once, with per-task retries and a job timeout.
 *
 * @module
 */
import type { JobState } from "../engine/state.ts";
import { TaskTimeRecorder } from "../records/task_times.ts";
import { DoneRecorder, LOCAL_BLOCK, readDoneTasks } from "../records/task_done.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { FunctionFinder } from "../task/function_lookup.ts";
import { type JobTasks, type TaskRequest, taskRequest } from "../task/request.ts";
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
import { type CacheOptions, TaskCache } from "./task_cache.ts";
import { taskAt } from "../spec/packed_tasks.ts";
import {
  type BatchResult,
  denoWorkers,
  type OutputSink,
  pythonWorkers,
  type TaskResult,
  WorkerPool,
} from "./worker_pool.ts";
import { takePrestartedPool } from "./prestart.ts";

/** Most tasks in one batch sent to a worker. */
export const MAX_BATCH = 64;

/**
 * Jobs under way at once, per slot (more wait for their turn): enough to keep every worker's
 * batches full, few enough that 10,000 jobs made ready at once do not each hold their
 * bookkeeping (and hold up the first tasks) until their turn.
 */
export const JOBS_PER_SLOT = 2 * MAX_BATCH;

/** A batch's tasks took less than this each (in milliseconds): the next one may be larger. */
export const QUICK_TASK_MS = 5;

/** One attempt at a task: its index, and how many attempts came before. */
type Attempt = { index: number; attempt: number };

/** Tasks to run one after the other on one slot, with their requests. */
type Batch = (Attempt & { request: TaskRequest | Error })[];

/** Ends an attempt; resolves to whether the task is settled (done, or failed for good). */
type Settle = (
  index: number,
  attempt: number,
  result: TaskResult,
  started: number,
  ended: number,
) => Promise<boolean>;

/** Whether a request runs in a worker of the pool (and may be batched): a function task. */
function inWorker(request: TaskRequest | Error): request is TaskRequest {
  return !(request instanceof Error) && request.found !== undefined;
}

/** Settings of a {@linkcode LocalExecutor}. */
export interface LocalExecutorOptions {
  runId: string;
  dataDir: string;
  functionsDir: string;
  /** Most tasks running at once over all jobs (default: the CPU count). */
  concurrency?: number;
  events?: ExecutorEvents;
  /** Whether task times go in the run's one file (default); a pod writes each task's. */
  runTimes?: boolean;
  /** A resumed run: tasks with a done record are not run again. */
  resuming?: boolean;
  /** Function tasks are answered from the cache when they can be (a job's `cache` wins). */
  cache?: boolean;
  /** Where the cache runs (a packed pod's, keyed with the run's image). */
  cacheOptions?: CacheOptions;
  /** Called when a task has ended for good (a pod writes its time here). */
  taskEnded?: (job: string, index: number, started: number, ok: boolean) => Promise<void>;
}

/** What {@linkcode LocalExecutor.runTasks} ran: the tasks that failed after their retries. */
export interface TasksRun {
  failures: { index: number; error: string }[];
  /** Task attempts that failed and were retried. */
  taskRetries: number;
  /** Tasks never started: the job was stopped (cancelled, timed out) before their turn. */
  notStarted: number;
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
  /** Jobs under way, and the jobs waiting for their turn (see {@linkcode JOBS_PER_SLOT}). */
  #underWay = 0;
  #waiting: { job: Readonly<JobState>; outcome: PromiseWithResolvers<JobOutcome> }[] = [];
  #firstWaiting = 0;
  readonly #concurrency: number;
  readonly #pool: WorkerPool;
  /**
   * Abort the jobs with a timeout under way (each has its own); stop() aborts them all and
   * the shared one of the other jobs, `#stopped` those that come later.
   */
  readonly #jobs = new Set<AbortController>();
  /** The signal of the jobs without a timeout (a controller per job cost more than its task). */
  readonly #shared = new AbortController();
  #stopped?: Error;
  readonly #where: { runId: string; dataDir: string; functionsDir: string };
  readonly #times: TaskTimeRecorder;
  readonly #fs: DataFs;
  #cache?: Promise<TaskCache>;
  readonly #finder: FunctionFinder;
  /** Batches of function tasks waiting for a slot (see `#submit`). */
  readonly #queue: {
    requests: TaskRequest[];
    signal: AbortSignal;
    /** Of a job with a timeout: goes to a worker by itself. */
    alone: boolean;
    results: PromiseWithResolvers<BatchResult>[];
    /** Called when it goes to a worker. */
    started: () => void;
  }[] = [];
  #pumping = false;

  constructor(readonly options: LocalExecutorOptions) {
    this.#concurrency = options.concurrency ?? defaultConcurrency();
    this.#slots = new Slots(this.#concurrency);
    this.#where = {
      runId: options.runId,
      dataDir: options.dataDir,
      functionsDir: options.functionsDir,
    };
    this.#fs = new DataFs(openStorage(options.dataDir));
    this.#finder = new FunctionFinder(options.functionsDir);
    this.#times = new TaskTimeRecorder(this.#fs, options.runId);
    const output: OutputSink = (request, line) =>
      options.events?.log?.(request.job, request.index, line);
    // `kt-deno run` may have started a worker for this run already.
    this.#pool = takePrestartedPool(output) ?? new WorkerPool(
      { typescript: denoWorkers(selfCommand(["worker"]), {}), python: pythonWorkers },
      output,
    );
  }

  /** The jobs under way: stop() waits for them, so that their task times are recorded. */
  readonly #inFlight = new Set<Promise<JobOutcome>>();

  run(job: Readonly<JobState>): Promise<JobOutcome> {
    // Under way at once when there is room (not a turn of the event loop later); a job with
    // a timeout never waits, its time runs from now.
    const room = this.#underWay < JOBS_PER_SLOT * this.#concurrency &&
      this.#firstWaiting === this.#waiting.length;
    if (room || job.timeout !== undefined) return this.#start(job);
    const outcome = Promise.withResolvers<JobOutcome>();
    this.#waiting.push({ job, outcome });
    return outcome.promise;
  }

  #start(job: Readonly<JobState>): Promise<JobOutcome> {
    this.#underWay++;
    const work = this.#run(job);
    this.#inFlight.add(work);
    return work.finally(() => {
      this.#inFlight.delete(work);
      this.#underWay--;
      this.#startWaiting(JOBS_PER_SLOT * this.#concurrency);
    });
  }

  /** Starts waiting jobs, in order, while fewer than `room` are under way. */
  #startWaiting(room: number): void {
    while (this.#underWay < room && this.#firstWaiting < this.#waiting.length) {
      const { job, outcome } = this.#waiting[this.#firstWaiting++];
      this.#start(job).then(outcome.resolve, outcome.reject);
    }
    if (this.#firstWaiting === this.#waiting.length) {
      this.#waiting = [];
      this.#firstWaiting = 0;
    } else if (this.#firstWaiting > 1024 && 2 * this.#firstWaiting > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#firstWaiting);
      this.#firstWaiting = 0;
    }
  }

  async #run(job: Readonly<JobState>): Promise<JobOutcome> {
    const count = job.type === "dynamic" ? 1 : job.tasks!.length;
    const { runId } = this.#where;
    const known = job.type === "static" && this.options.resuming
      ? await readDoneTasks(this.#fs, runId, job.name)
      : new Set<number>();
    const todo = Array.from({ length: count }, (_, i) => i).filter((i) => !known.has(i));
    // A job of one task needs no done records: its task done, it is done, and its state
    // says so (its records would be dropped unwritten, see `dropPending`).
    const done = job.type === "static" && count > 1
      ? new DoneRecorder(this.#fs, runId, job.name, LOCAL_BLOCK, known)
      : undefined;
    // A job with a timeout has a signal of its own; the others share the executor's.
    const own = job.timeout === undefined ? undefined : new AbortController();
    const signal = own?.signal ?? this.#shared.signal;
    if (own) {
      if (this.#stopped) own.abort(this.#stopped);
      this.#jobs.add(own);
    }
    const timer = own && setTimeout(
      () => own.abort(new Error(`job timed out after ${job.timeout}s`)),
      job.timeout! * 1000,
    );
    let ran: TasksRun | undefined;
    try {
      ran = await this.runTasks(job, todo, { total: count, done, signal });
    } finally {
      clearTimeout(timer);
      if (own) this.#jobs.delete(own);
      const allDone = ran?.failures.length === 0 && ran.notStarted === 0;
      await (allDone ? done?.dropPending() : done?.flush());
      if (this.#cache) await (await this.#cache).flush(job.name);
    }
    const { failures, taskRetries, notStarted } = ran;
    if (failures.length === 0 && notStarted === 0) return { ok: true, taskRetries };
    if (failures.length === 0) {
      return {
        ok: false,
        taskRetries,
        error: `${reason(signal)} (${notStarted} of ${count} tasks not started)`,
        taskCounts: { failed: 0, not_started: notStarted },
      };
    }
    return {
      ok: false,
      taskRetries,
      ...failureSummary(count, failures.length, failures, notStarted),
    };
  }

  /**
   * Runs some of a job's tasks (`indexes`) with their retries, each finished one recorded
   * in `done`; resolves to the tasks that failed after their retries, in index order. A
   * local run runs all of a job's tasks that are not done; a packed pod, its own.
   *
   * Consecutive function tasks go to a worker in batches (see
   * {@linkcode WorkerPool.execBatch}), which grow while its tasks take under
   * {@linkcode QUICK_TASK_MS} each, up to {@linkcode MAX_BATCH}: a batch takes one slot, as one
   * task would, and its worker never waits for its next task.
   */
  async runTasks(
    job: Readonly<JobTasks>,
    indexes: readonly number[],
    options: { total: number; done?: DoneRecorder; signal: AbortSignal },
  ): Promise<TasksRun> {
    const { total, done, signal } = options;
    const retries = job.retries ?? 0;
    const progress: JobProgress = {
      job: job.name,
      total,
      succeeded: total - indexes.length,
      running: 0,
      failed: 0,
      notStarted: 0,
    };
    const failures: { index: number; error: string }[] = [];
    let taskRetries = 0;
    const times = this.#times.job(job.name, total);
    const changed = () => this.options.events?.progress?.({ ...progress });
    /** Ends an attempt; whether the task is settled (done, or failed after its retries). */
    const settle = async (
      index: number,
      attempt: number,
      result: TaskResult,
      started: number,
      end: number,
    ) => {
      const last = result.ok || attempt >= retries || signal.aborted;
      times.record(index, started, end, result.ok);
      if (last) await this.options.taskEnded?.(job.name, index, started, result.ok);
      if (!last) {
        taskRetries++;
        return false;
      }
      if (result.ok) {
        progress.succeeded++;
        // The job's last task: the job ends now and writes or drops its records itself.
        done?.add(index, progress.succeeded + progress.failed === total);
      } else {
        progress.failed++;
        failures.push({ index, error: result.error });
      }
      changed();
      return true;
    };
    const runners = Math.min(indexes.length, job.parallelism ?? total, this.#concurrency);
    let next = 0;
    const take = () => next < indexes.length ? indexes[next++] : undefined;
    const runner = async () => {
      /** This runner's tasks to run again: retries, and tasks of a batch that did not run. */
      const again: Attempt[] = [];
      let size = 1;
      for (;;) {
        const index = again.length ? undefined : take();
        const task = again.shift() ?? (index === undefined ? undefined : { index, attempt: 0 });
        if (!task) return;
        // Stopped before its turn: the task never started, it did not fail.
        if (signal.aborted && task.attempt === 0) {
          progress.notStarted!++;
          changed();
          continue;
        }
        const most = Math.min(size, Math.ceil((indexes.length - next) / runners) + 1);
        const batch = this.#batch(job, task, most, take, again);
        const pooled = inWorker(batch[0].request);
        const release = pooled ? undefined : await this.#slots.acquire();
        if (signal.aborted && task.attempt === 0 && !pooled) {
          release!();
          progress.notStarted!++;
          changed();
          continue;
        }
        // Running from when it has a slot (a queued batch waits for one).
        let running = false;
        const started = () => {
          running = true;
          progress.running++;
          changed();
        };
        try {
          if (!pooled) started();
          const results = this.#answer(job, batch, pooled, signal, started);
          const ran = await this.#settleAll(batch, results, settle);
          again.push(...ran.again);
          size = ran.quick ? Math.min(2 * size, MAX_BATCH) : 1;
        } finally {
          release?.();
          if (running) {
            progress.running--;
            changed();
          }
        }
      }
    };
    await Promise.all(Array.from({ length: runners }, runner));
    failures.sort((a, b) => a.index - b.index);
    return { failures, taskRetries, notStarted: progress.notStarted! };
  }

  /**
   * The batch that starts with `task`: more tasks (from `take`, up to `most` in all) when it
   * is a first attempt of a function, as long as the next ones are of its language (the first
   * that is not goes to `again`).
   */
  #batch(
    job: Readonly<JobTasks>,
    task: Attempt,
    most: number,
    take: () => number | undefined,
    again: Attempt[],
  ): Batch {
    const batch = [{ ...task, request: taskRequest(job, task.index, this.#where, this.#finder) }];
    const first = batch[0].request;
    if (task.attempt > 0 || !inWorker(first)) return batch;
    for (let index; batch.length < most && (index = take()) !== undefined;) {
      const request = taskRequest(job, index, this.#where, this.#finder);
      if (!inWorker(request) || request.found!.language !== first.found!.language) {
        again.push({ index, attempt: 0 });
        break;
      }
      batch.push({ index, attempt: 0, request });
    }
    return batch;
  }

  /**
   * The one place where a batch's requests become results: from the cache first, when the
   * job uses it (`--cache`, `cache: true`), which answers the tasks whose entries hold and
   * passes the others on, asking them to record their file operations; then from a worker
   * (a batch of functions, queued for a slot), or one at a time (a command, a request that
   * is an error, a retry).
   */
  #answer(
    job: Readonly<JobTasks>,
    batch: Batch,
    pooled: boolean,
    signal: AbortSignal,
    started: () => void,
  ): Promise<BatchResult>[] {
    const run = (requests: (TaskRequest | Error)[]) =>
      pooled
        ? this.#submit(requests as TaskRequest[], signal, job.timeout, started)
        : [this.#timedAttempt(job, { ...batch[0], request: requests[0] }, signal)];
    const requests = batch.map((t) => t.request);
    if (!(job.cache ?? this.options.cache) || requests[0] instanceof Error) return run(requests);
    this.#cache ??= TaskCache.open(this.#fs, this.#where.runId, {
      ...this.options.cacheOptions,
      ...(this.options.resuming ? { resumed: true } : {}),
    });
    const count = job.type === "dynamic" ? 1 : job.tasks!.length;
    const requestAt = (i: number) => {
      // A packed pod's job has only its own tasks.
      const known = i < count && (job.type === "dynamic" || taskAt(job.tasks!, i) !== undefined);
      const request = known ? taskRequest(job, i, this.#where, this.#finder) : undefined;
      return request instanceof Error ? undefined : request;
    };
    const answers = this.#cache.then((cache) =>
      cache.answer(requests as TaskRequest[], run, requestAt)
    );
    return requests.map(async (_, i) => await (await answers)[i]);
  }

  /**
   * Gives each result of a batch to `settle`; returns the attempts to make again (a failed
   * task's next, a task its worker did not run) and whether its tasks were quick.
   */
  async #settleAll(
    batch: Batch,
    results: Promise<BatchResult>[],
    settle: Settle,
  ): Promise<{ again: Attempt[]; quick: boolean }> {
    const again: Attempt[] = [];
    let took = 0;
    for (let i = 0; i < batch.length; i++) {
      const result = await results[i];
      const { index, attempt } = batch[i];
      if (result.notRun) {
        again.push({ index, attempt });
        continue;
      }
      took += result.ended - result.started;
      if (!await settle(index, attempt, result, result.started, result.ended)) {
        again.push({ index, attempt: attempt + 1 });
      }
    }
    return { again, quick: took < QUICK_TASK_MS * batch.length };
  }

  /**
   * Queues function tasks for a worker; a promise of each one's result. When a
   * slot is free, the first queued batch goes to a worker, and when more are queued than
   * there are slots, with the batches queued after it,
   * up to {@linkcode MAX_BATCH} tasks, of jobs with the same language and memory and no
   * timeout (whose stop would stop the worker's other tasks): 10,000 single-task jobs ready
   * at once cost a few hundred writes to workers, not 10,000.
   */
  #submit(
    requests: TaskRequest[],
    signal: AbortSignal,
    timeout: number | undefined,
    started: () => void,
  ): Promise<BatchResult>[] {
    const results = requests.map(() => Promise.withResolvers<BatchResult>());
    this.#queue.push({ requests, signal, alone: timeout !== undefined, results, started });
    if (!this.#pumping) this.#pump();
    return results.map((result) => result.promise);
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#queue.length) {
        // A free slot is taken at once: the task is on its way to a worker before the
        // caller goes on (with the run's state and progress, say), not a turn later.
        const release = this.#slots.tryAcquire() ?? await this.#slots.acquire();
        const first = this.#queue.shift()!;
        const taken = [first];
        let count = first.requests.length;
        const memory = first.requests[0].memory;
        // Only batches that would wait for a slot anyway join it: workers stay all busy.
        const join = !first.alone && this.#queue.length >= this.#concurrency;
        // Those passed over keep their place; the queue is cut once (not once per batch
        // taken, which costs a queue of 10,000 jobs its length each time).
        const passed: (typeof first)[] = [];
        let seen = 0;
        const more = () =>
          join && count < MAX_BATCH && seen < this.#queue.length && passed.length < 2 * MAX_BATCH;
        for (; more(); seen++) {
          const queued = this.#queue[seen];
          const fits = count + queued.requests.length <= MAX_BATCH;
          const like = queued.requests[0].memory === memory &&
            queued.requests[0].found?.language === first.requests[0].found?.language;
          if (queued.alone || !like || !fits) passed.push(queued);
          else {
            taken.push(queued);
            count += queued.requests.length;
          }
        }
        if (seen) this.#queue.splice(0, seen, ...passed);
        for (const queued of taken) queued.started();
        const results = this.#pool.execBatch(taken.flatMap((t) => t.requests), first.signal);
        let at = 0;
        for (const { results: waiting } of taken) {
          for (const result of waiting) results[at++].then(result.resolve);
        }
        Promise.all(results).finally(release);
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #timedAttempt(
    job: Readonly<JobTasks>,
    task: Batch[number],
    signal: AbortSignal,
  ): Promise<BatchResult> {
    const started = Date.now();
    const result = await this.#attempt(job, task.index, task.request, signal);
    return { ...result, started, ended: Date.now() };
  }

  async #attempt(
    job: Readonly<JobTasks>,
    index: number,
    request: TaskRequest | Error,
    signal: AbortSignal,
  ): Promise<TaskResult> {
    if (signal.aborted) return { ok: false, error: reason(signal) };
    if (request instanceof Error) {
      // As a worker would have said it, at the end of the task's log.
      this.options.events?.log?.(job.name, index, `kt-deno task: ${request.message}`);
      return { ok: false, error: request.message };
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
    this.#shared.abort(this.#stopped);
    for (const abort of this.#jobs) abort.abort(this.#stopped);
    // The waiting jobs start now, and stop at once: none of their tasks start.
    this.#startWaiting(Infinity);
    // The workers end while the jobs settle and the task times are written.
    const closing = this.#pool.close();
    await Promise.allSettled(this.#inFlight);
    if (this.#cache) await (await this.#cache).close();
    if (this.options.runTimes !== false) await this.#times.flush();
    await closing;
  }
}
