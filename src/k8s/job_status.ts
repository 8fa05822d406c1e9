/**
 * The parts of a batch/v1 Job that kt-deno reads, and how to read its status: which
 * indexes failed, and whether it has finished.
 *
 * @module
 */

/** The parts of a batch/v1 Job kt-deno reads. */
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
    /** Pods running and ready. */
    ready?: number;
    succeeded?: number;
    failed?: number;
    failedIndexes?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
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

/** Only the parts of a Job that kt-deno reads (what a list/watch keeps of each Job). */
export function jobStatusOnly(job: KubeJob): KubeJob {
  const { name, resourceVersion, uid, labels } = job.metadata;
  const { active, ready, succeeded, failed, failedIndexes, conditions } = job.status ?? {};
  return {
    metadata: { name, resourceVersion, uid, labels },
    spec: { completions: job.spec?.completions },
    status: { active, ready, succeeded, failed, failedIndexes, conditions },
  };
}

/**
 * The ready pods of a run's Jobs, summed as their statuses change: each change costs the
 * same whatever the number of Jobs.
 *
 * @example
 * ```ts
 * import { ReadyPods } from "./job_status.ts";
 * const ready = new ReadyPods();
 * ready.update("a", { metadata: { name: "a" }, status: { ready: 3 } });
 * ready.update("b", { metadata: { name: "b" }, status: { ready: 1 } });
 * ready.update("a", undefined);
 * ready.total; // 1
 * ```
 */
export class ReadyPods {
  readonly #byJob = new Map<string, number>();
  #total = 0;

  /** Takes a Job's latest status; `undefined` when the Job is gone. */
  update(name: string, job: KubeJob | undefined): void {
    const ready = job?.status?.ready ?? 0;
    this.#total += ready - (this.#byJob.get(name) ?? 0);
    if (ready > 0) this.#byJob.set(name, ready);
    else this.#byJob.delete(name);
  }

  /** Ready pods over all the Jobs. */
  get total(): number {
    return this.#total;
  }
}
