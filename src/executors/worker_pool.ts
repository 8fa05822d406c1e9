/**
 * The local executor's one worker pool, and the two kinds of worker it drives: `kt-deno
 * worker` processes for TypeScript functions ({@linkcode denoWorkers}) and Python workers
 * (`task/python/py/kt_worker.py`, {@linkcode pythonWorkers}). Both keep the contract of
 * {@linkcode TaskWorker}; the pool knows only that contract and each kind's `start` and
 * `fits`.
 *
 * A worker runs the tasks of a batch one after the other, each alone (its own environment,
 * output and result). A worker that dies takes only its current task with it: the batch's
 * later tasks come back `notRun`, and the worker is not reused. A worker that has served
 * `tasksPerWorker` tasks (default {@linkcode TASKS_PER_WORKER}) is replaced: every task sets
 * its own environment variables (`JOB_INDEX`, ...), and the C library keeps every value ever
 * set, so a worker's memory would grow with its tasks.
 *
 * A task with a `memory` is watched while it runs (`task/memory_watch.ts`): when its worker
 * and the processes below it hold more than that in resident memory, they are killed and
 * the task fails with `out of memory (limit 256Mi)`, the quantity as the job wrote it. That
 * counts what earlier tasks left in the worker, so a Python worker that already holds more
 * than a task's limit is replaced before that task; a TypeScript worker is started with its
 * tasks' memory as its V8 heap limit, and serves only tasks of that memory.
 *
 * @module
 */
import { parseQuantity } from "../spec/quantity.ts";
import type { Observed } from "../storage/fs_recorder.ts";
import { readLines } from "../async/lines.ts";
import { killTree, memoryLimit, memoryWatch, treeMemory } from "../task/memory_watch.ts";
import { type GroupProcess, spawnInGroup } from "../task/process_group.ts";
import type { TaskRequest } from "../task/request.ts";
import type { FunctionModule } from "../task/function_lookup.ts";
import { PRELOAD_ENV, type WorkerReply, type WorkerRequest } from "../task/worker.ts";
import {
  type PythonOutcome,
  type PythonWorker,
  startPythonWorker,
} from "../task/python/python_worker.ts";
import { saveReturnedJobs } from "../task/run_task.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";

const encoder = new TextEncoder();

/** Tasks a worker runs before a fresh one takes its place. */
export const TASKS_PER_WORKER = 20_000;

/**
 * The result of one task in a worker; with `record` asked, what the task did through its
 * `fs` (or the path of a temporary file that holds it, when large).
 */
export type TaskResult = { ok: true; observed?: Observed | string } | {
  ok: false;
  error: string;
};

/**
 * The result of one task of a batch: its {@linkcode TaskResult} and when it ran (as the
 * worker saw it), or `notRun` when its worker ended (or was stopped) before it began.
 */
export type BatchResult =
  | (TaskResult & { notRun?: undefined; started: number; ended: number })
  | { ok: false; error: string; notRun: true };

/** Receives a line of a task's output. */
export type OutputSink = (request: TaskRequest, line: string) => void;

/**
 * A worker process of the pool: the contract that a Deno worker and a Python worker keep.
 *
 * - `run` MUST run the tasks it is given one after the other, in order, each with its own
 *   environment, and MUST give each its own result and its own output (through the pool's
 *   {@linkcode OutputSink}), never another's. It MAY be given more tasks before the first
 *   ones end (they queue).
 * - When the process ends, the task it runs MUST fail with how it ended (`out of memory
 *   (limit …)`, `killed by SIGKILL`, `exit code 3`), the tasks after it MUST come back
 *   `notRun`, and `alive` MUST be false from then on.
 * - A task with a `memory` MUST be watched while it runs (`task/memory_watch.ts`).
 * - `kill` MUST end the process and every process below it; `close` lets it end once its
 *   tasks are done, and resolves when it has.
 * - A task's failure is a result, never a rejection.
 */
export interface TaskWorker {
  /** Whether the process still runs. */
  readonly alive: boolean;
  /** Tasks handed to it so far. */
  readonly served: number;
  /** Resolves when the process has ended. */
  readonly exited: Promise<unknown>;
  /** Hands the worker tasks to run one after the other; a promise of each one's result. */
  run(requests: TaskRequest[]): Promise<BatchResult>[];
  kill(): void;
  close(): Promise<void>;
}

/**
 * What a worker is started for: the memory of its tasks, and the function it runs first;
 * `preload`, a TypeScript function's module for it to import as soon as it starts (a worker
 * started ahead of its first task, see {@linkcode WorkerPool.prestart}).
 */
export type WorkerFor =
  & Pick<TaskRequest, "memory">
  & Partial<Pick<TaskRequest, "function" | "found">>
  & { preload?: FunctionModule };

/** A kind of worker: how to start one, and which tasks an idle one may take. */
export interface WorkerKind<W extends TaskWorker = TaskWorker> {
  /** Starts a worker for `request` (and tasks like it); rejects with why it could not. */
  start(request: WorkerFor, output: OutputSink): W | Promise<W>;
  /** Whether an idle worker may run `request` next (false: another takes its place). */
  fits(worker: W, request: TaskRequest): boolean;
}

/**
 * The environment that sets a worker's V8 heap limit to a job's `memory`, or none when the
 * job gives no memory. The cap itself is the memory watch's (resident memory, see
 * `task/memory_watch.ts`); a heap is resident memory, so this limit never stops a task that
 * holds less than its memory, stops a runaway heap between two reads of the watch, and
 * lets a heap grow past V8's default when a job asks for more.
 */
function heapLimitEnv(memory: string | undefined): Record<string, string> {
  const bytes = memory === undefined ? null : parseQuantity(memory);
  if (bytes === null) return {};
  const flag = `--max-old-space-size=${Math.max(16, Math.floor(bytes / 2 ** 20))}`;
  return { DENO_V8_FLAGS: [Deno.env.get("DENO_V8_FLAGS"), flag].filter(Boolean).join(",") };
}

interface Queued {
  id: number;
  request: TaskRequest;
  done: (result: BatchResult) => void;
}

/** A `kt-deno worker` process: the worker of TypeScript functions. */
class WorkerProcess implements TaskWorker {
  readonly #group: GroupProcess;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #nonce = crypto.randomUUID();
  readonly exited: Promise<Deno.CommandStatus>;
  #nextId = 0;
  /** Tasks handed to this worker. */
  served = 0;
  /** The tasks handed to it and not ended, in order: the first is the one it runs. */
  #queue: Queued[] = [];
  /** Ends the memory watch, which runs while it has tasks (of one memory: see execBatch). */
  #unwatch?: () => void;
  alive = true;
  #outOfMemory = false;

  constructor(
    command: string[],
    env: Record<string, string>,
    output: OutputSink,
    readonly memory: string | undefined,
    preload?: FunctionModule,
  ) {
    const early: Record<string, string> = preload ? { [PRELOAD_ENV]: JSON.stringify(preload) } : {};
    // Its stderr is its stdout: one stream, in the order written, in which a task's output
    // ends with its reply (and a worker's write per task wakes this process once, not twice).
    this.#group = spawnInGroup("sh", {
      args: ["-c", 'exec "$@" 2>&1', "kt-deno-worker", ...command],
      env: { ...env, ...heapLimitEnv(memory), ...early, KT_WORKER_NONCE: this.#nonce },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    });
    this.#child = this.#group.child;
    this.#stdin = this.#child.stdin.getWriter();
    const forwardStdout = async () => {
      for await (const line of readLines(this.#child.stdout)) {
        if (line.startsWith(this.#nonce)) {
          const reply = JSON.parse(line.slice(this.#nonce.length)) as WorkerReply;
          if (reply.id === this.#queue[0]?.id) {
            const { started, ended } = reply;
            const task = this.#queue.shift()!;
            if (this.#queue.length === 0) this.#stopWatch();
            task.done(
              reply.ok
                ? reply.observed
                  ? { ok: true, observed: reply.observed, started, ended }
                  : { ok: true, started, ended }
                : { ok: false, error: reply.error ?? "failed", started, ended },
            );
          }
        } else if (line && this.#queue.length) {
          // V8 says so (on stderr) when a heap outgrows its limit.
          if (memory !== undefined && /out of memory/i.test(line)) this.#outOfMemory = true;
          output(this.#queue[0].request, line);
        }
      }
    };
    const streams = forwardStdout();
    this.exited = this.#child.status.then(async (status) => {
      this.alive = false;
      this.#group.release();
      await streams;
      const error = this.#outOfMemory && memory !== undefined
        ? `out of memory (limit ${memory})`
        : status.signal
        ? `the task's process was killed by ${status.signal}`
        : `the task ended its process with exit code ${status.code}`;
      const [current, ...waiting] = this.#queue;
      this.#queue = [];
      this.#stopWatch();
      const now = Date.now();
      current?.done({ ok: false, error, started: now, ended: now });
      for (const task of waiting) task.done({ ok: false, error, notRun: true });
      return status;
    });
  }

  /** Hands the worker tasks to run one after the other; a promise of each one's result. */
  run(requests: TaskRequest[]): Promise<BatchResult>[] {
    const lines: WorkerRequest[] = [];
    const results = requests.map((request) => {
      const id = ++this.#nextId;
      lines.push({ id, request });
      return new Promise<BatchResult>((done) => {
        this.#queue.push({ id, request, done });
      });
    });
    this.served += requests.length;
    const limit = memoryLimit(requests[0].memory);
    if (!this.#unwatch && limit !== null) {
      this.#unwatch = memoryWatch.watch(this.#child.pid, limit, () => this.#killForMemory());
    }
    this.#stdin.write(encoder.encode(JSON.stringify(lines) + "\n")).catch(() => {});
    return results;
  }

  #stopWatch(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  kill(): void {
    if (this.alive) this.#group.kill();
  }

  /** The task holds more than its memory: it ends with its worker, as a pod's would. */
  #killForMemory(): void {
    if (!this.alive) return;
    this.#outOfMemory = true;
    killTree(this.#child.pid);
    this.#group.kill();
  }

  async close(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    await this.exited;
  }
}

/**
 * `kt-deno worker` processes started with `command` and `env`: each with its tasks' memory
 * as its V8 heap limit, serving only tasks of that memory.
 */
export function denoWorkers(command: string[], env: Record<string, string>): WorkerKind {
  return {
    start: (request, output) =>
      new WorkerProcess(command, env, output, request.memory, request.preload),
    fits: (worker, request) => (worker as WorkerProcess).memory === request.memory,
  };
}

/**
 * A Python worker (`task/python/python_worker.ts`) as the pool drives it: a batch goes to
 * it in one frame, and it goes from one task to the next without waiting for kt-deno. A
 * task that fails ends its log with `kt-deno task: <error>`, as a TypeScript task's does;
 * a dynamic task's returned jobs are saved here (a TypeScript worker saves its own).
 */
class PythonTaskWorker implements TaskWorker {
  served = 0;
  /** The largest memory limit it has run a task under (Infinity: none). */
  largest = 0;
  #killed = false;

  constructor(readonly worker: PythonWorker, readonly output: OutputSink) {}

  get alive(): boolean {
    return this.worker.alive;
  }

  get exited(): Promise<unknown> {
    return this.worker.exited;
  }

  run(requests: TaskRequest[]): Promise<BatchResult>[] {
    this.served += requests.length;
    for (const { memory } of requests) {
      this.largest = Math.max(this.largest, memoryLimit(memory) ?? Infinity);
    }
    // Its outcomes come in order: a task started when the one before it ended.
    let last = Date.now();
    const outcomes = this.worker.runBatch(requests.map((request) => ({
      request,
      found: request.found!,
      output: (line: string) => this.output(request, line),
    })));
    return outcomes.map(async (outcome, i): Promise<BatchResult> => {
      const result = await outcome;
      if (!result.ok && result.notRun) return { ok: false, error: result.error, notRun: true };
      const started = last;
      const ended = last = Date.now();
      return await this.#result(requests[i], result, started, ended);
    });
  }

  async #result(
    request: TaskRequest,
    outcome: PythonOutcome,
    started: number,
    ended: number,
  ): Promise<BatchResult> {
    const fail = (error: string): BatchResult => {
      // Killed (an abort): the pool says why, as it does for a TypeScript task.
      if (!this.#killed) this.output(request, `kt-deno task: ${error}`);
      return { ok: false, error, started, ended };
    };
    if (!outcome.ok) return fail(outcome.error);
    try {
      if (request.kind === "dynamic") {
        const fs = new DataFs(openStorage(request.dataDir));
        const output = (line: string) => this.output(request, line);
        await saveReturnedJobs(fs, request, JSON.parse(outcome.jobs ?? "[]"), output);
      }
    } catch (error) {
      return fail((error as Error).message);
    }
    return outcome.observed
      ? { ok: true, observed: outcome.observed, started, ended }
      : { ok: true, started, ended };
  }

  kill(): void {
    this.#killed = true;
    this.worker.kill();
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}

/**
 * Python workers: any idle one takes a task, unless the task has a smaller memory limit than
 * one the worker ran before and the worker already holds that much (it would fail the task).
 */
export const pythonWorkers: WorkerKind<PythonTaskWorker> = {
  start: async (request, output) => new PythonTaskWorker(await startPythonWorker(request), output),
  fits: (worker, request) => {
    const limit = memoryLimit(request.memory) ?? Infinity;
    return !(limit < worker.largest && treeMemory(worker.worker.pid) >= limit);
  },
};

/** The kinds of worker of a pool, by the language of the functions they run. */
export type WorkerKinds = Record<"typescript" | "python", WorkerKind>;

/**
 * Workers of every kind, started on demand and reused; the caller limits how many tasks run
 * at once. A task goes to a worker of its function's language (a request whose function is
 * not found yet goes to a TypeScript worker, which finds it).
 *
 * @example
 * ```ts ignore
 * const pool = new WorkerPool(
 *   { typescript: denoWorkers(selfCommand(["worker"]), {}), python: pythonWorkers },
 *   (request, line) => console.log(request.index, line),
 * );
 * const result = await pool.exec(request, new AbortController().signal);
 * await pool.close();
 * ```
 */
export class WorkerPool {
  /** The idle workers of each kind. */
  readonly #idle = new Map<WorkerKind, TaskWorker[]>();
  readonly #all = new Set<TaskWorker>();

  constructor(
    readonly kinds: WorkerKinds,
    readonly output: OutputSink,
    readonly tasksPerWorker = TASKS_PER_WORKER,
  ) {}

  /** Runs one function task in a worker; an aborted signal kills that worker. */
  async exec(request: TaskRequest, signal: AbortSignal): Promise<TaskResult> {
    const [result] = await Promise.all(this.execBatch([request], signal));
    if (!result.ok) return { ok: false, error: result.error };
    return result.observed ? { ok: true, observed: result.observed } : { ok: true };
  }

  /**
   * Runs function tasks of one language and memory one after the other in one worker
   * (handed over at once, so that the worker never waits for its next task); a promise of
   * each one's result. An aborted signal kills the worker: the task it runs fails, the
   * others do not run. The last result comes when the worker is idle again or gone.
   */
  execBatch(requests: TaskRequest[], signal: AbortSignal): Promise<BatchResult>[] {
    const stopped = () => String(signal.reason?.message ?? signal.reason);
    if (signal.aborted) {
      return requests.map(() => Promise.resolve({ ok: false, error: stopped(), notRun: true }));
    }
    const kind = this.kinds[requests[0].found?.language === "python" ? "python" : "typescript"];
    const worker = this.#takeIdle(kind, requests[0]) ?? this.#start(kind, requests[0]);
    if (worker instanceof Error) return this.#notStarted(requests, worker);
    if (!(worker instanceof Promise)) return this.#runIn(worker, kind, requests, signal);
    // A worker that starts in its own time: the batch goes to it once it has.
    const results = worker.then((worker) =>
      worker instanceof Error
        ? this.#notStarted(requests, worker)
        : this.#runIn(worker, kind, requests, signal)
    );
    return requests.map((_, i) => results.then((all) => all[i]));
  }

  /** The worker would not start: each task fails, saying why at the end of its log. */
  #notStarted(requests: TaskRequest[], error: Error): Promise<BatchResult>[] {
    const now = Date.now();
    return requests.map((request) => {
      this.output(request, `kt-deno task: ${error.message}`);
      return Promise.resolve({ ok: false, error: error.message, started: now, ended: now });
    });
  }

  #runIn(
    worker: TaskWorker,
    kind: WorkerKind,
    requests: TaskRequest[],
    signal: AbortSignal,
  ): Promise<BatchResult>[] {
    const stopped = () => String(signal.reason?.message ?? signal.reason);
    if (signal.aborted) {
      // Stopped while its worker started: the worker waits for other tasks.
      this.#idleOf(kind).push(worker);
      return requests.map(() => Promise.resolve({ ok: false, error: stopped(), notRun: true }));
    }
    const abort = () => worker.kill();
    signal.addEventListener("abort", abort, { once: true });
    const results = worker.run(requests).map((result) =>
      result.then((r): BatchResult =>
        signal.aborted && !r.notRun
          ? { ok: false, error: stopped(), started: r.started, ended: r.ended }
          : r
      )
    );
    const ended = Promise.all(results).then(async () => {
      signal.removeEventListener("abort", abort);
      if (worker.alive && worker.served < this.tasksPerWorker) this.#idleOf(kind).push(worker);
      // The slot stays taken until the old worker is gone, so the two never overlap.
      else if (worker.alive) await worker.close();
    });
    results[results.length - 1] = results[results.length - 1].then((r) => ended.then(() => r));
    return results;
  }

  /**
   * Starts a TypeScript worker before any task asks for one, so that its start-up goes on
   * while the caller does its own (a worker takes a tenth of a second to be ready), with the
   * heap limit of a job's `memory`; it imports `preload` (its first task's module) while it
   * waits for that task.
   */
  prestart(memory: string | undefined, preload?: FunctionModule): void {
    if (this.#all.size > 0) return;
    const kind = this.kinds.typescript;
    const worker = this.#start(kind, { memory, preload });
    if (worker instanceof Error) return;
    const idle = (started: TaskWorker | Error) => {
      if (!(started instanceof Error)) this.#idleOf(kind).push(started);
    };
    if (worker instanceof Promise) worker.then(idle);
    else idle(worker);
  }

  /** A new worker of `kind`, or a promise of one; the error that says why it did not start. */
  #start(
    kind: WorkerKind,
    request: WorkerFor,
  ): TaskWorker | Error | Promise<TaskWorker | Error> {
    const add = (worker: TaskWorker) => {
      this.#all.add(worker);
      worker.exited.then(() => this.#all.delete(worker));
      return worker;
    };
    try {
      const started = kind.start(request, this.output);
      if (!(started instanceof Promise)) return add(started);
      return started.then(add, (error: Error) => error);
    } catch (error) {
      return error as Error;
    }
  }

  #idleOf(kind: WorkerKind): TaskWorker[] {
    let idle = this.#idle.get(kind);
    if (!idle) this.#idle.set(kind, idle = []);
    return idle;
  }

  /**
   * An idle worker of `kind` that fits `request`, if any; when none does, one that does not
   * is closed, to make room for a new one.
   */
  #takeIdle(kind: WorkerKind, request: TaskRequest): TaskWorker | undefined {
    const idle = this.#idleOf(kind);
    let unfit = -1;
    for (let i = idle.length - 1; i >= 0; i--) {
      const worker = idle[i];
      if (!worker.alive) {
        idle.splice(i, 1);
        if (unfit > i) unfit--;
        continue;
      }
      if (!kind.fits(worker, request)) {
        unfit = i;
        continue;
      }
      idle.splice(i, 1);
      return worker;
    }
    if (unfit >= 0) idle.splice(unfit, 1)[0].close();
    return undefined;
  }

  /** Ends every worker: idle ones by closing their input, busy ones by killing them. */
  async close(): Promise<void> {
    const idle = [...this.#idle.values()].flat();
    this.#idle.clear();
    await closeWorkers(this.#all, idle);
  }
}

/**
 * Ends a pool's workers: the idle ones (taken out of `idle`) by closing their input, the
 * busy ones by killing them.
 */
export async function closeWorkers(
  all: Iterable<{ kill(): void; close(): Promise<unknown> }>,
  idle: unknown[],
): Promise<void> {
  const waiting = new Set(idle);
  idle.length = 0;
  await Promise.all([...all].map((worker) => {
    if (!waiting.has(worker)) worker.kill();
    return worker.close();
  }));
}
