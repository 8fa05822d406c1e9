/**
 * Every operation a person asks of a schedule on a cluster: create (the spec kept in the
 * data dir, then the CronJob), list, delete, trigger, suspend, resume and update. Each
 * finds the schedule's CronJob by name (`kt-schedule-<name>`), and its data dir in the
 * settings the CronJob gives its controllers.
 *
 * @module
 */
import { until } from "../async/until.ts";
import { runIdFor } from "../records/run_id.ts";
import { removeScheduleSpec, writeScheduleSpec } from "../records/schedule_spec.ts";
import type { Pipeline } from "../spec/schema.ts";
import { DataFs } from "../storage/data_fs.ts";
import { checkDataDir, isLocalDataDir, openStorage } from "../storage/open.ts";
import { VERSION } from "../version.ts";
import { ApiError, type KubeClient } from "./client.ts";
import { clusterSettings, type ClusterSettingsOptions } from "./cluster_run.ts";
import { type ClusterTarget, connect, withCluster } from "./connect.ts";
import { nextFiring } from "./cron.ts";
import { SetupError } from "./errors.ts";
import { checkServiceAccount } from "./launcher.ts";
import { cronJobName, LABELS } from "./names.ts";
import {
  type CronJobObject,
  type Schedule,
  scheduleCronJob,
  settingsOfCronJob,
  triggeredJob,
} from "./schedule_manifests.ts";

const cronJobs = (ns: string) => `/apis/batch/v1/namespaces/${ns}/cronjobs`;

/** A schedule's CronJob; a {@linkcode SetupError} (exit 2) when there is none. */
async function cronJobOf(kube: KubeClient, ns: string, name: string): Promise<CronJobObject> {
  try {
    return await kube.request<CronJobObject>("GET", `${cronJobs(ns)}/${cronJobName(name)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      throw new SetupError(`no schedule ${name} in namespace ${ns}`);
    }
    throw error;
  }
}

function dataFsOf(cronJob: CronJobObject): DataFs {
  return new DataFs(openStorage(settingsOfCronJob(cronJob).dataDir));
}

/** What `schedule create` takes: the schedule, its spec, and the flags of `run --image`. */
export interface CreateScheduleOptions extends ClusterSettingsOptions, ClusterTarget {
  schedule: Schedule;
  pipeline: Pipeline;
}

/**
 * Creates a schedule: refuses a name that exists (exit 2, nothing written), keeps the
 * spec in the data dir, then creates the CronJob (removing the spec again if that fails).
 *
 * @example
 * ```ts ignore
 * await createSchedule({ schedule: { name: "nightly", cron: "0 2 * * *" }, pipeline,
 *   dataDir: "s3://bucket/runs", image: "registry.example/worker:1" }, console.error);
 * ```
 */
export async function createSchedule(
  options: CreateScheduleOptions,
  warn: (line: string) => void,
): Promise<{ namespace: string; cronJob: string }> {
  if (!isLocalDataDir(options.dataDir)) await checkDataDir(options.dataDir);
  const kube = await connect(options.context);
  try {
    const ns = options.namespace ?? kube.namespace;
    const name = options.schedule.name;
    const exists = await cronJobOf(kube, ns, name).then(() => true, (error) => {
      if (error instanceof SetupError) return false;
      throw error;
    });
    if (exists) {
      throw new SetupError(
        `schedule ${name} exists in namespace ${ns}: change its spec with kt-deno schedule update ${name} SPEC, or delete it first`,
      );
    }
    await checkServiceAccount(kube, ns);
    const settings = await clusterSettings(kube, { ...options, namespace: ns }, "", warn);
    const fs = new DataFs(openStorage(settings.dataDir));
    await writeScheduleSpec(fs, name, options.pipeline, VERSION);
    await kube.request("POST", cronJobs(ns), { body: scheduleCronJob(settings, options.schedule) })
      .catch(async (error) => {
        await removeScheduleSpec(fs, name).catch(() => {});
        throw error;
      });
    return { namespace: ns, cronJob: cronJobName(name) };
  } finally {
    kube.close();
  }
}

/** One schedule as `schedule list` shows it. */
export interface ScheduleSummary {
  name: string;
  namespace: string;
  cron: string;
  timezone?: string;
  suspended: boolean;
  concurrency_policy: string;
  data_dir: string;
  /** Controller Jobs of this schedule still running. */
  active: number;
  last_fired?: string;
  /** When it fires next (none while suspended). */
  next_firing?: string;
  /** The last firing skipped because the run before it was still going (Forbid). */
  last_skipped?: string;
}

/** The schedules (CronJobs kt-deno made) in the target's namespace. */
export async function listSchedules(
  target: ClusterTarget,
  now = new Date(),
): Promise<ScheduleSummary[]> {
  return await withCluster(target, async (kube, ns) => {
    const list = await kube.request<{ items: CronJobObject[] }>("GET", cronJobs(ns), {
      query: { labelSelector: `${LABELS.component}=schedule` },
    });
    const summaries = [];
    for (const cronJob of list.items) {
      const name = cronJob.metadata.labels?.[LABELS.schedule] ?? cronJob.metadata.name;
      const spec = cronJob.spec;
      summaries.push({
        name,
        namespace: ns,
        cron: spec.schedule,
        ...(spec.timeZone ? { timezone: spec.timeZone } : {}),
        suspended: spec.suspend === true,
        concurrency_policy: spec.concurrencyPolicy ?? "Allow",
        data_dir: settingsOfCronJob(cronJob).dataDir,
        active: cronJob.status?.active?.length ?? 0,
        ...(cronJob.status?.lastScheduleTime
          ? { last_fired: cronJob.status.lastScheduleTime }
          : {}),
        ...(spec.suspend
          ? {}
          : { next_firing: nextFiring(spec.schedule, spec.timeZone, now).toISOString() }),
        ...await lastSkipped(kube, ns, cronJob.metadata.name),
      });
    }
    return summaries.sort((a, b) => a.name.localeCompare(b.name));
  });
}

/** When the CronJob last skipped a firing (its JobAlreadyActive event), if it can be read. */
async function lastSkipped(
  kube: KubeClient,
  ns: string,
  cronJob: string,
): Promise<{ last_skipped?: string }> {
  type Event = {
    lastTimestamp?: string;
    eventTime?: string;
    metadata: { creationTimestamp: string };
  };
  const events = await kube.request<{ items: Event[] }>("GET", `/api/v1/namespaces/${ns}/events`, {
    query: {
      fieldSelector:
        `involvedObject.kind=CronJob,involvedObject.name=${cronJob},reason=JobAlreadyActive`,
    },
  }).catch(() => ({ items: [] as Event[] }));
  const times = events.items.map((e) =>
    e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp
  )
    .sort();
  return times.length ? { last_skipped: times[times.length - 1] } : {};
}

/**
 * Deletes a schedule: its CronJob (a run still going finishes; finished Jobs go after their
 * TTL) and its kept spec. Past runs stay in the data dir.
 */
export async function deleteSchedule(name: string, target: ClusterTarget): Promise<void> {
  await withCluster(target, async (kube, ns) => {
    const cronJob = await cronJobOf(kube, ns, name);
    await kube.request("DELETE", `${cronJobs(ns)}/${cronJobName(name)}`, {
      body: { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Orphan" },
    });
    // Orphaning is a finalizer: the CronJob stays until the garbage collector has let its
    // Jobs go. The command ends when it is gone, so that no firing comes after it.
    await until(`the CronJob of schedule ${name} to be gone`, 60, async () => {
      try {
        await kube.request("GET", `${cronJobs(ns)}/${cronJobName(name)}`);
        return false;
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return true;
        throw error;
      }
    }, { everyMs: 100 });
    await removeScheduleSpec(dataFsOf(cronJob), name);
  });
}

/** Starts one run of a schedule now; resolves to its Job and run id. */
export async function triggerSchedule(
  name: string,
  target: ClusterTarget,
): Promise<{ job: string; runId: string; namespace: string }> {
  return await withCluster(target, async (kube, ns) => {
    const cronJob = await cronJobOf(kube, ns, name);
    const suffix = crypto.randomUUID().replace(/-/g, "").slice(0, 6);
    const job = await kube.request<{ metadata: { name: string; uid: string } }>(
      "POST",
      `/apis/batch/v1/namespaces/${ns}/jobs`,
      {
        body: triggeredJob(
          { ...cronJob, metadata: { ...cronJob.metadata, namespace: ns } },
          suffix,
        ),
      },
    );
    return { job: job.metadata.name, runId: await runIdFor(job.metadata.uid), namespace: ns };
  });
}

/** Suspends (`true`) or resumes (`false`) a schedule's firings. */
export async function suspendSchedule(
  name: string,
  suspend: boolean,
  target: ClusterTarget,
): Promise<void> {
  await withCluster(target, async (kube, ns) => {
    await cronJobOf(kube, ns, name);
    await kube.request("PATCH", `${cronJobs(ns)}/${cronJobName(name)}`, {
      body: { spec: { suspend } },
      contentType: "application/merge-patch+json",
    });
  });
}

/**
 * Replaces a schedule's spec; the next firing runs it (a run going on keeps its own). A
 * CronJob made by another kt-deno version is refused: its controllers would refuse the spec.
 */
export async function updateSchedule(
  name: string,
  pipeline: Pipeline,
  target: ClusterTarget,
): Promise<void> {
  await withCluster(target, async (kube, ns) => {
    const cronJob = await cronJobOf(kube, ns, name);
    const version = settingsOfCronJob(cronJob).version;
    if (version !== VERSION) {
      throw new SetupError(
        `schedule ${name} runs kt-deno ${version}, this is ${VERSION}: update it with kt-deno ${version}, or delete it and create it again`,
      );
    }
    await writeScheduleSpec(dataFsOf(cronJob), name, pipeline, VERSION);
  });
}
