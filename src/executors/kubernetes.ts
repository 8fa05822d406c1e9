/**
 * The Kubernetes executor: one Indexed Job per kt job, created by the controller, and
 * learnt of by a watch on the run's Jobs (resumed from its last resourceVersion, relisted
 * on 410 Gone). Creating is idempotent: a Job that already exists is adopted, so a
 * restarted controller creates no duplicates.
 *
 * @module
 */
import { taskErrorPath, taskFilePath } from "../engine/state.ts";
import type { JobState } from "../engine/state.ts";
import { ApiError, type KubeClient } from "../k8s/client.ts";
import { ktJob, type Owner, type RunSettings, taskCount } from "../k8s/manifests.ts";
import { jobObjectName, LABELS } from "../k8s/names.ts";
import { taskError } from "../k8s/pod_problems.ts";
import { taskPodEnd, watchPodStarts } from "../k8s/pod_watch.ts";
import type { DataFs } from "../storage/data_fs.ts";
import type { TaskDefinition } from "../task/pod_task.ts";
import { type Executor, type ExecutorEvents, failureSummary, type JobOutcome } from "./executor.ts";

/** The parts of a batch/v1 Job this executor reads. */
export interface KubeJob {
  metadata: {
    name: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
  };
  spec?: { completions?: number; activeDeadlineSeconds?: number };
  status?: {
    active?: number;
    succeeded?: number;
    failed?: number;
    failedIndexes?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

interface JobList {
  metadata: { resourceVersion: string };
  items: KubeJob[];
}

/** Settings of a {@linkcode KubernetesExecutor}. */
export interface KubernetesExecutorOptions {
  kube: KubeClient;
  settings: RunSettings;
  fs: DataFs;
  /** The controller Job, owner of every Job made, so deleting it removes them all. */
  owner?: Owner;
  events?: ExecutorEvents;
}

/** Expands a failedIndexes string ("1,3-5") into indexes. */
export function parseIndexes(text: string | undefined): number[] {
  if (!text) return [];
  return text.split(",").flatMap((part) => {
    const [from, to] = part.split("-").map(Number);
    return to === undefined ? [from] : Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

/** A Job's Complete or Failed condition, once it has one. */
export function finishedCondition(job: KubeJob) {
  return job.status?.conditions?.find((c) =>
    (c.type === "Complete" || c.type === "Failed") && c.status === "True"
  );
}

async function writeAll<T>(items: T[], limit: number, write: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) await write(items[i]);
  }));
}

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
  readonly #latest = new Map<string, KubeJob>();
  readonly #waiting = new Map<string, { job: Readonly<JobState>; done: (o: JobOutcome) => void }>();
  readonly #stopped = new AbortController();
  #resourceVersion = "";
  #watching?: Promise<void>;
  #watchingPods?: Promise<void>;
  /** Why a Job's pods cannot start, by Job name. */
  readonly #startProblems = new Map<string, string>();

  constructor(readonly options: KubernetesExecutorOptions) {}

  get #jobsPath(): string {
    return `/apis/batch/v1/namespaces/${this.options.settings.namespace}/jobs`;
  }

  get #selector(): string {
    return `${LABELS.runId}=${this.options.settings.runId},${LABELS.component}=job`;
  }

  /** Lists the run's Jobs that exist already and starts watching them. */
  async start(): Promise<void> {
    await this.#relist();
    this.#watching = this.#watch();
    const { runId, namespace } = this.options.settings;
    this.#watchingPods = watchPodStarts(this.options.kube, {
      namespace,
      selector: this.#selector,
      signal: this.#stopped.signal,
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
      [...this.#latest.values()].map((job) => [job.metadata.labels?.[LABELS.job] ?? "", job]),
    );
  }

  async #relist(): Promise<void> {
    const list = await this.options.kube.request<JobList>("GET", this.#jobsPath, {
      query: { labelSelector: this.#selector },
    });
    this.#latest.clear();
    for (const job of list.items) this.#latest.set(job.metadata.name, job);
    this.#resourceVersion = list.metadata.resourceVersion;
    for (const name of this.#waiting.keys()) void this.#check(name);
  }

  async #watch(): Promise<void> {
    const signal = this.#stopped.signal;
    while (!signal.aborted) {
      try {
        const events = this.options.kube.watch<KubeJob>(this.#jobsPath, {
          labelSelector: this.#selector,
          resourceVersion: this.#resourceVersion,
          timeoutSeconds: 300,
        }, signal);
        for await (const event of events) {
          this.#resourceVersion = event.object.metadata.resourceVersion ?? this.#resourceVersion;
          if (event.type === "BOOKMARK") continue;
          const name = event.object.metadata.name;
          if (event.type === "DELETED") this.#latest.delete(name);
          else this.#latest.set(name, event.object);
          void this.#check(name, event.type === "DELETED");
        }
      } catch (error) {
        if (signal.aborted) return;
        if (!(error instanceof ApiError && error.status === 410)) {
          console.error(
            `kt-deno controller: watch of Jobs ended (${(error as Error).message}); relisting`,
          );
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        try {
          await this.#relist();
        } catch (relistError) {
          console.error(`kt-deno controller: relist failed: ${(relistError as Error).message}`);
        }
      }
    }
  }

  async #check(name: string, deleted = false): Promise<void> {
    const waiter = this.#waiting.get(name);
    if (!waiter) return;
    const object = this.#latest.get(name);
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
    const total = taskCount(waiter.job);
    this.options.events?.progress?.({
      job: waiter.job.name,
      total,
      succeeded: status.succeeded ?? 0,
      running: status.active ?? 0,
      failed: failedIndexes.length,
    });
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
      error: await this.#failure(waiter.job, condition, failedIndexes),
    });
  }

  async #failure(
    job: Readonly<JobState>,
    condition: { reason?: string; message?: string },
    failedIndexes: number[],
  ): Promise<string> {
    if (condition.reason === "DeadlineExceeded") return `job timed out after ${job.timeout}s`;
    const total = taskCount(job);
    const reasons = await Promise.all(
      failedIndexes.slice(0, 3).map(async (index) => {
        const { runId, namespace } = this.options.settings;
        const [said, end] = await Promise.all([
          this.options.fs.read(taskErrorPath(runId, job.name, index)).catch(() => null),
          taskPodEnd(this.options.kube, namespace, jobObjectName(runId, job.name), index),
        ]);
        return {
          index,
          error: taskError(said, end) ??
            `${condition.reason ?? "failed"}: ${condition.message ?? ""}`.trim(),
        };
      }),
    );
    if (reasons.length === 0) {
      return `Job failed: ${condition.reason ?? ""} ${condition.message ?? ""}`.trim();
    }
    return failureSummary(total, failedIndexes.length, reasons);
  }

  async run(job: Readonly<JobState>): Promise<JobOutcome> {
    const name = jobObjectName(this.options.settings.runId, job.name);
    const outcome = new Promise<JobOutcome>((done) => this.#waiting.set(name, { job, done }));
    if (!this.#latest.has(name)) {
      try {
        await this.#writeTasks(job);
        const created = await this.options.kube.request<KubeJob>("POST", this.#jobsPath, {
          body: ktJob(this.options.settings, job, this.options.owner),
        });
        if (!this.#latest.has(name)) this.#latest.set(name, created);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 409)) {
          this.#waiting.delete(name);
          return {
            ok: false,
            error: `cannot create Job ${name}: ${(error as Error).message}`,
            taskRetries: 0,
          };
        }
      }
    }
    void this.#check(name);
    return await outcome;
  }

  async #writeTasks(job: Readonly<JobState>): Promise<void> {
    const { runId } = this.options.settings;
    const definitions: TaskDefinition[] = job.type === "dynamic"
      ? [{ kind: "dynamic", function: job.function, args: job.args ?? {} }]
      : job.tasks!.map((task) => ({
        kind: "static",
        function: task.function,
        args: task.args,
        command: task.command,
      }));
    await writeAll(
      definitions.map((definition, index) => ({ definition, index })),
      32,
      ({ definition, index }) =>
        this.options.fs.write(taskFilePath(runId, job.name, index), JSON.stringify(definition)),
    );
  }

  async stop(_reason: string): Promise<void> {
    this.#stopped.abort();
    await Promise.all([this.#watching, this.#watchingPods]);
    for (const [name, waiter] of this.#waiting) {
      this.#waiting.delete(name);
      waiter.done({
        ok: false,
        error: "the controller stopped before the Job finished",
        taskRetries: 0,
      });
    }
  }
}
