/**
 * Reopening a finished or abandoned run so that it can be driven again in place
 * (`kt-deno resume`). Pure: a state document in, a new state document out.
 *
 * @module
 */
import { type JobState, JobStatus, type StateDocument } from "./state.ts";

const RERUN: ReadonlySet<string> = new Set([
  JobStatus.Pending,
  JobStatus.Running,
  JobStatus.Failed,
  JobStatus.SkippedDueToUpstreamFailure,
]);

/**
 * The document of a run reopened for `resume`: Completed jobs stay Completed with their
 * outputs; a dynamic job whose own function completed keeps the jobs it returned and waits
 * for them again (`AwaitingDescendants`); Failed, Skipped, Running (interrupted, cancelled
 * or abandoned) and Pending jobs become Pending and run again, their attempts still
 * counted. The run is Running again.
 *
 * @example
 * ```ts
 * import { reopenRun } from "./reopen.ts";
 * const doc = reopenRun({
 *   pipeline_run_id: "ktpr0000abcd", pipeline_name: "p", status: "Failed",
 *   created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:01Z",
 *   jobs: { a: { name: "a", type: "static", memory: "1Gi", cpu: "500m", dependencies: [], tasks: [{ args: {} }], status: "Failed", attempts: 1, error: "boom" } },
 * }, new Date());
 * doc.jobs.a.status; // "Pending"
 * ```
 */
export function reopenRun(doc: Readonly<StateDocument>, now: Date): StateDocument {
  const jobs: Record<string, JobState> = {};
  for (const [name, job] of Object.entries(doc.jobs)) {
    if (RERUN.has(job.status)) {
      const { error: _e, finished_at: _f, failed_tasks: _t, task_counts: _c, ...rest } = job;
      jobs[name] = { ...rest, status: JobStatus.Pending };
    } else if (job.status === JobStatus.DescendantFailed) {
      jobs[name] = { ...job, status: JobStatus.AwaitingDescendants };
    } else {
      jobs[name] = { ...job };
    }
  }
  const { finished_at: _f, ...rest } = doc;
  return { ...rest, status: "Running", updated_at: now.toISOString(), jobs };
}

/** Why a run cannot be resumed, or null when it can. */
export function resumeRefusal(doc: Readonly<StateDocument>, alive: boolean): string | null {
  if (doc.status === "Completed") return `run ${doc.pipeline_run_id} already Completed`;
  if (doc.status === "Running" && alive) {
    return `run ${doc.pipeline_run_id} is still running (its launcher or controller is alive)`;
  }
  return null;
}

/**
 * The document of a cancelled run: every Running job fails with `cancelled: <reason>`
 * (replacing the `interrupted: ...` of a launcher that stopped on the request), and the
 * run is `Cancelled`. Pending jobs stay Pending: they never started.
 *
 * @example
 * ```ts
 * import { cancelRun } from "./reopen.ts";
 * const doc = cancelRun({
 *   pipeline_run_id: "ktpr0000abcd", pipeline_name: "p", status: "Running",
 *   created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:01Z",
 *   jobs: { a: { name: "a", type: "static", memory: "1Gi", cpu: "500m", dependencies: [], tasks: [{ args: {} }], status: "Running", attempts: 1 } },
 * }, "by kt-deno cancel", new Date());
 * doc.jobs.a.error; // "cancelled: by kt-deno cancel"
 * ```
 */
export function cancelRun(
  doc: Readonly<StateDocument>,
  reason: string,
  now: Date,
): StateDocument {
  const time = now.toISOString();
  const jobs: Record<string, JobState> = {};
  for (const [name, job] of Object.entries(doc.jobs)) {
    const stopped = job.status === JobStatus.Running ||
      (job.status === JobStatus.Failed && job.error?.startsWith("interrupted:"));
    jobs[name] = stopped
      ? {
        ...job,
        status: JobStatus.Failed,
        error: `cancelled: ${reason}`,
        finished_at: job.finished_at ?? time,
      }
      : { ...job };
  }
  return {
    ...doc,
    status: "Cancelled",
    updated_at: time,
    finished_at: doc.finished_at ?? time,
    jobs,
  };
}
