/**
 * A pool of `kt-deno worker` processes for the local executor. Each worker runs one task
 * at a time; a worker that dies takes only its current task with it and is not reused.
 * A worker that has served `tasksPerWorker` tasks (default {@linkcode TASKS_PER_WORKER}) is
 * replaced: every task sets its own environment variables (`JOB_INDEX`, ...), and the C
 * library keeps every value ever set, so a worker's memory would grow with its tasks.
 *
 * A task with a `memory` is watched while it runs (`task/memory_watch.ts`): when its worker
 * and the processes below it hold more than that in resident memory, they are killed and
 * the task fails with `out of memory (limit 256Mi)`, the quantity as the job wrote it.
 *
 * @module
 */
import { parseQuantity } from "../spec/quantity.ts";
import type { Observed } from "../storage/fs_recorder.ts";
import { readLines } from "../async/lines.ts";
import { killTree, memoryLimit, memoryWatch } from "../task/memory_watch.ts";
import { type GroupProcess, spawnInGroup } from "../task/process_group.ts";
import type { TaskRequest } from "../task/request.ts";
import type { WorkerReply, WorkerRequest } from "../task/worker.ts";

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

class WorkerProcess {
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
  /** The same, as far as its stderr has told: each task ends its stderr with the nonce. */
  #stderrQueue: TaskRequest[] = [];
  /** Ends the memory watch, which runs while it has tasks (of one memory: see execBatch). */
  #unwatch?: () => void;
  alive = true;
  #outOfMemory = false;

  constructor(
    command: string[],
    env: Record<string, string>,
    output: OutputSink,
    readonly memory: string | undefined,
  ) {
    this.#group = spawnInGroup(command[0], {
      args: command.slice(1),
      env: { ...env, ...heapLimitEnv(memory), KT_WORKER_NONCE: this.#nonce },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
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
        } else if (line && this.#queue.length) output(this.#queue[0].request, line);
      }
    };
    const forwardStderr = async () => {
      for await (let line of readLines(this.#child.stderr)) {
        const ends = line.endsWith(this.#nonce);
        if (ends) line = line.slice(0, -this.#nonce.length);
        const current = this.#stderrQueue[0];
        if (current && (line || !ends)) {
          if (/out of memory/i.test(line)) this.#outOfMemory = true;
          output(current, line);
        }
        if (ends) this.#stderrQueue.shift();
      }
    };
    const streams = Promise.all([forwardStdout(), forwardStderr()]);
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
      this.#stderrQueue = [];
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
        this.#stderrQueue.push(request);
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
 * Worker processes, started on demand and reused. The caller limits how many tasks run
 * at once; the pool starts a worker whenever none is idle.
 */
export class WorkerPool {
  readonly #idle: WorkerProcess[] = [];
  readonly #all = new Set<WorkerProcess>();

  constructor(
    readonly command: string[],
    readonly env: Record<string, string>,
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
   * Runs function tasks of one job one after the other in one worker (sent in one write,
   * so that the worker never waits for its next task); a promise of each one's result. An
   * aborted signal kills the worker: the task it runs fails, the others do not run.
   */
  execBatch(requests: TaskRequest[], signal: AbortSignal): Promise<BatchResult>[] {
    const stopped = () => String(signal.reason?.message ?? signal.reason);
    if (signal.aborted) {
      return requests.map(() => Promise.resolve({ ok: false, error: stopped(), notRun: true }));
    }
    let worker = this.#takeIdle(requests[0].memory);
    if (!worker) {
      // An idle worker with another heap limit makes room for this one.
      this.#idle.shift()?.close();
      worker = new WorkerProcess(this.command, this.env, this.output, requests[0].memory);
      this.#all.add(worker);
      worker.exited.then(() => this.#all.delete(worker!));
    }
    const abort = () => worker!.kill();
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
      if (worker.alive && worker.served < this.tasksPerWorker) this.#idle.push(worker);
      // The slot stays taken until the old worker is gone, so the two never overlap.
      else if (worker.alive) await worker.close();
    });
    results[results.length - 1] = results[results.length - 1].then((r) => ended.then(() => r));
    return results;
  }

  /**
   * Starts a worker before any task asks for one, so that its start-up goes on while the
   * caller does its own (a worker takes a tenth of a second to be ready), with the heap limit
   * of a job's `memory`.
   */
  prestart(memory: string | undefined): void {
    if (this.#all.size > 0) return;
    const worker = new WorkerProcess(this.command, this.env, this.output, memory);
    this.#all.add(worker);
    worker.exited.then(() => this.#all.delete(worker));
    this.#idle.push(worker);
  }

  /** An idle worker with the heap limit the request asks for, if any. */
  #takeIdle(memory: string | undefined): WorkerProcess | undefined {
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const worker = this.#idle[i];
      if (worker.alive && worker.memory !== memory) continue;
      this.#idle.splice(i, 1);
      if (worker.alive) return worker;
    }
    return undefined;
  }

  /** Ends every worker: idle ones by closing their input, busy ones by killing them. */
  async close(): Promise<void> {
    await closeWorkers(this.#all, this.#idle);
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
