/**
 * The executor interface: what the pipeline driver needs of a place that runs jobs.
 * Two adapters implement it: local worker processes, and Kubernetes Jobs.
 *
 * @module
 */
import type { FailedTaskCounts, JobState } from "../engine/state.ts";

/** How a job ended, as its executor saw it. */
export interface JobOutcome {
  ok: boolean;
  /** Why it failed. */
  error?: string;
  /** The indexes of the failed tasks its error names (at most three). */
  failedTasks?: number[];
  /** How many of its tasks failed and never started, when it failed with some of them. */
  taskCounts?: FailedTaskCounts;
  /** Task attempts that failed and were retried. */
  taskRetries: number;
}

/**
 * The error of a job whose tasks failed: the one task's error, or how many of how many
 * failed with the first three reasons (`2 of 5 tasks failed: task 1: ...; task 3: ...`);
 * and the indexes of the tasks it names, as data (what `status` shows the logs of).
 */
export function failureSummary(
  total: number,
  failed: number,
  reasons: { index: number; error: string }[],
  notStarted = 0,
): Required<Pick<JobOutcome, "error" | "failedTasks" | "taskCounts">> {
  const named = reasons.slice(0, 3);
  const failedTasks = named.map((r) => r.index);
  const taskCounts = { failed, not_started: notStarted };
  if (total === 1 && reasons.length === 1) {
    return { error: reasons[0].error, failedTasks, taskCounts };
  }
  const shown = named.map((r) => `task ${r.index}: ${r.error}`).join("; ");
  const never = notStarted ? ` (${notStarted} not started)` : "";
  const error = `${failed} of ${total} tasks failed${never}${shown ? ": " : ""}${shown}${
    failed > 3 ? "; …" : ""
  }`;
  return { error, failedTasks, taskCounts };
}

/** Task counts of one job, for progress displays. */
export interface JobProgress {
  job: string;
  total: number;
  succeeded: number;
  running: number;
  failed: number;
  /** Tasks that never started (the job was stopped before their turn). */
  notStarted?: number;
}

/** What an executor reports while it works. */
export interface ExecutorEvents {
  /** A job's task counts changed. */
  progress?(progress: JobProgress): void;
  /** A line of a task's output. */
  log?(job: string, index: number, line: string): void;
}

/** Runs jobs. Every running job is handed to {@linkcode Executor.run} once per process. */
export interface Executor {
  /**
   * Runs every task of a job and resolves when the job has finished, well or not.
   * For a run resumed after a restart, this adopts work already under way for the job
   * rather than starting it again.
   */
  run(job: Readonly<JobState>): Promise<JobOutcome>;
  /** Stops all work under way; pending `run` calls resolve as failed. */
  stop(reason: string): Promise<void>;
}
