/**
 * The Kubernetes objects of a schedule, built as plain data (no I/O): its CronJob, whose
 * Job template is the controller Job (see manifests.ts), the Job `schedule trigger` makes
 * from it, and the Role a person needs to manage schedules.
 *
 * @module
 */
import { controllerJob, type RunSettings, SETTINGS_ENV } from "./manifests.ts";
import { cronJobName, scheduleLabels } from "./names.ts";

/** What a CronJob does when a firing comes while the last run is still going. */
export type ConcurrencyPolicy = "Forbid" | "Allow" | "Replace";

/** The policies `--concurrency-policy` accepts. */
export const CONCURRENCY_POLICIES: readonly ConcurrencyPolicy[] = ["Forbid", "Allow", "Replace"];

/**
 * A firing missed by longer than this (a controller-manager outage) is not started late:
 * after an outage at most the last missed firing runs, never a burst.
 */
export const STARTING_DEADLINE_SECONDS = 300;

/** A schedule, as `schedule create` takes it. */
export interface Schedule {
  name: string;
  cron: string;
  /** An IANA time zone; none: the controller manager's (UTC as a rule). */
  timeZone?: string;
  suspend?: boolean;
  concurrencyPolicy?: ConcurrencyPolicy;
  /** Keep only this many of the schedule's finished runs, pruning after each run. */
  keep?: number;
}

type Json = Record<string, unknown>;

/**
 * The CronJob of a schedule: at each firing it makes a controller Job whose pod starts a
 * fresh run from the schedule's kept spec and drives it. `settings` are a run's, without a
 * run id (each firing's controller takes its own).
 *
 * @example
 * ```ts ignore
 * const cronJob = scheduleCronJob(settings, { name: "nightly", cron: "0 2 * * *" });
 * cronJob.spec.concurrencyPolicy; // "Forbid"
 * ```
 */
export function scheduleCronJob(settings: RunSettings, schedule: Schedule): Json {
  const job = controllerJob({ ...settings, runId: "" }, {
    name: schedule.name,
    keep: schedule.keep,
  });
  const { metadata, spec } = job as { metadata: { labels: Json }; spec: Json };
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: {
      name: cronJobName(schedule.name),
      namespace: settings.namespace,
      labels: scheduleLabels(schedule.name, "schedule"),
    },
    spec: {
      schedule: schedule.cron.trim(),
      ...(schedule.timeZone ? { timeZone: schedule.timeZone } : {}),
      suspend: schedule.suspend ?? false,
      concurrencyPolicy: schedule.concurrencyPolicy ?? "Forbid",
      startingDeadlineSeconds: STARTING_DEADLINE_SECONDS,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: { metadata: { labels: metadata.labels }, spec },
    },
  };
}

/**
 * The Job `schedule trigger` makes: the CronJob's Job template, owned by the CronJob, as
 * `kubectl create job --from=cronjob/...` makes it.
 */
export function triggeredJob(
  cronJob: { metadata: { name: string; namespace?: string; uid: string }; spec: Json },
  suffix: string,
): Json {
  const template = cronJob.spec.jobTemplate as { metadata?: Json; spec: Json };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      ...template.metadata,
      name: `${cronJob.metadata.name}-manual-${suffix}`,
      namespace: cronJob.metadata.namespace,
      annotations: { "cronjob.kubernetes.io/instantiate": "manual" },
      ownerReferences: [{
        apiVersion: "batch/v1",
        kind: "CronJob",
        name: cronJob.metadata.name,
        uid: cronJob.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      }],
    },
    spec: template.spec,
  };
}

/**
 * The Role a person needs to manage schedules in a namespace (bind it to them): their
 * CronJobs, Jobs made from them (`trigger`), and the events that say a firing was skipped.
 * The run's own service account needs none of this.
 */
export function schedulerRole(namespace: string): Json {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: {
      name: "kt-deno-scheduler",
      namespace,
      labels: { "app.kubernetes.io/managed-by": "kt-deno" },
    },
    rules: [{
      apiGroups: ["batch"],
      resources: ["cronjobs"],
      verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
    }, {
      apiGroups: ["batch"],
      resources: ["jobs"],
      verbs: ["get", "list", "watch", "create"],
    }, {
      apiGroups: [""],
      resources: ["events"],
      verbs: ["get", "list", "watch"],
    }],
  };
}

/** A schedule's CronJob as the API server returns it (the fields kt-deno reads). */
export interface CronJobObject {
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    labels?: Record<string, string>;
    creationTimestamp?: string;
  };
  spec: {
    schedule: string;
    timeZone?: string;
    suspend?: boolean;
    concurrencyPolicy?: ConcurrencyPolicy;
    jobTemplate: {
      spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
    };
  } & Json;
  status?: { active?: unknown[]; lastScheduleTime?: string; lastSuccessfulTime?: string };
}

/** The run settings a schedule's CronJob gives its controllers (its data dir, version...). */
export function settingsOfCronJob(cronJob: CronJobObject): RunSettings {
  const env = cronJob.spec.jobTemplate.spec.template.spec.containers[0]?.env ?? [];
  const raw = env.find((variable) => variable.name === SETTINGS_ENV)?.value;
  if (!raw) throw new Error(`CronJob ${cronJob.metadata.name} has no ${SETTINGS_ENV}`);
  return JSON.parse(raw) as RunSettings;
}
