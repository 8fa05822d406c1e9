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
