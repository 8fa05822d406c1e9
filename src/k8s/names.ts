/**
 * Names and labels of the Kubernetes objects of a run. Every name is unique per run and at
 * most 63 characters, so two runs can share a namespace.
 *
 * @module
 */
import { MAX_NAME_LENGTH } from "../spec/names.ts";

/** Label keys every object of a run carries. */
export const LABELS = {
  runId: "kt-deno.dev/run-id",
  job: "kt-deno.dev/job",
  component: "kt-deno.dev/component",
  managedBy: "app.kubernetes.io/managed-by",
  schedule: "kt-deno.dev/schedule",
} as const;

/** The name of the controller Job of a run. */
export function controllerJobName(runId: string): string {
  return `kt-controller-${runId}`;
}

function shortHash(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(36).padStart(7, "0").slice(0, 6);
}

/**
 * The Kubernetes Job name of a kt job: `<job>-<run id>` as kube-transform named it when that
 * fits in 63 characters; otherwise the job name is cut and a hash of it keeps names unique.
 *
 * @example
 * ```ts
 * import { jobObjectName } from "./names.ts";
 * jobObjectName("ktpr0123abcd", "load"); // "load-ktpr0123abcd"
 * jobObjectName("ktpr0123abcd", "x".repeat(63)).length; // 63
 * ```
 */
export function jobObjectName(runId: string, job: string): string {
  const plain = `${job}-${runId}`;
  if (plain.length <= MAX_NAME_LENGTH) return plain;
  const room = MAX_NAME_LENGTH - runId.length - 8;
  return `${job.slice(0, room).replace(/-+$/, "")}-${shortHash(job)}-${runId}`;
}

/** The labels of an object of a run; `job` for a kt job's objects. */
export function runLabels(runId: string, component: "controller" | "job", job?: string) {
  return {
    [LABELS.managedBy]: "kt-deno",
    [LABELS.runId]: runId,
    [LABELS.component]: component,
    ...(job === undefined ? {} : { [LABELS.job]: job }),
  };
}

/**
 * The labels of a schedule's objects: its CronJob (`component` "schedule") and the
 * controller Job of each firing ("controller"), which has no run id until its pod runs.
 */
export function scheduleLabels(schedule: string, component: "schedule" | "controller") {
  return {
    [LABELS.managedBy]: "kt-deno",
    [LABELS.component]: component,
    [LABELS.schedule]: schedule,
  };
}

/** Longest schedule name: its CronJob's name and each firing's Job name must fit. */
export const MAX_SCHEDULE_NAME = 36;

/**
 * The CronJob of a schedule. At most 48 characters, so the Jobs it makes
 * (`<name>-<minutes>`) and those `trigger` makes (`<name>-manual-<6>`) fit in 63.
 *
 * @example
 * ```ts
 * import { cronJobName } from "./names.ts";
 * cronJobName("nightly"); // "kt-schedule-nightly"
 * ```
 */
export function cronJobName(schedule: string): string {
  return `kt-schedule-${schedule}`;
}
