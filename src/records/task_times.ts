/**
 * When each task ran, for the report's timeline and task counts. A local run writes one
 * file for the whole run when it ends (`task_times.json`: a base time and, per job, each
 * task's start as an offset from it, how long it took, and which tasks failed); a pod
 * writes its own task's file (`task_times/<job>/<index>.json`), since pods cannot share
 * one.
 *
 * @module
 */
import { podTimePath, runTimesPath } from "./layout.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { NotFoundError } from "../storage/driver.ts";

/** One task's last attempt: start and end in epoch milliseconds, and how it ended. */
export interface TaskTime {
  index: number;
  start: number;
  end: number;
  ok: boolean;
}

/** A job's times: `start[i]` is task i's start after the base (-1: it never ran). */
interface JobTimes {
  start: number[];
  took: number[];
  failed: number[];
}

/** The file of a local run's task times. */
export interface RunTimes {
  base: number;
  jobs: Record<string, JobTimes>;
}

async function readOrUndefined<T>(fs: DataFs, path: string): Promise<T | undefined> {
  try {
    return await fs.readJson<T>(path);
  } catch (error) {
    if (error instanceof NotFoundError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** One job's task times as recorded: start and end, and 0 never ran, 1 done, 2 failed. */
type RecordedTimes = {
  start: Float64Array | number[];
  end: Float64Array | number[];
  ok: Uint8Array | number[];
};

/**
 * Jobs of more tasks keep their times in typed arrays (17 bytes a task); smaller ones in
 * plain arrays, as three typed arrays for each of 10,000 one-task jobs (each its own
 * allocation outside the heap) cost the run more than their tasks.
 */
const TYPED_FROM = 64;

/** One job's task times, as {@linkcode TaskTimeRecorder.job} collects them. */
export class JobTimeRecorder implements RecordedTimes {
  readonly start: Float64Array | number[];
  readonly end: Float64Array | number[];
  /** 0 never ran, 1 done, 2 failed. */
  readonly ok: Uint8Array | number[];

  constructor(count: number) {
    if (count >= TYPED_FROM) {
      this.start = new Float64Array(count);
      this.end = new Float64Array(count);
      this.ok = new Uint8Array(count);
    } else {
      this.start = zeros(count);
      this.end = zeros(count);
      this.ok = zeros(count);
    }
  }

  /** Records task `index`'s last attempt. */
  record(index: number, start: number, end: number, ok: boolean): void {
    this.start[index] = start;
    this.end[index] = end;
    this.ok[index] = ok ? 1 : 2;
  }
}

function zeros(count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(0);
  return out;
}

/**
 * Collects the task times of a local run in memory (17 bytes a task) and writes them in
 * one file when the executor stops, so that nothing competes with the run while it goes
 * on. Times an earlier process of the same run wrote (before a resume) are kept.
 *
 * @example
 * ```ts ignore
 * const recorder = new TaskTimeRecorder(fs, "ktpr0000abcd");
 * const job = recorder.job("prepend", 3);
 * job.record(0, Date.now() - 20, Date.now(), true);
 * await recorder.flush();
 * ```
 */
export class TaskTimeRecorder {
  #jobs = new Map<string, RecordedTimes>();
  #writing: Promise<void> = Promise.resolve();

  constructor(readonly fs: DataFs, readonly runId: string) {}

  /** A job's times, `count` tasks. */
  job(name: string, count: number): JobTimeRecorder {
    const times = new JobTimeRecorder(count);
    this.#jobs.set(name, times);
    return times;
  }

  /**
   * Writes what was recorded so far. When it cannot, the report does without task times:
   * the run must not fail for them. Flushes are written one after the other, and each
   * resolves once the writes before it are done too (a second `stop` of an executor must
   * not return while the first's write is under way).
   */
  flush(): Promise<void> {
    const recorded = [...this.#jobs].filter(([, t]) => t.ok.some((v) => v !== 0));
    this.#jobs = new Map();
    this.#writing = this.#writing.then(() => this.#write(recorded));
    return this.#writing;
  }

  async #write(recorded: [string, RecordedTimes][]): Promise<void> {
    if (recorded.length === 0) return;
    try {
      const path = runTimesPath(this.runId);
      const file = await readOrUndefined<RunTimes>(this.fs, path) ??
        {
          base: recorded.reduce((least, [, t]) => Math.min(least, earliest(t)), Infinity),
          jobs: {},
        };
      for (const [name, t] of recorded) {
        const start: number[] = [], took: number[] = [], failed: number[] = [];
        // A task this process did not run (done before a resume) keeps its earlier time.
        const before = file.jobs[name];
        const earlierFailed = before ? new Set(before.failed) : undefined;
        for (let i = 0; i < t.ok.length; i++) {
          const earlier = !t.ok[i] && (before?.start[i] ?? -1) >= 0;
          start.push(t.ok[i] ? t.start[i] - file.base : earlier ? before!.start[i] : -1);
          took.push(t.ok[i] ? t.end[i] - t.start[i] : earlier ? before!.took[i] : 0);
          if (t.ok[i] === 2 || (earlier && earlierFailed?.has(i))) failed.push(i);
        }
        file.jobs[name] = { start, took, failed };
      }
      await this.fs.writeJson(path, file);
    } catch {
      // See above: no times, no harm.
    }
  }
}

function earliest(t: RecordedTimes): number {
  let min = Infinity;
  for (let i = 0; i < t.ok.length; i++) if (t.ok[i] && t.start[i] < min) min = t.start[i];
  return min;
}

/**
 * Writes one pod's task time; never throws (the task's result matters more), says on
 * stderr when it could not.
 */
export async function savePodTime(
  fs: DataFs,
  runId: string,
  job: string,
  index: number,
  start: number,
  ok: boolean,
): Promise<void> {
  await fs.writeJson(podTimePath(runId, job, index), [start, Date.now(), ok ? 1 : 0])
    .catch((error) => console.error(`kt-deno task: task time not recorded: ${error.message}`));
}

/** A local run's task times, or undefined when it has none (a run on Kubernetes). */
export async function readRunTimes(fs: DataFs, runId: string): Promise<RunTimes | undefined> {
  return await readOrUndefined<RunTimes>(fs, runTimesPath(runId));
}

/**
 * A job's task times: from the run's file, or else (runs on Kubernetes) from its pods'
 * files when it has at most `podLimit` tasks. Undefined when none were recorded.
 */
export async function readTaskTimes(
  fs: DataFs,
  runId: string,
  run: RunTimes | undefined,
  job: string,
  taskCount: number,
  podLimit: number,
): Promise<TaskTime[] | undefined> {
  const local = run?.jobs[job];
  if (local) {
    const failed = new Set(local.failed);
    return local.start.flatMap((s, index) =>
      s < 0 ? [] : [{
        index,
        start: run!.base + s,
        end: run!.base + s + local.took[index],
        ok: !failed.has(index),
      }]
    );
  }
  if (taskCount > podLimit) return undefined;
  const found = await Promise.all(
    Array.from(
      { length: taskCount },
      (_, index) => readOrUndefined<[number, number, number]>(fs, podTimePath(runId, job, index)),
    ),
  );
  const times = found.flatMap((t, index) =>
    t ? [{ index, start: t[0], end: t[1], ok: t[2] === 1 }] : []
  );
  return times.length > 0 ? times : undefined;
}
