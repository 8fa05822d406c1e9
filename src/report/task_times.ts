/**
 * When each task ran, for the report's timeline and task counts. A local run writes one
 * compact file per job (`task_times/<job>.json`: a base time and, per task, its start and
 * end as offsets from it and whether it succeeded); a pod writes its own task's file
 * (`task_times/<job>/<index>.json`), since pods cannot share one.
 *
 * @module
 */
import { metadataDir } from "../engine/state.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { NotFoundError } from "../storage/driver.ts";

/** One task's last attempt: start and end in epoch milliseconds, and how it ended. */
export interface TaskTime {
  index: number;
  start: number;
  end: number;
  ok: boolean;
}

/** A job's file: `tasks[i]` is `[start offset, end offset, 1 ok | 0 failed]`, or null if it never ran. */
interface JobTimesFile {
  base: number;
  tasks: ([number, number, number] | null)[];
}

/** Path of a job's task times (local runs), relative to the data dir. */
export function jobTimesPath(runId: string, job: string): string {
  return `${metadataDir(runId)}/task_times/${job}.json`;
}

/** Path of one task's time (written by its pod), relative to the data dir. */
export function podTimePath(runId: string, job: string, index: number): string {
  return `${metadataDir(runId)}/task_times/${job}/${index}.json`;
}

/**
 * Collects the task times of a local run's jobs and writes each job's file when the
 * executor stops, so that no write competes with the run while it goes on.
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
  #jobs = new Map<string, JobTimesFile>();

  constructor(readonly fs: DataFs, readonly runId: string) {}

  /** A job's times, `count` tasks. */
  job(name: string, count: number) {
    const file: JobTimesFile = { base: 0, tasks: new Array(count).fill(null) };
    this.#jobs.set(name, file);
    return {
      record: (index: number, start: number, end: number, ok: boolean) => {
        file.base ||= start;
        file.tasks[index] = [start - file.base, end - file.base, ok ? 1 : 0];
      },
    };
  }

  /**
   * Writes the files of the jobs recorded so far. A file that cannot be written is left
   * out: the report does without it, and the run must not fail for it.
   */
  async flush(): Promise<void> {
    const files = [...this.#jobs].filter(([, file]) => file.base !== 0);
    this.#jobs = new Map();
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(16, files.length) }, async () => {
      for (let i = next++; i < files.length; i = next++) {
        const [name, file] = files[i];
        await this.fs.writeJson(jobTimesPath(this.runId, name), file).catch(() => {});
      }
    }));
  }
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

async function readOrUndefined<T>(fs: DataFs, path: string): Promise<T | undefined> {
  try {
    return await fs.readJson<T>(path);
  } catch (error) {
    if (error instanceof NotFoundError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/**
 * A job's task times: from the job's file, or else (runs on Kubernetes) from its pods'
 * files when it has at most `podLimit` tasks. Undefined when none were recorded.
 */
export async function readTaskTimes(
  fs: DataFs,
  runId: string,
  job: string,
  taskCount: number,
  podLimit: number,
): Promise<TaskTime[] | undefined> {
  const file = await readOrUndefined<JobTimesFile>(fs, jobTimesPath(runId, job));
  if (file) {
    return file.tasks.flatMap((t, index) =>
      t ? [{ index, start: file.base + t[0], end: file.base + t[1], ok: t[2] === 1 }] : []
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
