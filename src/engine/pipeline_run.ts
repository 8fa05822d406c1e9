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
import { PackedTasks } from "../spec/packed_tasks.ts";
import { withKtFields } from "./kt_fields.ts";
import {
  type FailedTaskCounts,
  type JobState,
  JobStatus,
  type RunStatus,
  type StateDocument,
} from "./state.ts";

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
 * A copy of a state document that the engine can change without touching the original:
 * the run's and each job's own fields. What lies deeper (tasks, args, dependency lists)
 * the engine never changes, so it is shared, packed task lists included.
 */
function copyOf(doc: StateDocument): StateDocument {
  const jobs: Record<string, JobState> = {};
  for (const [name, job] of Object.entries(doc.jobs)) jobs[name] = { ...job };
  return { ...doc, jobs };
}

/** Choices about how a run keeps its jobs. */
export interface RunOptions {
  /**
   * Task lists of at least this many tasks are kept packed (as JSON text, see
   * {@linkcode PackedTasks}) rather than as objects: what a controller that must stay
   * small does. Default: none are.
   */
  packTasksFrom?: number;
  /**
   * `resume` takes the document given as its own instead of copying it: for a caller that
   * has just parsed it and keeps no other reference.
   */
  adopt?: boolean;
}

/** A job with its place in the run's indexes. */
interface Node {
  job: JobState;
  /** Place in registration order. */
  position: number;
  /** The jobs that name this one in their dependencies. */
  dependents: Node[];
  parent?: Node;
  /** While Pending: dependencies not Completed yet. */
  waiting: number;
  /** While AwaitingDescendants: direct descendants not Completed yet. */
  awaiting: number;
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
  /** Every job, in registration order. */
  readonly #nodes = new Map<string, Node>();
  readonly #ready = new Set<Node>();
  readonly #running = new Set<Node>();
  readonly #count: Record<JobStatus, number> = {
    Pending: 0,
    Running: 0,
    AwaitingDescendants: 0,
    Completed: 0,
    Failed: 0,
    SkippedDueToUpstreamFailure: 0,
    DescendantFailed: 0,
  };
  /** The jobs whose status changed, in the order they changed. */
  readonly #changes: Node[] = [];
  /** The last time given, as a string: the same instant is not formatted again. */
  #clock = { ms: NaN, iso: "" };

  readonly #packFrom: number;

  private constructor(doc: StateDocument, options: RunOptions) {
    this.#doc = doc;
    this.#packFrom = options.packTasksFrom ?? Infinity;
    this.#link(Object.values(doc.jobs).map((job) => this.#add(job)));
  }

  /** A new run of a validated pipeline: every job Pending. */
  static start(
    runId: string,
    pipeline: Pipeline,
    now: Date,
    ktVersion?: string,
    options: RunOptions = {},
  ): PipelineRun {
    const time = now.toISOString();
    const run = new PipelineRun({
      pipeline_run_id: runId,
      pipeline_name: pipeline.name,
      status: "Running",
      created_at: time,
      updated_at: time,
      ...(ktVersion ? { kt_version: ktVersion } : {}),
      jobs: {},
    }, options);
    run.#register(pipeline.jobs, undefined);
    run.#finishIfDone(now);
    return run;
  }

  /** A run resumed from its state document (after a controller restart). */
  static resume(doc: StateDocument, options: RunOptions = {}): PipelineRun {
    return new PipelineRun(options.adopt ? doc : copyOf(doc), options);
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
    return this.#nodes.get(name)?.job;
  }

  /** Every job's state, in registration order. Costs the size of the run. */
  jobs(): Readonly<JobState>[] {
    return Array.from(this.#nodes.values(), (node) => node.job);
  }

  /** Names of the Pending jobs whose dependencies are all Completed. */
  ready(): string[] {
    return Array.from(this.#ready, (node) => node.job.name);
  }

  /** Jobs that are Running (submitted and not yet finished). */
  running(): Readonly<JobState>[] {
    return Array.from(this.#running, (node) => node.job);
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
    return [...new Set(this.#changes.slice(version))]
      .sort((a, b) => a.position - b.position)
      .map((node) => node.job);
  }

  /**
   * Moves every ready job to Running and returns them, for the executor to submit.
   * Jobs with nothing to run complete at once instead, which can make more jobs ready.
   */
  advance(now: Date): Readonly<JobState>[] {
    const submitted: JobState[] = [];
    // A Set's iteration also visits what is added while it runs (jobs made ready by a no-op).
    for (const node of this.#ready) {
      const job = node.job;
      this.#mark(node, JobStatus.Running, now);
      job.attempts += 1;
      job.submitted_at = this.#time(now);
      if (isNoop(job)) this.succeed(job.name, [], now);
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
    const node = this.#nodes.get(name);
    if (node?.job.status !== JobStatus.Running) return false;
    const job = node.job;
    if (job.type === "dynamic") {
      const refusal = this.#refusal(descendants);
      if (refusal) return this.fail(name, refusal, now, taskRetries);
    }
    if (taskRetries) job.task_retries = taskRetries;
    job.finished_at = this.#time(now);
    if (job.type !== "dynamic" || descendants.length === 0) {
      if (job.type === "dynamic") job.direct_descendants = [];
      this.#mark(node, JobStatus.Completed, now);
      this.#spread([node], now);
      return true;
    }
    job.direct_descendants = descendants.map((d) => d.name);
    const skipped = this.#register(descendants, name);
    this.#mark(node, JobStatus.AwaitingDescendants, now);
    node.awaiting = descendants.length;
    for (const child of skipped) this.#mark(child, JobStatus.SkippedDueToUpstreamFailure, now);
    this.#spread(skipped, now);
    return true;
  }

  /** A Running job failed. */
  fail(
    name: string,
    error: string,
    now: Date,
    taskRetries = 0,
    failedTasks: number[] = [],
    taskCounts?: FailedTaskCounts,
  ): boolean {
    const node = this.#nodes.get(name);
    if (node?.job.status !== JobStatus.Running) return false;
    if (taskRetries) node.job.task_retries = taskRetries;
    node.job.error = error;
    if (failedTasks.length) node.job.failed_tasks = failedTasks;
    if (taskCounts) node.job.task_counts = { ...taskCounts };
    node.job.finished_at = this.#time(now);
    this.#mark(node, JobStatus.Failed, now);
    this.#spread([node], now);
    return true;
  }

  /**
   * The run was stopped: every Running job fails as interrupted (or cancelled, for a run
   * stopped by `kt-deno cancel`), and the run says so, in the same word.
   */
  interrupt(reason: string, now: Date, cancelled = false): void {
    const word = cancelled ? "cancelled" : "interrupted";
    for (const node of [...this.#running]) this.fail(node.job.name, `${word}: ${reason}`, now);
    this.#doc.status = cancelled ? "Cancelled" : "Interrupted";
    this.#doc.finished_at ??= this.#time(now);
  }

  /**
   * The run cannot go on (its data dir failed for good): every Running job fails with the
   * reason, and the run is Failed and says why.
   */
  abandon(reason: string, now: Date): void {
    for (const node of [...this.#running]) this.fail(node.job.name, reason, now);
    this.#doc.status = "Failed";
    this.#doc.error = reason;
    this.#doc.finished_at ??= this.#time(now);
  }

  /** True when no job is Pending or Running. */
  get done(): boolean {
    return this.#count.Pending + this.#count.Running === 0;
  }

  /** Running until done; then Completed when every job is, else Failed. */
  get status(): RunStatus {
    return this.#doc.status;
  }

  /** Why a dynamic job's returned jobs cannot be registered, or undefined. */
  #refusal(descendants: Job[]): string | undefined {
    const names = new Set<string>();
    for (const { name } of descendants) {
      if (this.#nodes.has(name)) {
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
      const unknown = dependencies.find((dep) => !this.#nodes.has(dep) && !names.has(dep));
      if (unknown !== undefined) {
        return `job ${JSON.stringify(name)} depends on unknown job ${JSON.stringify(unknown)}`;
      }
    }
  }

  /** Adds new jobs, Pending; returns those with a dependency that already failed. */
  #register(jobs: Job[], parent: string | undefined): Node[] {
    const added = jobs.map((spec) => {
      const fields = withKtFields(spec);
      const job: JobState = parent === undefined
        ? { ...fields, status: JobStatus.Pending, attempts: 0 }
        : { ...fields, status: JobStatus.Pending, parent_job: parent, attempts: 0 };
      this.#doc.jobs[job.name] = job;
      return this.#add(job);
    });
    return this.#link(added);
  }

  #add(job: JobState): Node {
    if (Array.isArray(job.tasks) && job.tasks.length >= this.#packFrom) {
      job.tasks = PackedTasks.of(job.tasks);
    }
    const node: Node = { job, position: this.#nodes.size, dependents: [], waiting: 0, awaiting: 0 };
    this.#nodes.set(job.name, node);
    this.#count[job.status]++;
    if (job.status === JobStatus.Running) this.#running.add(node);
    return node;
  }

  /**
   * Indexes the edges of jobs just added (after the whole batch, which may refer to
   * itself); returns the Pending ones with a dependency that already failed.
   */
  #link(nodes: Node[]): Node[] {
    const blocked: Node[] = [];
    for (const node of nodes) {
      const job = node.job;
      let failed = false;
      for (const dep of job.dependencies) {
        const other = this.#nodes.get(dep);
        other?.dependents.push(node);
        if (other?.job.status !== JobStatus.Completed) node.waiting++;
        if (other && UPSTREAM_FAILED.has(other.job.status)) failed = true;
      }
      if (failed && job.status === JobStatus.Pending) blocked.push(node);
      if (job.parent_job !== undefined) node.parent = this.#nodes.get(job.parent_job);
      if (job.status === JobStatus.Pending && node.waiting === 0) this.#ready.add(node);
      if (job.status === JobStatus.AwaitingDescendants) {
        node.awaiting = (job.direct_descendants ?? []).filter((child) =>
          this.#nodes.get(child)?.job.status !== JobStatus.Completed
        ).length;
      }
    }
    return blocked;
  }

  #mark(node: Node, status: JobStatus, now: Date): void {
    const old = node.job.status;
    this.#count[old]--;
    this.#count[status]++;
    if (old === JobStatus.Pending) this.#ready.delete(node);
    else if (old === JobStatus.Running) this.#running.delete(node);
    if (status === JobStatus.Running) this.#running.add(node);
    node.job.status = status;
    this.#changes.push(node);
    this.#doc.updated_at = this.#time(now);
  }

  /**
   * Spreads the outcome of jobs that just finished (Completed, or one of the failed
   * statuses) to their dependents and parents, then updates the run status. The queue
   * starts with those jobs and grows with the ones they finish in turn.
   */
  #spread(queue: Node[], now: Date): void {
    for (let i = 0; i < queue.length; i++) {
      const node = queue[i];
      const ok = node.job.status === JobStatus.Completed;
      for (const dependent of node.dependents) {
        if (dependent.job.status !== JobStatus.Pending) continue;
        if (!ok) {
          this.#mark(dependent, JobStatus.SkippedDueToUpstreamFailure, now);
          queue.push(dependent);
        } else if (--dependent.waiting === 0) this.#ready.add(dependent);
      }
      const parent = node.parent;
      if (parent?.job.status !== JobStatus.AwaitingDescendants) continue;
      if (!ok || --parent.awaiting === 0) {
        this.#mark(parent, ok ? JobStatus.Completed : JobStatus.DescendantFailed, now);
        queue.push(parent);
      }
    }
    this.#finishIfDone(now);
  }

  #time(now: Date): string {
    const ms = now.getTime();
    if (ms !== this.#clock.ms) this.#clock = { ms, iso: now.toISOString() };
    return this.#clock.iso;
  }

  #finishIfDone(now: Date): void {
    if (this.#doc.status !== "Running" || !this.done) return;
    this.#doc.status = this.#count.Completed === this.#nodes.size ? "Completed" : "Failed";
    this.#doc.finished_at = this.#time(now);
  }
}
