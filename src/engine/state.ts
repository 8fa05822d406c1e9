/**
 * The run state document: kube-transform's `pipeline_run_state.json`, plus timestamps,
 * attempt counts and the run's own status.
 *
 * @module
 */
import type { Job } from "../spec/schema.ts";

/** The seven job statuses, spelled as kube-transform spells them. */
export const JobStatus = {
  Pending: "Pending",
  Running: "Running",
  AwaitingDescendants: "AwaitingDescendants",
  Completed: "Completed",
  Failed: "Failed",
  SkippedDueToUpstreamFailure: "SkippedDueToUpstreamFailure",
  DescendantFailed: "DescendantFailed",
} as const;

/** One of the seven job statuses. */
export type JobStatus = typeof JobStatus[keyof typeof JobStatus];

/** A job in the state document: its spec fields, its status and its history. */
export interface JobState extends Job {
  status: JobStatus;
  direct_descendants?: string[];
  parent_job?: string;
  /** Times the job was submitted to an executor. */
  attempts: number;
  /** Task attempts that failed and were retried. */
  task_retries?: number;
  submitted_at?: string;
  finished_at?: string;
  /** Why the job failed. */
  error?: string;
  /** The indexes of the failed tasks its error names (at most three). */
  failed_tasks?: number[];
  /** Of a job that failed with some of its tasks: how many failed, how many never started. */
  task_counts?: FailedTaskCounts;
}

/** How many of a failed job's tasks failed, and how many never started. */
export interface FailedTaskCounts {
  failed: number;
  not_started: number;
}

/** The run's own status, derived from its jobs (`Cancelled` after `kt-deno cancel`). */
export type RunStatus = "Running" | "Completed" | "Failed" | "Interrupted" | "Cancelled";

/** The whole state document. */
export interface StateDocument {
  pipeline_run_id: string;
  pipeline_name: string;
  status: RunStatus;
  created_at: string;
  updated_at: string;
  finished_at?: string;
  /** Why the run stopped before its jobs ended (a data dir that failed for good). */
  error?: string;
  /** The kt-deno version that started the run. */
  kt_version?: string;
  jobs: Record<string, JobState>;
}
