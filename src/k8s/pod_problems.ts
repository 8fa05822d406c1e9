/**
 * What a pod's status says went wrong, in words a user can act on (pure: no I/O): a pod
 * that cannot start (its image cannot be had, its configuration names something missing,
 * no node can take it), and how a pod that ran ended (OOMKilled, with its limit).
 *
 * @module
 */
import { parseQuantity } from "../spec/quantity.ts";

/** The parts of a v1 Pod read here. */
export interface KubePod {
  metadata: {
    name: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
  };
  spec?: { containers?: { name: string; image?: string; resources?: Resources }[] };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: {
      type: string;
      status: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: string;
    }[];
    containerStatuses?: ContainerStatus[];
  };
}

interface Resources {
  limits?: { memory?: string };
}

interface ContainerStatus {
  name: string;
  image?: string;
  state?: {
    waiting?: { reason?: string; message?: string };
    terminated?: { reason?: string; message?: string; exitCode?: number };
  };
}

/** How long a pod may stay Unschedulable (waiting for a node to free up or be added). */
export const UNSCHEDULABLE_GRACE_SECONDS = 300;

const IMAGE_REASONS = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "ErrImageNeverPull",
  "InvalidImageName",
]);
const CONFIG_REASONS = new Set(["CreateContainerConfigError", "CreateContainerError"]);

/**
 * Whether a pod cannot start: `{ problem }` when it cannot (the reason, with the image
 * or the missing resource named), `{ recheckAt }` (epoch ms) when it is Unschedulable but
 * not yet for `graceSeconds`, null when nothing is wrong yet. `turnover` (epoch ms) is when
 * pods of the same run last held or freed room on the nodes: a pod that waits behind them
 * is queued, not stuck, so its grace period runs from the later of the two.
 *
 * @example
 * ```ts
 * import { startProblem } from "./pod_problems.ts";
 * const pod = {
 *   metadata: { name: "load-0-abcde" },
 *   status: {
 *     containerStatuses: [{
 *       name: "task",
 *       image: "kt-wroker:1",
 *       state: { waiting: { reason: "ErrImagePull", message: "not found" } },
 *     }],
 *   },
 * };
 * startProblem(pod, Date.now()); // { problem: "pod load-0-abcde: ErrImagePull for image kt-wroker:1: not found" }
 * ```
 */
export function startProblem(
  pod: KubePod,
  now: number,
  graceSeconds = UNSCHEDULABLE_GRACE_SECONDS,
  turnover = -Infinity,
): { problem: string } | { recheckAt: number } | null {
  const name = pod.metadata.name;
  for (const status of pod.status?.containerStatuses ?? []) {
    const waiting = status.state?.waiting;
    if (!waiting?.reason) continue;
    const detail = waiting.message ? `: ${waiting.message}` : "";
    if (IMAGE_REASONS.has(waiting.reason)) {
      const image = pod.spec?.containers?.find((c) => c.name === status.name)?.image ??
        status.image;
      const hint = waiting.reason === "ErrImageNeverPull"
        ? " (load the image into the node, or give --pull-policy IfNotPresent to pull it)"
        : "";
      return { problem: `pod ${name}: ${waiting.reason} for image ${image}${detail}${hint}` };
    }
    if (CONFIG_REASONS.has(waiting.reason)) {
      return { problem: `pod ${name}: ${waiting.reason}${detail}` };
    }
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") {
    const since = Date.parse(scheduled.lastTransitionTime ?? pod.metadata.creationTimestamp ?? "");
    const recheckAt = Math.max(Number.isNaN(since) ? now : since, turnover) + graceSeconds * 1000;
    if (now < recheckAt) return { recheckAt };
    const detail = scheduled.message ? `: ${scheduled.message}` : "";
    return { problem: `pod ${name}: Unschedulable for more than ${graceSeconds}s${detail}` };
  }
  return null;
}

/**
 * The parts of a pod that {@linkcode startProblem} and a watcher read (its name, labels,
 * images, scheduling condition and waiting reasons), so that a watch holding many queued
 * pods holds a few hundred bytes of each rather than the whole object.
 *
 * @example
 * ```ts
 * import { podStartFields } from "./pod_problems.ts";
 * podStartFields({
 *   metadata: { name: "p", labels: { app: "x" } },
 *   spec: { containers: [{ name: "task", image: "w:1", resources: { limits: { memory: "1Gi" } } }] },
 *   status: { phase: "Pending" },
 * }); // { metadata: { name: "p", ..., labels: { app: "x" } }, spec: { containers: [{ name: "task", image: "w:1" }] }, ... }
 * ```
 */
export function podStartFields(pod: KubePod): KubePod {
  const { name, resourceVersion, creationTimestamp, labels } = pod.metadata;
  const status = pod.status ?? {};
  return {
    metadata: { name, resourceVersion, creationTimestamp, labels },
    spec: { containers: pod.spec?.containers?.map(({ name, image }) => ({ name, image })) },
    status: {
      phase: status.phase,
      conditions: status.conditions?.filter((c) => c.type === "PodScheduled"),
      containerStatuses: status.containerStatuses?.map(({ name, image, state }) => ({
        name,
        image,
        state: state?.waiting ? { waiting: state.waiting } : {},
      })),
    },
  };
}

/**
 * A byte count in the largest binary unit that keeps it at least 1.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./pod_problems.ts";
 * formatBytes(1181116007); // "1.1Gi"
 * formatBytes(36909875); // "35.2Mi"
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = [["Gi", 2 ** 30], ["Mi", 2 ** 20], ["Ki", 2 ** 10]] as const;
  for (const [unit, size] of units) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))}${unit}`;
  }
  return `${bytes}`;
}

function lastLine(text: string): string {
  const line = text.trim().split("\n").at(-1) ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/**
 * How a pod that ran and failed ended, for a task that left no error of its own (it was
 * killed, or crashed): `OOMKilled (limit 1.1Gi)`, an eviction's reason, or the exit code
 * with the last line of its log. Undefined when the pod did not fail.
 *
 * @example
 * ```ts
 * import { endProblem } from "./pod_problems.ts";
 * endProblem({
 *   metadata: { name: "load-0-abcde" },
 *   spec: { containers: [{ name: "task", resources: { limits: { memory: "36909875" } } }] },
 *   status: {
 *     phase: "Failed",
 *     containerStatuses: [{ name: "task", state: { terminated: { reason: "OOMKilled", exitCode: 137 } } }],
 *   },
 * }); // "OOMKilled (limit 35.2Mi)"
 * ```
 */
export function endProblem(pod: KubePod): string | undefined {
  for (const status of pod.status?.containerStatuses ?? []) {
    const ended = status.state?.terminated;
    if (!ended || ended.exitCode === 0) continue;
    if (ended.reason === "OOMKilled") {
      const limit = pod.spec?.containers?.find((c) => c.name === status.name)?.resources?.limits
        ?.memory;
      const bytes = limit === undefined ? null : parseQuantity(limit);
      return `OOMKilled (limit ${bytes === null ? limit ?? "none" : formatBytes(bytes)})`;
    }
    const log = ended.message ? `: ${lastLine(ended.message)}` : "";
    return `${ended.reason ?? "Error"}, exit code ${ended.exitCode}${log}`;
  }
  if (pod.status?.phase === "Failed" && pod.status.reason) {
    return `${pod.status.reason}${pod.status.message ? `: ${pod.status.message}` : ""}`;
  }
  return undefined;
}

/**
 * A failed task's error from what it said (its error file) and how its pod ended: an
 * OOMKill comes first, since a killed task did not get to say why; otherwise its own
 * words, else its pod's end.
 *
 * @example
 * ```ts
 * import { taskError } from "./pod_problems.ts";
 * taskError("command sh was killed by SIGKILL", "OOMKilled (limit 1.1Gi)");
 * // "OOMKilled (limit 1.1Gi): command sh was killed by SIGKILL"
 * ```
 */
export function taskError(said: string | null, end: string | undefined): string | undefined {
  if (end?.startsWith("OOMKilled")) return said ? `${end}: ${said}` : end;
  return said ?? end;
}
