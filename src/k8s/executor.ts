/**
 * The Kubernetes executor: one Indexed Job per kt job, created by the controller, and
 * learnt of through an {@linkcode Informer} on the run's Jobs. Creating is idempotent: a
 * Job that already exists is adopted, so a restarted controller creates no duplicates.
 * Job creations run a few at a time; transient API errors are retried by the client, and
 * a job fails only on a permanent answer, with the API's message.
 *
 * @module
 */
import type { JobState } from "../engine/state.ts";
import {
  type Executor,
  type ExecutorEvents,
  failureSummary,
  type JobOutcome,
} from "../executors/executor.ts";
import { Slots } from "../async/slots.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { ApiError, isTransient, type KubeClient } from "./client.ts";
import { Informer } from "./informer.ts";
import {
  finishedCondition,
  jobStatusOnly,
  type KubeJob,
  parseIndexes,
  ReadyPods,
} from "./job_status.ts";
import { ktJob, type Owner, type RunSettings, taskProgress } from "./manifests.ts";
import { podTasks, taskCount, tasksPerPod } from "../spec/pod_count.ts";
import { readDoneBlock } from "../records/task_done.ts";
import { jobObjectName, LABELS } from "./names.ts";
import { taskError } from "./pod_problems.ts";
import { taskPodEnd, watchPodStarts } from "./pod_watch.ts";
import { layOutTasks, taskDefinitions } from "../records/task_files.ts";
import { taskErrorPath } from "../records/layout.ts";
import type { Miss, TaskCache } from "../executors/task_cache.ts";
import { IMAGE_FUNCTIONS_DIR } from "../task/pod_env.ts";
import { resolveFunctionsDir } from "../task/functions.ts";
import type { TaskRequest } from "../task/request.ts";

/** Settings of a {@linkcode KubernetesExecutor}. */
export interface KubernetesExecutorOptions {
  kube: KubeClient;
  settings: RunSettings;
  fs: DataFs;
  /** The controller Job, owner of every Job made, so deleting it removes them all. */
  owner?: Owner;
  events?: ExecutorEvents;
  /** Receives the watch's log lines. */
  log?: (line: string) => void;
  /** Most Jobs being created (task files and the Job) at once. Default 8. */
  creating?: number;
}

/** A job whose Job is being waited for. */
interface Waiter {
  job: Readonly<JobState>;
  done: (o: JobOutcome) => void;
  /** The tasks of the Job's completion indexes, when it runs only those the cache did not answer. */
  indexes?: number[];
}

/** Most task files of one job written at once. */
const FILE_WRITES = 8;

/**
 * Runs kt jobs as Kubernetes Jobs.
 *
 * @example
 * ```ts ignore
 * const executor = new KubernetesExecutor({ kube, settings, fs, owner });
 * await executor.start();
 * const outcome = await executor.run(job);
 * ```
 */
export class KubernetesExecutor implements Executor {
  readonly #waiting = new Map<string, Waiter>();
  #cache?: Promise<TaskCache>;
  readonly #jobs: Informer<KubeJob>;
  readonly #creating: Slots;
  #stopped = false;
  readonly #stopPods = new AbortController();
  #watchingPods?: Promise<void>;
  /** Why a Job's pods cannot start, by Job name. */
  readonly #startProblems = new Map<string, string>();
  /** The run's running pods: while there are some, a pod that waits for room is queued. */
  readonly #ready = new ReadyPods();

  constructor(readonly options: KubernetesExecutorOptions) {
    const { settings, kube } = options;
    this.#creating = new Slots(options.creating ?? 8);
    this.#jobs = new Informer<KubeJob>({
      kube,
      path: `/apis/batch/v1/namespaces/${settings.namespace}/jobs`,
      labelSelector: `${LABELS.runId}=${settings.runId},${LABELS.component}=job`,
      transform: jobStatusOnly,
      onChange: (name, job) => {
        this.#ready.update(name, job);
        void this.#check(name, job === undefined);
      },
      log: options.log,
    });
  }

  /** Lists the run's Jobs that exist already and starts watching them. */
  async start(): Promise<void> {
    await this.#jobs.start();
    const { runId, namespace } = this.options.settings;
    this.#watchingPods = watchPodStarts(this.options.kube, {
      namespace,
      selector: `${LABELS.runId}=${runId},${LABELS.component}=job`,
      signal: this.#stopPods.signal,
      log: this.options.log,
      busy: () => this.#ready.total > 0,
      onProblem: (pod, problem) => {
        const job = pod.metadata.labels?.[LABELS.job];
        if (job === undefined) return;
        const name = jobObjectName(runId, job);
        if (!this.#startProblems.has(name)) this.#startProblems.set(name, problem);
        void this.#check(name);
      },
    });
  }

  /** The Jobs of this run that exist, by kt job name (for restart checks and tests). */
  existing(): Map<string, KubeJob> {
    return new Map(
      [...this.#jobs.values()].map((job) => [job.metadata.labels?.[LABELS.job] ?? "", job]),
    );
  }

  /** How watches of the run's Jobs ended, by reason (for tests). */
  get watchesEnded(): Record<string, number> {
    return this.#jobs.ended;
  }

  async #check(name: string, deleted = false): Promise<void> {
    const waiter = this.#waiting.get(name);
    if (!waiter) return;
    const object = this.#jobs.get(name);
    if (!object) {
      if (!deleted) return;
      this.#waiting.delete(name);
      waiter.done({
        ok: false,
        error: `Job ${name} was deleted before it finished`,
        taskRetries: 0,
      });
      return;
    }
    const status = object.status ?? {};
    const failedIndexes = parseIndexes(status.failedIndexes);
    const progress = taskProgress(waiter.job, status, failedIndexes.length);
    if (waiter.indexes) progress.succeeded += progress.total - waiter.indexes.length;
    this.options.events?.progress?.(progress);
    const condition = finishedCondition(object);
    const startProblem = this.#startProblems.get(name);
    if (!condition && startProblem) {
      // The Job stays as it is, for inspection; the kt job fails now.
      this.#waiting.delete(name);
      waiter.done({ ok: false, error: startProblem, taskRetries: 0 });
      return;
    }
    if (!condition) return;
    this.#waiting.delete(name);
    const failedPods = status.failed ?? 0;
    if (condition.type === "Complete") {
      waiter.done({ ok: true, taskRetries: failedPods });
      return;
    }
    waiter.done({
      ok: false,
      taskRetries: Math.max(0, failedPods - failedIndexes.length),
      ...await this.#failure(waiter, condition, failedIndexes),
    });
  }

  async #failure(
    { job, indexes }: Waiter,
    condition: { reason?: string; message?: string },
    failedIndexes: number[],
  ): Promise<Pick<JobOutcome, "error" | "failedTasks" | "taskCounts">> {
    if (condition.reason === "DeadlineExceeded") {
      return { error: `job timed out after ${job.timeout}s` };
    }
    const total = taskCount(job);
    const { runId, namespace } = this.options.settings;
    // A packed pod's failed tasks are those of its range without a done record; a one-task
    // pod's is its index's (of `indexes` when the Job runs only some of the job's tasks).
    const failedTasks = tasksPerPod(job) === 1
      ? failedIndexes.map((pod) => ({ index: indexes?.[pod] ?? pod, pod }))
      : await this.#failedTasks(job, failedIndexes);
    const reasons = await Promise.all(
      failedTasks.slice(0, 3).map(async ({ index, pod }) => {
        const [said, end] = await Promise.all([
          this.options.fs.read(taskErrorPath(runId, job.name, index)).catch(() => null),
          taskPodEnd(this.options.kube, namespace, jobObjectName(runId, job.name), pod),
        ]);
        return {
          index,
          error: taskError(said, end) ??
            `${condition.reason ?? "failed"}: ${condition.message ?? ""}`.trim(),
        };
      }),
    );
    if (reasons.length === 0) {
      return { error: `Job failed: ${condition.reason ?? ""} ${condition.message ?? ""}`.trim() };
    }
    return failureSummary(total, failedTasks.length, reasons);
  }

  /** The tasks of a packed job's failed pods that have no done record, with their pod. */
  async #failedTasks(job: Readonly<JobState>, failedPods: number[]) {
    const { runId } = this.options.settings;
    const perPod = tasksPerPod(job);
    const found = await Promise.all(failedPods.map(async (pod) => {
      const [from, to] = podTasks(pod, perPod, taskCount(job));
      const done = new Set(await readDoneBlock(this.options.fs, runId, job.name, from));
      return Array.from({ length: to - from }, (_, i) => from + i)
        .filter((index) => !done.has(index))
        .map((index) => ({ index, pod }));
    }));
    return found.flat();
  }

  async run(job: Readonly<JobState>): Promise<JobOutcome> {
    if (this.#stopped) return await new Promise<never>(() => {});
    const name = jobObjectName(this.options.settings.runId, job.name);
    // With the cache, the tasks whose entries hold are answered here, before any Job; a
    // Job made by an earlier controller of the run is adopted with the decisions it kept.
    const caching = job.cache ?? this.options.settings.cache;
    const cached = !caching
      ? undefined
      : this.#jobs.get(name)
      ? await this.#adopt(job)
      : await this.#split(job);
    if (cached?.misses.length === 0) {
      const total = taskCount(job);
      this.options.events?.progress?.({
        job: job.name,
        total,
        succeeded: total,
        running: 0,
        failed: 0,
      });
      await cached.cache.flush(job.name);
      return { ok: true, taskRetries: 0 };
    }
    const waiter: Waiter = { job, done: () => {}, indexes: cached?.indexes };
    const outcome = new Promise<JobOutcome>((done) => {
      waiter.done = done;
      this.#waiting.set(name, waiter);
    });
    if (!this.#jobs.get(name)) {
      const release = await this.#creating.acquire();
      try {
        if (!this.#jobs.get(name)) {
          // The decisions go first: a controller that adopts the Job finds them.
          if (cached) await cached.cache.flush(job.name, cached.misses);
          await this.#create(job, cached?.indexes);
        }
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 409)) {
          this.#waiting.delete(name);
          // Retried for as long as the client retries; then the drive loop starts over.
          if (!(error instanceof ApiError) || isTransient(error)) throw error;
          return {
            ok: false,
            error: `cannot create Job ${name}: ${error.message}`,
            taskRetries: 0,
          };
        }
      } finally {
        release();
      }
    }
    void this.#check(name);
    const ended = await outcome;
    if (cached) {
      await cached.cache.ranElsewhere(cached.misses);
      await cached.cache.flush(job.name);
    }
    return ended;
  }

  /** The run's cache, opened once. */
  async #openCache(): Promise<TaskCache> {
    const { settings, fs } = this.options;
    if (!this.#cache) {
      const { TaskCache } = await import("../executors/task_cache.ts");
      this.#cache = TaskCache.open(fs, settings.runId, { image: settings.image });
    }
    return await this.#cache;
  }

  /** A job's tasks as the cache sees them. */
  #requests(job: Readonly<JobState>): TaskRequest[] {
    const { settings } = this.options;
    const where = {
      runId: settings.runId,
      job: job.name,
      dataDir: settings.dataDir,
      functionsDir: resolveFunctionsDir(IMAGE_FUNCTIONS_DIR),
    };
    const requests: TaskRequest[] = [];
    for (const definition of taskDefinitions(job)) {
      requests.push({ ...definition, ...where, index: requests.length });
    }
    return requests;
  }

  /**
   * A Job an earlier controller made: the decisions it wrote before making it are taken
   * again (its cached tasks, and why the others run in the Job); the tasks it did not
   * decide are said to have run in it.
   */
  async #adopt(job: Readonly<JobState>) {
    const cache = await this.#openCache();
    const { readJobDecisions } = await import("../records/cache.ts");
    const earlier = await readJobDecisions(this.options.fs, this.options.settings.runId, job.name);
    const by = new Map(earlier.map((d) => [d.index, d]));
    cache.restore(job.name, earlier.filter((d) => d.outcome === "cached"));
    const misses: Miss[] = this.#requests(job).flatMap((request) => {
      const d = by.get(request.index);
      if (d?.outcome === "cached") return [];
      const why = d?.why.replace(/; not stored \(.*\)$/, "") ??
        "ran in a Job an earlier controller of the run made";
      return [{ request, key: d?.key, why }];
    });
    return { cache, misses, indexes: undefined };
  }

  /**
   * Looks a job's tasks up in the cache: answers those whose entries hold, and says which
   * are left to run, and (for a job of one-task pods of which some were answered) the
   * tasks of its Job's completion indexes.
   */
  async #split(job: Readonly<JobState>) {
    const cache = await this.#openCache();
    const requests = this.#requests(job);
    const misses: Miss[] = await cache.split(requests);
    const some = misses.length > 0 && misses.length < requests.length;
    const indexes = some && tasksPerPod(job) === 1
      ? misses.map((miss) => miss.request.index)
      : undefined;
    return { cache, misses, indexes };
  }

  /** Writes the job's task files, then creates its Job (for some of its tasks, `indexes`). */
  async #create(job: Readonly<JobState>, indexes?: number[]): Promise<void> {
    const { settings, fs, kube, owner } = this.options;
    const { perChunk, count, files } = layOutTasks(
      settings.runId,
      job.name,
      taskCount(job),
      () => taskDefinitions(job),
    );
    // The writers share one iterator, so the files are made as they are written.
    const pending = files[Symbol.iterator]();
    await Promise.all(
      Array.from({ length: Math.min(FILE_WRITES, count) }, async () => {
        for (let file = pending.next(); !file.done; file = pending.next()) {
          await fs.write(file.value.path, file.value.text);
        }
      }),
    );
    await kube.request("POST", `/apis/batch/v1/namespaces/${settings.namespace}/jobs`, {
      body: ktJob(settings, job, owner, perChunk, indexes),
    });
  }

  /**
   * Stops watching. Jobs still running are left to run, and their `run` calls never
   * resolve: the next controller (or the next drive loop of this one) adopts them.
   */
  async stop(_reason: string): Promise<void> {
    this.#stopped = true;
    this.#waiting.clear();
    this.#stopPods.abort();
    await Promise.all([this.#jobs.stop(), this.#watchingPods]);
    // The digest memo (the jobs' decisions were written as each ended).
    if (this.#cache) await (await this.#cache).close().catch(() => {});
  }
}
