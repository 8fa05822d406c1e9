/**
 * The pipeline state machine: which jobs are ready, how completions and failures spread.
 * Pure: no I/O, no clock (callers pass the time), no executor. The local and Kubernetes
 * executors feed it events and carry out what it decides.
 *
 * @module
 */
import type { Job, Pipeline } from "../spec/schema.ts";
import { withKtFields } from "./kt_fields.ts";
import { type JobState, JobStatus, type RunStatus, type StateDocument } from "./state.ts";

const UPSTREAM_FAILED: ReadonlySet<JobStatus> = new Set([
  JobStatus.Failed,
  JobStatus.SkippedDueToUpstreamFailure,
  JobStatus.DescendantFailed,
]);

/** True for a job with nothing to run: no tasks and no function. */
export function isNoop(job: Job): boolean {
  return job.type === "static" ? (job.tasks ?? []).length === 0 : job.function == null;
}

/**
 * One pipeline run's state. Every event method is idempotent: an event for a job that is
 * not in the state it expects (a completion seen twice, say) changes nothing and returns
 * false.
 *
 * @example
 * ```ts
 * import { PipelineRun } from "./pipeline_run.ts";
 * const now = new Date();
 * const run = PipelineRun.start("ktpr0000abcd", {
 *   name: "p",
 *   jobs: [{ name: "a", type: "static", memory: "1Gi", cpu: "500m", dependencies: [], tasks: [{ args: {} }] }],
 * }, now);
 * const [job] = run.advance(now); // job a is now Running
 * run.succeed(job.name, [], now);
 * run.done; // true
 * ```
 */
export class PipelineRun {
  readonly #doc: StateDocument;
  readonly #jobs: Map<string, JobState>;

  private constructor(doc: StateDocument) {
    this.#doc = doc;
    this.#jobs = new Map(Object.entries(doc.jobs));
  }

  /** A new run of a validated pipeline: every job Pending. */
  static start(runId: string, pipeline: Pipeline, now: Date, ktVersion?: string): PipelineRun {
    const time = now.toISOString();
    const run = new PipelineRun({
      pipeline_run_id: runId,
      pipeline_name: pipeline.name,
      status: "Running",
      created_at: time,
      updated_at: time,
      ...(ktVersion ? { kt_version: ktVersion } : {}),
      jobs: {},
    });
    run.#register(pipeline.jobs, undefined);
    run.#settle(now);
    return run;
  }

  /** A run resumed from its state document (after a controller restart). */
  static resume(doc: StateDocument): PipelineRun {
    return new PipelineRun(structuredClone(doc));
  }

  /** The state document. Callers must not change it. */
  get document(): Readonly<StateDocument> {
    return this.#doc;
  }

  get runId(): string {
    return this.#doc.pipeline_run_id;
  }

  /** A job's state, or undefined for a name not in the run. */
  job(name: string): Readonly<JobState> | undefined {
    return this.#jobs.get(name);
  }

  /** Every job's state, in registration order. */
  jobs(): Readonly<JobState>[] {
    return [...this.#jobs.values()];
  }

  /** Names of the Pending jobs whose dependencies are all Completed. */
  ready(): string[] {
    return this.jobs().filter((job) =>
      job.status === JobStatus.Pending &&
      job.dependencies.every((dep) => this.#jobs.get(dep)?.status === JobStatus.Completed)
    ).map((job) => job.name);
  }

  /** Jobs that are Running (submitted and not yet finished). */
  running(): Readonly<JobState>[] {
    return this.jobs().filter((job) => job.status === JobStatus.Running);
  }

  /**
   * Moves every ready job to Running and returns them, for the executor to submit.
   * Jobs with nothing to run complete at once instead, which can make more jobs ready.
   */
  advance(now: Date): Readonly<JobState>[] {
    const submitted: JobState[] = [];
    for (let names = this.ready(); names.length > 0; names = this.ready()) {
      for (const name of names) {
        const job = this.#jobs.get(name)!;
        this.#mark(job, JobStatus.Running, now);
        job.attempts += 1;
        job.submitted_at = now.toISOString();
        if (isNoop(job)) this.succeed(name, [], now);
        else submitted.push(job);
      }
    }
    return submitted;
  }

  /**
   * A Running job finished well. A dynamic job passes the jobs it returned (already
   * validated); they become its descendants.
   */
  succeed(name: string, descendants: Job[], now: Date, taskRetries = 0): boolean {
    const job = this.#jobs.get(name);
    if (job?.status !== JobStatus.Running) return false;
    if (taskRetries) job.task_retries = taskRetries;
    job.finished_at = now.toISOString();
    if (job.type === "dynamic") {
      job.direct_descendants = descendants.map((d) => d.name);
      this.#register(descendants, name);
    }
    this.#mark(job, JobStatus.AwaitingDescendants, now);
    this.#settle(now);
    return true;
  }

  /** A Running job failed. */
  fail(name: string, error: string, now: Date, taskRetries = 0): boolean {
    const job = this.#jobs.get(name);
    if (job?.status !== JobStatus.Running) return false;
    if (taskRetries) job.task_retries = taskRetries;
    job.error = error;
    job.finished_at = now.toISOString();
    this.#mark(job, JobStatus.Failed, now);
    this.#settle(now);
    return true;
  }

  /** The run was stopped: every Running job fails as interrupted, and the run says so. */
  interrupt(reason: string, now: Date): void {
    for (const job of this.running()) this.fail(job.name, `interrupted: ${reason}`, now);
    this.#doc.status = "Interrupted";
    this.#doc.finished_at ??= now.toISOString();
  }

  /** True when no job is Pending or Running. */
  get done(): boolean {
    return this.jobs().every((job) =>
      job.status !== JobStatus.Pending && job.status !== JobStatus.Running
    );
  }

  /** Running until done; then Completed when every job is, else Failed. */
  get status(): RunStatus {
    return this.#doc.status;
  }

  #register(jobs: Job[], parent: string | undefined): void {
    for (const spec of jobs) {
      this.#jobs.set(spec.name, {
        ...withKtFields(spec),
        status: JobStatus.Pending,
        ...(parent === undefined ? {} : { parent_job: parent }),
        attempts: 0,
      });
    }
    this.#doc.jobs = Object.fromEntries(this.#jobs);
  }

  #mark(job: JobState, status: JobStatus, now: Date): void {
    job.status = status;
    this.#doc.updated_at = now.toISOString();
  }

  /** Spreads completions and failures until nothing changes, then updates the run status. */
  #settle(now: Date): void {
    for (let changed = true; changed;) {
      changed = false;
      for (const job of this.#jobs.values()) {
        if (
          job.status === JobStatus.Pending &&
          job.dependencies.some((dep) => UPSTREAM_FAILED.has(this.#jobs.get(dep)!.status))
        ) {
          this.#mark(job, JobStatus.SkippedDueToUpstreamFailure, now);
          changed = true;
        }
        const parent = job.parent_job === undefined ? undefined : this.#jobs.get(job.parent_job);
        if (
          parent && UPSTREAM_FAILED.has(job.status) &&
          parent.status === JobStatus.AwaitingDescendants
        ) {
          this.#mark(parent, JobStatus.DescendantFailed, now);
          changed = true;
        }
        if (
          job.status === JobStatus.AwaitingDescendants &&
          (job.direct_descendants ?? []).every((d) =>
            this.#jobs.get(d)!.status === JobStatus.Completed
          )
        ) {
          this.#mark(job, JobStatus.Completed, now);
          changed = true;
        }
      }
    }
    if (this.#doc.status === "Running" && this.done) {
      const ok = this.jobs().every((job) => job.status === JobStatus.Completed);
      this.#doc.status = ok ? "Completed" : "Failed";
      this.#doc.finished_at = now.toISOString();
    }
  }
}
