/**
 * The Kubernetes objects of a run, built as plain data (no I/O): the controller Job, one
 * Job per kt job, and the RBAC the controller needs.
 *
 * @module
 */
import type { JobState } from "../engine/state.ts";
import type { JobProgress } from "../executors/executor.ts";
import { podCount, taskCount, tasksPerPod } from "../spec/pod_count.ts";
import { IMAGE_FUNCTIONS_DIR, type PackedPodEnv, POD_ENV, podEnvVars } from "../task/pod_env.ts";
import { parseMilliQuantity, scaleMemory } from "../spec/quantity.ts";
import { controllerJobName, jobObjectName, runLabels, scheduleLabels } from "./names.ts";

/** The service account kt-deno's pods run as (kube-transform's name). */
export const SERVICE_ACCOUNT = "kt-pod";
/** The environment variable that carries a run's settings to its controller. */
export const SETTINGS_ENV = "KT_RUN_SETTINGS";
/** Where worker images keep task functions. */

/** An image pull policy, as a container spec takes it. */
export type PullPolicy = "Always" | "IfNotPresent" | "Never";

/** The pull policies `--pull-policy` accepts. */
export const PULL_POLICIES: readonly PullPolicy[] = ["Always", "IfNotPresent", "Never"];

/**
 * The pull policy of an image when none is asked for: `Never` for a name without a
 * registry host, which is an image loaded into the nodes (`kind load`, `minikube image
 * load`, podman's `localhost/`), so that a `:latest` or untagged one is not pulled from
 * Docker Hub; `IfNotPresent` for a name with one (a `.` or a port in its first part).
 *
 * @example
 * ```ts
 * import { defaultPullPolicy } from "./manifests.ts";
 * defaultPullPolicy("kt-worker:latest"); // "Never"
 * defaultPullPolicy("localhost/kt-worker"); // "Never"
 * defaultPullPolicy("ghcr.io/org/worker:1"); // "IfNotPresent"
 * defaultPullPolicy("localhost:5000/worker"); // "IfNotPresent"
 * ```
 */
export function defaultPullPolicy(image: string): PullPolicy {
  const slash = image.indexOf("/");
  const first = slash < 0 ? "" : image.slice(0, slash);
  return /[.:]/.test(first) ? "IfNotPresent" : "Never";
}

/** A user and group id, for a pod's `runAsUser` and `runAsGroup`. */
export interface RunAs {
  uid: number;
  gid: number;
}

/** What the launcher decides for a run, and the controller reads back from its environment. */
export interface RunSettings {
  runId: string;
  namespace: string;
  /** The worker image: `kt-deno` on PATH and functions in /app/kt_functions. */
  image: string;
  /** The controller's image; the worker image unless another is given. */
  controllerImage: string;
  /** The pull policy of every pod; null: {@linkcode defaultPullPolicy} of each image. */
  pullPolicy: PullPolicy | null;
  /** The user pods run as (the owner of a local data dir); null: the image's user. */
  runAs: RunAs | null;
  dataDir: string;
  /** The launcher's kt-deno version; controller and tasks refuse another. */
  version: string;
  /** Host folder mounted at the data dir in every pod; null for object stores. */
  hostDataPath: string | null;
  /** Seconds finished Jobs are kept before the TTL controller deletes them. */
  ttlSecondsAfterFinished: number;
  /** Extra environment for the controller and every pod (object store settings). */
  env: Record<string, string>;
  /** Secrets whose keys become environment variables of the controller and every pod. */
  envFromSecrets: string[];
  /** `--cache`: the jobs without `cache:` use the cache. */
  cache?: boolean;
  /** The schedule that started the run (set by its controller, not the launcher). */
  schedule?: string;
  /** The controller Job, when it is not `kt-controller-<run id>` (a schedule's firing). */
  controllerJob?: string;
}

/** An object reference for `ownerReferences`. */
export interface Owner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

type Json = Record<string, unknown>;

function envList(env: Record<string, string>): Json[] {
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}

function envFrom(settings: RunSettings): Json {
  const secrets = settings.envFromSecrets ?? [];
  return secrets.length ? { envFrom: secrets.map((name) => ({ secretRef: { name } })) } : {};
}

function dataVolume(settings: RunSettings): { volumes: Json[]; mounts: Json[] } {
  if (settings.hostDataPath === null) return { volumes: [], mounts: [] };
  return {
    volumes: [{
      name: "data",
      hostPath: { path: settings.hostDataPath, type: "DirectoryOrCreate" },
    }],
    mounts: [{ name: "data", mountPath: settings.dataDir }],
  };
}

/** Pods run as non-root, with no privilege escalation, no capabilities, default seccomp. */
function podSecurity(settings: RunSettings): Json {
  const runAs = settings.runAs;
  return {
    runAsNonRoot: true,
    ...(runAs ? { runAsUser: runAs.uid, runAsGroup: runAs.gid } : {}),
    seccompProfile: { type: "RuntimeDefault" },
  };
}

function container(settings: RunSettings, name: string, image: string): Json {
  return {
    name,
    image,
    imagePullPolicy: settings.pullPolicy ?? defaultPullPolicy(image),
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
    // A pod that dies without a word (a crash, a kill) keeps the end of its log in its status.
    terminationMessagePolicy: "FallbackToLogsOnError",
  };
}

/** Evictions and preemptions (the DisruptionTarget condition) do not count as failures. */
const IGNORE_DISRUPTIONS = {
  action: "Ignore",
  onPodConditions: [{ type: "DisruptionTarget", status: "True" }],
};

function ownerReferences(owner: Owner | undefined): Json {
  return owner ? { ownerReferences: [{ ...owner, blockOwnerDeletion: false }] } : {};
}

/** Exit codes of the controller that end its Job: the run is over, or cannot be run. */
export const CONTROLLER_EXIT = { completed: 0, cannotRun: 2, failed: 3 } as const;

/**
 * The controller's memory settings, in its environment (a run's `env` can override them):
 * - V8: a young generation of 1 MiB a half, so garbage is collected early rather than
 *   growing the process, and no optimizing compiler (`--lite-mode`): the controller waits
 *   on the API server, and compiled code and its feedback cost more memory than they save
 *   time. A `deno run` controller reads them; a `deno compile`d binary ignores them.
 * - glibc's malloc: a fixed mmap threshold, so large buffers (a state document, a list of
 *   pods) go back to the system when freed instead of raising the threshold and piling
 *   up in the heap, and two arenas rather than one per thread that ever allocated.
 * Measured on the kwok 100,000-task job: 122 MiB peak RSS at launch with none of them,
 * 115 MiB with the V8 ones (before task lists were packed); see the README for the rest.
 */
export const CONTROLLER_MEMORY_ENV: Readonly<Record<string, string>> = {
  DENO_V8_FLAGS: "--max-semi-space-size=1,--lite-mode",
  MALLOC_MMAP_THRESHOLD_: "131072",
  MALLOC_ARENA_MAX: "2",
};

/**
 * A pod's labels: the run's, and for an Azure data dir the label that lets AKS workload
 * identity give the pod its token (it does nothing where that webhook is not installed).
 */
function podLabels(labels: Record<string, string>, settings: RunSettings): Record<string, string> {
  if (!/^(az|abfss?):\/\//.test(settings.dataDir)) return labels;
  return { ...labels, "azure.workload.identity/use": "true" };
}

/**
 * What tells a schedule's controller which Job it is (its run id comes from the Job's
 * uid): the labels the Job controller puts on each of its pods.
 */
export const CONTROLLER_JOB_ENV = {
  name: "KT_CONTROLLER_JOB",
  uid: "KT_CONTROLLER_JOB_UID",
} as const;

function fromLabel(name: string, label: string): Json {
  return { name, valueFrom: { fieldRef: { fieldPath: `metadata.labels['${label}']` } } };
}

function scheduleArgs(schedule?: { name: string; keep?: number }): string[] {
  if (!schedule) return [];
  return ["--schedule", schedule.name, ...(schedule.keep ? ["--keep", String(schedule.keep)] : [])];
}

/**
 * The controller Job. It is retried (up to `backoffLimit`, enough for many kills in one
 * run) when its pod dies, and each new controller resumes the run from the state document
 * and the Jobs that exist. A controller that exits 2 (it cannot run this run) or 3 (the
 * run failed) ends the Job at once; any other failure (1 is Deno's code for an uncaught
 * error) is restarted. An evicted or preempted controller is replaced without using up a
 * retry.
 *
 * With `schedule`, it is the Job a schedule's CronJob makes at each firing: it has no run
 * id yet (its controller takes one from the Job's uid, see `kt-deno controller
 * --schedule`), so its labels name the schedule instead.
 */
export function controllerJob(
  settings: RunSettings,
  schedule?: { name: string; keep?: number },
): Json {
  const labels = schedule === undefined
    ? runLabels(settings.runId, "controller")
    : scheduleLabels(schedule.name, "controller");
  const data = dataVolume(settings);
  const jobEnv = schedule === undefined ? [] : [
    fromLabel(CONTROLLER_JOB_ENV.name, "batch.kubernetes.io/job-name"),
    fromLabel(CONTROLLER_JOB_ENV.uid, "batch.kubernetes.io/controller-uid"),
  ];
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      ...(schedule === undefined ? { name: controllerJobName(settings.runId) } : {}),
      namespace: settings.namespace,
      labels,
    },
    spec: {
      backoffLimit: 10,
      podFailurePolicy: {
        rules: [IGNORE_DISRUPTIONS, {
          action: "FailJob",
          onExitCodes: {
            containerName: "controller",
            operator: "In",
            values: [CONTROLLER_EXIT.cannotRun, CONTROLLER_EXIT.failed],
          },
        }],
      },
      ttlSecondsAfterFinished: settings.ttlSecondsAfterFinished,
      template: {
        metadata: { labels: podLabels(labels, settings) },
        spec: {
          serviceAccountName: SERVICE_ACCOUNT,
          restartPolicy: "Never",
          securityContext: podSecurity(settings),
          containers: [{
            ...container(settings, "controller", settings.controllerImage),
            command: ["kt-deno", "controller", ...scheduleArgs(schedule)],
            env: [
              ...envList({
                ...CONTROLLER_MEMORY_ENV,
                ...settings.env,
                [SETTINGS_ENV]: JSON.stringify(settings),
              }),
              ...jobEnv,
            ],
            ...envFrom(settings),
            resources: {
              requests: { cpu: "250m", memory: "256Mi" },
              limits: { memory: "512Mi" },
            },
            volumeMounts: data.mounts,
          }],
          volumes: data.volumes,
        },
      },
    },
  };
}

/**
 * A kt job's task counts from its Job's status. For a packed job (`tasks_per_pod` N > 1)
 * they are estimates from its pods: a finished pod counts N tasks done (the last pod's
 * share at most what is left), a failed one N failed, a running one N running.
 */
export function taskProgress(
  job: Readonly<JobState>,
  status: { succeeded?: number; active?: number },
  failedPods: number,
): JobProgress {
  const total = taskCount(job);
  const n = tasksPerPod(job);
  if (n === 1) {
    const { succeeded = 0, active = 0 } = status;
    return { job: job.name, total, succeeded, running: active, failed: failedPods };
  }
  const succeeded = Math.min(total, (status.succeeded ?? 0) * n);
  const failed = Math.min(total - succeeded, failedPods * n);
  const running = Math.min(total - succeeded - failed, (status.active ?? 0) * n);
  return { job: job.name, total, succeeded, running, failed };
}

/**
 * What a packed pod (`tasks_per_pod` > 1) needs beyond a one-task pod: its tasks'
 * retries (run inside the pod), its worker count, and its own failure rules. Its tasks'
 * failures after their retries end the pod with code 1 and its setup with 2, and either
 * fails its index at once (a new pod would fail the same way); a pod that dies otherwise
 * (killed, out of memory) is replaced up to `retries + 1` times, and the new pod runs only
 * the tasks without a done record.
 */
function packing(job: Readonly<JobState>): { packed?: PackedPodEnv; spec: Json } {
  const perPod = tasksPerPod(job);
  if (perPod === 1) {
    return {
      spec: {
        backoffLimitPerIndex: job.retries ?? 0,
        podFailurePolicy: { rules: [IGNORE_DISRUPTIONS] },
      },
    };
  }
  return {
    packed: {
      perPod,
      count: taskCount(job),
      retries: job.retries ?? 0,
      workers: Math.max(1, Math.floor((parseMilliQuantity(job.cpu) ?? 1000) / 1000)),
    },
    spec: {
      backoffLimitPerIndex: (job.retries ?? 0) + 1,
      podFailurePolicy: {
        rules: [IGNORE_DISRUPTIONS, {
          action: "FailIndex",
          onExitCodes: { containerName: "task", operator: "In", values: [1, 2] },
        }],
      },
    },
  };
}

/**
 * The Indexed Job of a kt job: one completion per task (per `tasks_per_pod` tasks), each
 * pod running `kt-deno task`, which finds its task (its tasks) by its completion index.
 * An evicted or preempted pod is replaced without using up one of its task's retries.
 */
export function ktJob(
  settings: RunSettings,
  job: Readonly<JobState>,
  owner?: Owner,
  tasksPerChunk = 1,
  taskIndexes?: number[],
): Json {
  const labels = runLabels(settings.runId, "job", job.name);
  const count = taskIndexes?.length ?? podCount(job);
  const packed = packing(job);
  const data = dataVolume(settings);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: jobObjectName(settings.runId, job.name),
      namespace: settings.namespace,
      labels,
      ...ownerReferences(owner),
    },
    spec: {
      completionMode: "Indexed",
      completions: count,
      parallelism: Math.min(job.parallelism ?? count, count),
      ...packed.spec,
      ...(job.timeout === undefined ? {} : { activeDeadlineSeconds: Math.ceil(job.timeout) }),
      ttlSecondsAfterFinished: settings.ttlSecondsAfterFinished,
      template: {
        metadata: { labels: podLabels(labels, settings) },
        spec: {
          restartPolicy: "Never",
          serviceAccountName: SERVICE_ACCOUNT,
          automountServiceAccountToken: false,
          securityContext: podSecurity(settings),
          ...(job.node_selector ? { nodeSelector: job.node_selector } : {}),
          ...(job.tolerations ? { tolerations: job.tolerations } : {}),
          containers: [{
            ...container(settings, "task", settings.image),
            command: ["kt-deno", "task"],
            env: [
              ...envList({
                ...settings.env,
                ...podEnvVars({
                  dataDir: settings.dataDir,
                  runId: settings.runId,
                  job: job.name,
                  tasksPerChunk,
                  version: settings.version,
                  functionsDir: IMAGE_FUNCTIONS_DIR,
                  image: settings.image,
                  packed: packed.packed,
                  cache: job.cache ?? settings.cache,
                  taskIndexes,
                }),
              }),
              {
                name: POD_ENV.index,
                valueFrom: {
                  fieldRef: {
                    fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']",
                  },
                },
              },
            ],
            ...envFrom(settings),
            resources: {
              requests: { cpu: job.cpu, memory: job.memory },
              limits: { memory: scaleMemory(job.memory, 1.1) },
            },
            volumeMounts: data.mounts,
          }],
          volumes: data.volumes,
        },
      },
    },
  };
}

/**
 * The least-privilege RBAC of the controller: the `kt-pod` service account, a Role that
 * lets it create, read and watch Jobs and read and watch Pods (to say why a task's pod
 * cannot start or was killed) in its namespace and nothing else, and the binding.
 */
export function rbacManifests(namespace: string): Json[] {
  const labels = { "app.kubernetes.io/managed-by": "kt-deno" };
  return [
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: SERVICE_ACCOUNT, namespace, labels },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "kt-deno-controller", namespace, labels },
      rules: [{
        apiGroups: ["batch"],
        resources: ["jobs"],
        verbs: ["get", "list", "watch", "create"],
      }, {
        apiGroups: [""],
        resources: ["pods"],
        verbs: ["get", "list", "watch"],
      }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "kt-deno-controller", namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "kt-deno-controller" },
      subjects: [{ kind: "ServiceAccount", name: SERVICE_ACCOUNT, namespace }],
    },
  ];
}
