/**
 * How many pods a job makes on Kubernetes and which tasks each runs, and the warning for a
 * job that makes more than
 * a namespace comfortably holds (Kubernetes' scalability thresholds put 3,000 pods in one
 * namespace at the edge).
 *
 * @module
 */
import type { Job } from "./schema.ts";

/** Pods of one job above which `run` and `validate` warn. */
export const POD_WARNING_THRESHOLD = 3_000;

/** What the pod arithmetic reads of a job. */
type JobShape = Pick<Job, "type" | "tasks" | "tasks_per_pod">;

/** Tasks of a job: its tasks' count, 1 for a dynamic job. */
export function taskCount(job: JobShape): number {
  return job.type === "dynamic" ? 1 : job.tasks?.length ?? 0;
}

/** Tasks each pod of a job runs: its `tasks_per_pod`, 1 for a dynamic job. */
export function tasksPerPod(job: JobShape): number {
  return job.type === "dynamic" ? 1 : job.tasks_per_pod ?? 1;
}

/**
 * The pods a job makes on Kubernetes: `ceil(tasks / tasks_per_pod)` for a static job, 1
 * for a dynamic one.
 *
 * @example
 * ```ts
 * import { podCount } from "./pod_count.ts";
 * podCount({ type: "static", tasks: new Array(10).fill({ args: {} }), tasks_per_pod: 4 }); // 3
 * ```
 */
export function podCount(job: JobShape): number {
  return Math.ceil(taskCount(job) / tasksPerPod(job));
}

/**
 * The tasks of pod `pod` of a job: `[from, to)`, consecutive (a pod reads the few chunks of
 * task definitions that hold them, and their done record is one block of its own).
 *
 * @example
 * ```ts
 * import { podTasks } from "./pod_count.ts";
 * podTasks(2, 4, 10); // [8, 10]
 * ```
 */
export function podTasks(pod: number, perPod: number, count: number): [number, number] {
  return [pod * perPod, Math.min((pod + 1) * perPod, count)];
}

/** The smallest `tasks_per_pod` that keeps `tasks` tasks within the threshold's pods. */
function suggestedTasksPerPod(tasks: number): number {
  return Math.ceil(tasks / POD_WARNING_THRESHOLD);
}

/** A warning for each job that would make more than {@linkcode POD_WARNING_THRESHOLD} pods. */
export function podCountWarnings(jobs: readonly Job[]): string[] {
  return jobs.flatMap((job) => {
    const pods = podCount(job);
    if (pods <= POD_WARNING_THRESHOLD) return [];
    const tasks = job.tasks?.length ?? 0;
    return [
      `job ${
        JSON.stringify(job.name)
      } would make ${pods} pods on Kubernetes (more than ${POD_WARNING_THRESHOLD}); set tasks_per_pod (e.g. tasks_per_pod: ${
        suggestedTasksPerPod(tasks)
      }) to run its ${tasks} tasks in fewer pods`,
    ];
  });
}
