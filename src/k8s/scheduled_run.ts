/**
 * The start and end of a run a schedule fires (`kt-deno controller --schedule NAME`): its
 * controller takes a run id from its own Job's uid (so a restarted pod of the same Job
 * resumes the same run), copies the schedule's kept spec into that run's layout as the
 * launcher would, and after the run prunes the schedule's old runs when asked to.
 *
 * @module
 */
import { readKeptSpec, writeKeptSpec } from "../records/kept_spec.ts";
import { writeLaunch } from "../records/launch.ts";
import { keptSpecPath, scheduleSpecPath, statePath } from "../records/layout.ts";
import { planPrune, removeRuns } from "../records/prune.ts";
import { runIdFor } from "../records/run_id.ts";
import { readScheduleSpec } from "../records/schedule_spec.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { NotFoundError } from "../storage/driver.ts";
import { VERSION } from "../version.ts";
import { CannotRun } from "./errors.ts";
import { CONTROLLER_JOB_ENV, type RunSettings } from "./manifests.ts";

/** The schedule a controller runs for. */
export interface ScheduledFiring {
  name: string;
  /** Keep this many of the schedule's finished runs; prune the rest after the run. */
  keep?: number;
  /** The controller's Job (default: from its pod's environment). */
  job?: { name: string; uid: string };
}

function jobOf(firing: ScheduledFiring): { name: string; uid: string } {
  if (firing.job) return firing.job;
  const name = Deno.env.get(CONTROLLER_JOB_ENV.name);
  const uid = Deno.env.get(CONTROLLER_JOB_ENV.uid);
  if (!name || !uid) {
    throw new CannotRun(
      `${CONTROLLER_JOB_ENV.name} and ${CONTROLLER_JOB_ENV.uid} are not set: a schedule's controller needs its Job's name and uid`,
    );
  }
  return { name, uid };
}

/**
 * Starts the run of a firing (or finds it, for a restarted pod): returns the settings of
 * that run. The launch record goes first and the kept spec last, so a run with a kept spec
 * is whole.
 */
export async function startFiring(
  fs: DataFs,
  settings: RunSettings,
  firing: ScheduledFiring,
  log: (line: string) => void,
): Promise<RunSettings> {
  const job = jobOf(firing);
  const runId = await runIdFor(job.uid);
  const run = { ...settings, runId, schedule: firing.name, controllerJob: job.name };
  if (await fs.exists(statePath(runId)) || await fs.exists(keptSpecPath(runId))) {
    log(`schedule ${firing.name}: Job ${job.name} continues run ${runId}`);
    return run;
  }
  const kept = await readScheduleSpec(fs, firing.name).catch((error) => {
    if (!(error instanceof NotFoundError)) throw error;
    throw new CannotRun(
      `schedule ${firing.name} has no spec in the data dir (${
        scheduleSpecPath(firing.name)
      } in ${settings.dataDir}): was it deleted?`,
    );
  });
  if (kept.kt_version !== VERSION) {
    throw new CannotRun(
      `schedule ${firing.name}'s spec was kept by kt-deno ${kept.kt_version}, this controller is ${VERSION}: update the schedule with kt-deno ${VERSION}`,
    );
  }
  await writeLaunch(fs, runId, {
    namespace: settings.namespace,
    schedule: firing.name,
    controller_job: job.name,
  });
  await writeKeptSpec(fs, runId, kept.pipeline);
  // What the controller reads back is what every run reads: a check that the copy is whole.
  await readKeptSpec(fs, runId);
  log(`schedule ${firing.name}: Job ${job.name} starts run ${runId}`);
  return run;
}

/** After a firing's run: removes the schedule's finished runs beyond the newest `keep`. */
export async function pruneAfterFiring(
  fs: DataFs,
  firing: ScheduledFiring,
  log: (line: string) => void,
): Promise<void> {
  if (!firing.keep) return;
  try {
    const plan = await planPrune(fs, { keep: firing.keep, schedule: firing.name });
    await removeRuns(fs, plan.remove);
    if (plan.remove.length) {
      log(
        `pruned ${plan.remove.length} old runs of schedule ${firing.name}: ${
          plan.remove.map((run) => run.run_id).join(" ")
        }`,
      );
    }
  } catch (error) {
    log(`cannot prune the old runs of schedule ${firing.name}: ${(error as Error).message}`);
  }
}
