/**
 * `kt-deno controller`, the command of a run's controller Job: drives the engine with the
 * Kubernetes executor, resuming from the state document and the Jobs that already exist
 * when it is a restarted controller.
 *
 * Exit codes: 0 the run completed, 3 it failed, 2 this controller cannot run it (bad
 * settings, another kt-deno version, no spec); these end the controller Job. A recoverable
 * error (the data dir or the API server failing for longer than their retries) restarts
 * the drive loop inside this process, from the state document and the Jobs, as a new pod
 * would; only after several such restarts in a row does the process exit 1, and its Job
 * starts a new pod.
 *
 * @module
 */
import { PipelineRun, type RunOptions } from "../engine/pipeline_run.ts";
import { PACK_TASKS_FROM, readKeptSpec } from "../records/kept_spec.ts";
import { type StateDocument } from "../engine/state.ts";
import { statePath } from "../records/layout.ts";
import { drivePipeline } from "../run/drive.ts";
import { keepRecords } from "../records/driver_records.ts";
import { thisDriver } from "../records/heartbeat.ts";
import { DataFs } from "../storage/data_fs.ts";
import { NotFoundError, type StorageDriver } from "../storage/driver.ts";
import { openStorage } from "../storage/open.ts";
import { VersionMismatchError } from "../task/pod_env.ts";
import { VERSION } from "../version.ts";
import { backoffDelay, sleep } from "../async/backoff.ts";
import { reportInChildProcess } from "../run/report_child.ts";
import {
  ApiError,
  inClusterConnection,
  isTransient,
  KubeClient,
  type KubeConnection,
} from "./client.ts";
import { KubernetesExecutor } from "./executor.ts";
import { CannotRun } from "./errors.ts";
import { pruneAfterFiring, type ScheduledFiring, startFiring } from "./scheduled_run.ts";
import { CONTROLLER_EXIT, type Owner, type RunSettings, SETTINGS_ENV } from "./manifests.ts";
import { controllerJobName } from "./names.ts";
import { keptSpecPath } from "../records/layout.ts";

/** Where a controller gets its run and how it reaches the API server. */
export interface ControllerOptions {
  /** The run's settings as JSON (default: the `KT_RUN_SETTINGS` environment variable). */
  settings?: string;
  /** Defaults to the in-cluster connection. */
  connection?: KubeConnection;
  /** Receives progress lines (default: stderr with a timestamp, which is the pod's log). */
  log?: (line: string) => void;
  /** Drive-loop restarts in a row before the process gives up and exits 1. Default 8. */
  restarts?: number;
  /** First pause before a restart (doubling up to 30 s). Default 1 s. */
  restartDelayMs?: number;
  /** A schedule's firing: the run is started here, from the schedule's kept spec. */
  schedule?: ScheduledFiring;
}

/** A drive loop that lasted this long before an error counts as a fresh start. */
const STEADY_MS = 5 * 60_000;

const SETTINGS_FIELDS = ["runId", "namespace", "image", "dataDir", "version"] as const;

function parseSettings(raw: string | undefined, schedule?: ScheduledFiring): RunSettings {
  if (!raw) {
    throw new CannotRun(`${SETTINGS_ENV} is not set: the controller needs its run settings`);
  }
  let settings: RunSettings;
  try {
    settings = JSON.parse(raw);
  } catch (error) {
    throw new CannotRun(`${SETTINGS_ENV} is not JSON: ${(error as Error).message}`);
  }
  if (typeof settings?.version === "string" && settings.version !== VERSION) {
    throw new CannotRun(
      new VersionMismatchError(settings.version, VERSION, "controller image").message,
    );
  }
  // A schedule's firing takes its run id later, from its Job.
  const fields = schedule ? SETTINGS_FIELDS.filter((f) => f !== "runId") : SETTINGS_FIELDS;
  const missing = fields.filter((field) => typeof settings?.[field] !== "string");
  if (missing.length) throw new CannotRun(`${SETTINGS_ENV} lacks ${missing.join(", ")}`);
  return settings;
}

/**
 * A driver whose calls never complete once `live()` is false, so that a drive loop that
 * was abandoned after an error can neither write over the state of the one that replaced
 * it nor fail with errors that nobody awaits.
 */
function fenced(driver: StorageDriver, live: () => boolean): StorageDriver {
  return new Proxy(driver, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (!live()) {
          return Promise.reject(new Error("an abandoned drive loop touched the data dir"));
        }
        return value.apply(target, args);
      };
    },
  });
}

/** Runs (or resumes) the pipeline of this controller's run; resolves to the exit code. */
export async function runController(options: ControllerOptions = {}): Promise<number> {
  const log = options.log ??
    ((line: string) => console.error(`${new Date().toISOString()} ${line}`));
  let settings: RunSettings;
  try {
    settings = parseSettings(options.settings ?? Deno.env.get(SETTINGS_ENV), options.schedule);
    if (options.schedule) {
      settings = await startFiring(dataFs(settings), settings, options.schedule, log);
    }
  } catch (error) {
    log((error as Error).message);
    return error instanceof CannotRun || !options.schedule ? CONTROLLER_EXIT.cannotRun : 1;
  }
  const code = await driveWithRestarts(settings, options, log);
  if (options.schedule) await pruneAfterFiring(dataFs(settings), options.schedule, log);
  return code;
}

function dataFs(settings: RunSettings): DataFs {
  return new DataFs(openStorage(settings.dataDir));
}

/** Drives the run, restarting the drive loop after a recoverable error; resolves to the exit code. */
async function driveWithRestarts(
  settings: RunSettings,
  options: ControllerOptions,
  log: (line: string) => void,
): Promise<number> {
  const kube = new KubeClient(options.connection ?? inClusterConnection());
  const restarts = options.restarts ?? 8;
  let generation = 0;
  try {
    for (let attempt = 0;; attempt++) {
      const mine = ++generation;
      const started = Date.now();
      try {
        const run = await driveOnce(kube, settings, log, () => generation === mine);
        return run.status === "Completed" ? CONTROLLER_EXIT.completed : CONTROLLER_EXIT.failed;
      } catch (error) {
        const message = (error as Error).message;
        if (error instanceof CannotRun) {
          log(`cannot run ${settings.runId}: ${message}`);
          return CONTROLLER_EXIT.cannotRun;
        }
        // A loop that ran a good while before failing made progress: count afresh.
        if (Date.now() - started > STEADY_MS) attempt = 0;
        if (attempt >= restarts) throw error;
        const delay = Math.round(
          backoffDelay(attempt, { firstMs: options.restartDelayMs ?? 1000, maxMs: 30_000 }),
        );
        log(`recoverable error: ${message}; restarting the drive loop in ${delay} ms`);
        generation++;
        await sleep(delay);
      }
    }
  } finally {
    kube.close();
  }
}

/** Long task lists stay packed in the controller (see kept_spec.ts). */
const packed: RunOptions = { packTasksFrom: PACK_TASKS_FROM };

/** The Job that owns this run's Jobs: the controller Job itself. */
async function ownerJob(kube: KubeClient, settings: RunSettings): Promise<Owner> {
  const name = settings.controllerJob ?? controllerJobName(settings.runId);
  try {
    const self = await kube.request<{ metadata: { uid: string } }>(
      "GET",
      `/apis/batch/v1/namespaces/${settings.namespace}/jobs/${name}`,
    );
    return { apiVersion: "batch/v1", kind: "Job", name, uid: self.metadata.uid };
  } catch (error) {
    if (error instanceof ApiError && !isTransient(error)) {
      throw new CannotRun(`cannot read the controller Job: ${error.message}`);
    }
    throw error;
  }
}

/** One drive loop: state and Jobs as they are now, to the end of the run. */
async function driveOnce(
  kube: KubeClient,
  settings: RunSettings,
  log: (line: string) => void,
  live: () => boolean,
): Promise<PipelineRun> {
  const owner = await ownerJob(kube, settings);
  const fs = new DataFs(fenced(openStorage(settings.dataDir), live));
  let run: PipelineRun;
  try {
    const doc = await fs.readJson<StateDocument>(statePath(settings.runId));
    run = PipelineRun.resume(doc, { ...packed, adopt: true });
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    const pipeline = await readKeptSpec(fs, settings.runId).catch((error) => {
      if (!(error instanceof NotFoundError)) throw error;
      throw new CannotRun(
        `the run's spec is not in the data dir (${
          keptSpecPath(settings.runId)
        } in ${settings.dataDir}); the launcher writes it there, so the launcher and the pods must see the same data dir`,
      );
    });
    run = PipelineRun.start(settings.runId, pipeline, new Date(), settings.version, packed);
  }
  if (run.status !== "Running") {
    await finishRun(kube, settings, run, log);
    return run;
  }
  // The heartbeat and the kept copy of this log last as long as this drive loop.
  const records = await keepRecords(
    fs,
    run,
    thisDriver("controller", settings.namespace, settings.schedule),
    log,
  );
  try {
    const done = await driveRun(kube, settings, records.log, live, fs, owner, run);
    await finishRun(kube, settings, done, records.log);
    return done;
  } finally {
    await records.stop().catch(() => {});
  }
}

/** The end of a run: its status and the API retries in the log, and its HTML report. */
async function finishRun(
  kube: KubeClient,
  settings: RunSettings,
  run: PipelineRun,
  log: (line: string) => void,
): Promise<void> {
  const { throttled, serverErrors, network } = kube.retries;
  log(
    `run ${settings.runId} ${run.status}; API requests retried: ${throttled} throttled (429), ${serverErrors} server errors, ${network} connection errors`,
  );
  const report = await reportInChildProcess(settings.dataDir, settings.runId, log);
  if (report) log(`report: ${report}`);
}

async function driveRun(
  kube: KubeClient,
  settings: RunSettings,
  log: (line: string) => void,
  live: () => boolean,
  fs: DataFs,
  owner: Owner,
  run: PipelineRun,
): Promise<PipelineRun> {
  if (run.jobs().some((job) => job.type === "dynamic" && job.status !== "Completed")) {
    // Checking the jobs a dynamic job returns needs the schema; load it now, not then.
    void import("../spec/validate.ts");
  }
  const resumed = run.jobs().some((job) => job.status !== "Pending");
  log(`kt-deno controller ${VERSION}: ${resumed ? "resuming" : "starting"} run ${settings.runId}`);
  let logged = run.version;
  const executor = new KubernetesExecutor({ kube, settings, fs, owner, log });
  await executor.start().catch((error) => {
    if (error instanceof ApiError && !isTransient(error)) {
      throw new CannotRun(`cannot list the run's Jobs: ${error.message}`);
    }
    throw error;
  });
  return await drivePipeline(run, executor, fs, {
    // A lost data dir restarts this loop (runController) rather than failing the run.
    failOnDataDirLoss: false,
    onChange: (r) => {
      if (!live()) return;
      // Only the jobs that changed since the last call: the cost does not grow with the run.
      for (const job of r.changedSince(logged)) {
        log(`${job.name} ${job.status}${job.error ? `: ${job.error}` : ""}`);
      }
      logged = r.version;
    },
  });
}
