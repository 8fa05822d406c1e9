/**
 * The pipeline state machine: which jobs are ready, how completions and failures spread.
 * Pure: no I/O, no clock (callers pass the time), no executor. The local and Kubernetes
 * executors feed it events and carry out what it decides.
 *
 * Indexes (each job's dependents), a ready queue and counters (unfinished dependencies of
 * each Pending job, unfinished children of each job awaiting its descendants, jobs per
 * status) make one event cost in proportion to the edges of the jobs it changes, not to
 * the size of the run.
 *
 * @module
 */
import type { Job, Pipeline } from "../spec/schema.ts";
import { type JobState, JobStatus, type RunStatus, type StateDocument } from "./state.ts";

const UPSTREAM_FAILED: ReadonlySet<JobStatus> = new Set([
  JobStatus.Failed,
  JobStatus.SkippedDueToUpstreamFailure,
  JobStatus.DescendantFailed,
]);

/** True for a job with nothing to run: no tasks and no function. */
export function isNoop(job: Job): boolean {
  return job.type === "static" ? (job.tasks ?? []).length === 0 : job.function === undefined;
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
  /** Every job, in registration order, with its position in that order. */
  readonly #jobs = new Map<string, JobState>();
  readonly #position = new Map<string, number>();
  /** For each job, the jobs that name it in their dependencies. */
  readonly #dependents = new Map<string, string[]>();
  /** For each Pending job, how many of its dependencies are not Completed yet. */
  readonly #waiting = new Map<string, number>();
  /** For each job awaiting its descendants, how many of them are not Completed yet. */
  readonly #awaiting = new Map<string, number>();
  readonly #ready = new Set<string>();
  readonly #running = new Set<string>();
  readonly #count = new Map<JobStatus, number>(
    Object.values(JobStatus).map((status) => [status, 0]),
  );
  /** Names of the jobs whose status changed, in the order they changed. */
  readonly #changes: string[] = [];

  private constructor(doc: StateDocument) {
    this.#doc = doc;
    const jobs = Object.values(doc.jobs);
    for (const job of jobs) this.#add(job);
    this.#link(jobs);
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
    run.#finishIfDone(now);
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

  /** Every job's state, in registration order. Costs the size of the run. */
  jobs(): Readonly<JobState>[] {
    return [...this.#jobs.values()];
  }

  /** Names of the Pending jobs whose dependencies are all Completed. */
  ready(): string[] {
    return [...this.#ready];
  }

  /** Jobs that are Running (submitted and not yet finished). */
  running(): Readonly<JobState>[] {
    return [...this.#running].map((name) => this.#jobs.get(name)!);
  }

  /** How many status changes the run has seen; a mark for {@linkcode changedSince}. */
  get version(): number {
    return this.#changes.length;
  }

  /**
   * The jobs whose status changed after `version` (a value of {@linkcode version}), each
   * once, in registration order. Costs the number of changes, not the size of the run.
   */
  changedSince(version: number): Readonly<JobState>[] {
    const names = new Set(this.#changes.slice(version));
    return [...names].sort((a, b) => this.#position.get(a)! - this.#position.get(b)!)
      .map((name) => this.#jobs.get(name)!);
  }

  /**
   * Moves every ready job to Running and returns them, for the executor to submit.
   * Jobs with nothing to run complete at once instead, which can make more jobs ready.
   */
  advance(now: Date): Readonly<JobState>[] {
    const submitted: JobState[] = [];
    // A Set's iteration also visits the names added while it runs (jobs made ready by a no-op).
    for (const name of this.#ready) {
      const job = this.#jobs.get(name)!;
      this.#mark(job, JobStatus.Running, now);
      job.attempts += 1;
      job.submitted_at = now.toISOString();
      if (isNoop(job)) this.succeed(name, [], now);
      else submitted.push(job);
    }
    return submitted;
  }

  /**
   * A Running job finished well. A dynamic job passes the jobs it returned (already
   * validated); they become its descendants. A returned job whose name is already in the
   * run, or that depends on a job not in it, fails the dynamic job instead (this check is
   * where jobs are registered, so two dynamic jobs returning the same name at once cannot
   * both register it). Returns false only when the job was not Running.
   */
  succeed(name: string, descendants: Job[], now: Date, taskRetries = 0): boolean {
    const job = this.#jobs.get(name);
    if (job?.status !== JobStatus.Running) return false;
    if (job.type === "dynamic") {
      const refusal = this.#refusal(descendants);
      if (refusal) return this.fail(name, refusal, now, taskRetries);
    }
    if (taskRetries) job.task_retries = taskRetries;
    job.finished_at = now.toISOString();
    if (job.type !== "dynamic" || descendants.length === 0) {
      if (job.type === "dynamic") job.direct_descendants = [];
      this.#mark(job, JobStatus.Completed, now);
      this.#spread([job], now);
      return true;
    }
    job.direct_descendants = descendants.map((d) => d.name);
    const skipped = this.#register(descendants, name);
    this.#mark(job, JobStatus.AwaitingDescendants, now);
    this.#awaiting.set(name, descendants.length);
    for (const child of skipped) this.#mark(child, JobStatus.SkippedDueToUpstreamFailure, now);
    this.#spread(skipped, now);
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
    this.#spread([job], now);
    return true;
  }

  /** The run was stopped: every Running job fails as interrupted, and the run says so. */
  interrupt(reason: string, now: Date): void {
    for (const name of [...this.#running]) this.fail(name, `interrupted: ${reason}`, now);
    this.#doc.status = "Interrupted";
    this.#doc.finished_at ??= now.toISOString();
  }

  /** True when no job is Pending or Running. */
  get done(): boolean {
    return this.#count.get(JobStatus.Pending)! + this.#count.get(JobStatus.Running)! === 0;
  }

  /** Running until done; then Completed when every job is, else Failed. */
  get status(): RunStatus {
    return this.#doc.status;
  }

  /** Why a dynamic job's returned jobs cannot be registered, or undefined. */
  #refusal(descendants: Job[]): string | undefined {
    const names = new Set<string>();
    for (const { name } of descendants) {
      if (this.#jobs.has(name)) {
        return `Duplicate job name ${
          JSON.stringify(name)
        }: a job of that name is already in the run`;
      }
      if (names.has(name)) {
        return `Duplicate job name ${JSON.stringify(name)} among the jobs it returned`;
      }
      names.add(name);
    }
    for (const { name, dependencies } of descendants) {
      const unknown = dependencies.find((dep) => !this.#jobs.has(dep) && !names.has(dep));
      if (unknown !== undefined) {
        return `job ${JSON.stringify(name)} depends on unknown job ${JSON.stringify(unknown)}`;
      }
    }
  }

  /** Adds new jobs, Pending; returns those with a dependency that already failed. */
  #register(jobs: Job[], parent: string | undefined): JobState[] {
    const added = jobs.map((spec) => {
      const job: JobState = {
        ...spec,
        status: JobStatus.Pending,
        ...(parent === undefined ? {} : { parent_job: parent }),
        attempts: 0,
      };
      this.#doc.jobs[job.name] = job;
      this.#add(job);
      return job;
    });
    this.#link(added);
    return added.filter((job) =>
      job.dependencies.some((dep) => UPSTREAM_FAILED.has(this.#jobs.get(dep)!.status))
    );
  }

  #add(job: JobState): void {
    this.#position.set(job.name, this.#jobs.size);
    this.#jobs.set(job.name, job);
    this.#count.set(job.status, this.#count.get(job.status)! + 1);
    if (job.status === JobStatus.Running) this.#running.add(job.name);
  }

  /** Indexes the edges of jobs just added (after the whole batch, which may refer to itself). */
  #link(jobs: JobState[]): void {
    const completed = (name: string) => this.#jobs.get(name)?.status === JobStatus.Completed;
    for (const job of jobs) {
      for (const dep of job.dependencies) {
        const dependents = this.#dependents.get(dep);
        if (dependents) dependents.push(job.name);
        else this.#dependents.set(dep, [job.name]);
      }
      if (job.status === JobStatus.Pending) {
        const waiting = job.dependencies.filter((dep) => !completed(dep)).length;
        this.#waiting.set(job.name, waiting);
        if (waiting === 0) this.#ready.add(job.name);
      } else if (job.status === JobStatus.AwaitingDescendants) {
        const children = job.direct_descendants ?? [];
        this.#awaiting.set(job.name, children.filter((child) => !completed(child)).length);
      }
    }
  }

  #mark(job: JobState, status: JobStatus, now: Date): void {
    const old = job.status;
    this.#count.set(old, this.#count.get(old)! - 1);
    this.#count.set(status, this.#count.get(status)! + 1);
    if (old === JobStatus.Pending) {
      this.#ready.delete(job.name);
      this.#waiting.delete(job.name);
    } else if (old === JobStatus.Running) this.#running.delete(job.name);
    else if (old === JobStatus.AwaitingDescendants) this.#awaiting.delete(job.name);
    if (status === JobStatus.Running) this.#running.add(job.name);
    job.status = status;
    this.#changes.push(job.name);
    this.#doc.updated_at = now.toISOString();
  }

  /**
   * Spreads the outcome of jobs that just finished (Completed, or one of the failed
   * statuses) to their dependents and parents, then updates the run status.
   */
  #spread(finished: JobState[], now: Date): void {
    const queue = [...finished];
    for (let i = 0; i < queue.length; i++) {
      const job = queue[i];
      const ok = job.status === JobStatus.Completed;
      for (const name of this.#dependents.get(job.name) ?? []) {
        const dependent = this.#jobs.get(name)!;
        if (dependent.status !== JobStatus.Pending) continue;
        if (!ok) {
          this.#mark(dependent, JobStatus.SkippedDueToUpstreamFailure, now);
          queue.push(dependent);
          continue;
        }
        const waiting = this.#waiting.get(name)! - 1;
        this.#waiting.set(name, waiting);
        if (waiting === 0) this.#ready.add(name);
      }
      const parent = job.parent_job === undefined ? undefined : this.#jobs.get(job.parent_job);
      if (parent?.status !== JobStatus.AwaitingDescendants) continue;
      const left = this.#awaiting.get(parent.name)! - 1;
      this.#awaiting.set(parent.name, left);
      if (!ok || left === 0) {
        this.#mark(parent, ok ? JobStatus.Completed : JobStatus.DescendantFailed, now);
        queue.push(parent);
      }
    }
    this.#finishIfDone(now);
  }

  #finishIfDone(now: Date): void {
    if (this.#doc.status !== "Running" || !this.done) return;
    const ok = this.#count.get(JobStatus.Completed) === this.#jobs.size;
    this.#doc.status = ok ? "Completed" : "Failed";
    this.#doc.finished_at = now.toISOString();
  }
}
