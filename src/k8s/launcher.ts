/**
 * The launcher: starts a run on a cluster (the spec in the data dir, a controller Job) and,
 * when asked, follows it to the end.
 *
 * @module
 */
import { PipelineRun } from "../engine/pipeline_run.ts";
import { JobStatus, type StateDocument, statePath } from "../engine/state.ts";
import type { ExecutorEvents } from "../executors/executor.ts";
import type { Pipeline } from "../spec/schema.ts";
import { DataFs } from "../storage/data_fs.ts";
import { NotFoundError } from "../storage/driver.ts";
import { openStorage } from "../storage/open.ts";
import { VERSION } from "../version.ts";
import { ApiError, type KubeClient } from "./client.ts";
import { specPath } from "./controller.ts";
import { finishedCondition, jobStatusOnly, type KubeJob, parseIndexes } from "./job_status.ts";
import { Informer } from "./informer.ts";
import {
  CONTROLLER_EXIT,
  controllerJob,
  defaultControllerImage,
  type RunSettings,
  SERVICE_ACCOUNT,
} from "./manifests.ts";
import { controllerJobName, LABELS } from "./names.ts";

/**
 * Starts a run: writes its (validated) spec to `kt-metadata/<run id>/pipeline_spec.json`
 * in the data dir, then creates the controller Job, whose settings travel in its
 * environment.
 */
export async function launchRun(kube: KubeClient, settings: RunSettings, pipeline: Pipeline) {
  const ns = settings.namespace;
  await kube.request("GET", `/api/v1/namespaces/${ns}/serviceaccounts/${SERVICE_ACCOUNT}`).catch(
    (error) => {
      if (error instanceof ApiError && error.status === 404) {
        throw new Error(
          `service account ${SERVICE_ACCOUNT} not found in namespace ${ns}: run \`kt-deno rbac --namespace ${ns} | kubectl apply -f -\` first`,
        );
      }
      if (!(error instanceof ApiError && error.status === 403)) throw error;
    },
  );
  const fs = new DataFs(openStorage(settings.dataDir));
  await fs.write(specPath(settings.runId), JSON.stringify(pipeline));
  await kube.request("POST", `/apis/batch/v1/namespaces/${ns}/jobs`, {
    body: controllerJob(settings),
  });
}

/** Default settings for a launch, filled from the launcher's flags. */
export function runSettings(options: {
  runId: string;
  namespace: string;
  image: string;
  controllerImage?: string;
  dataDir: string;
  hostDataPath: string | null;
  ttlSecondsAfterFinished?: number;
  env?: Record<string, string>;
  envFromSecrets?: string[];
}): RunSettings {
  return {
    runId: options.runId,
    namespace: options.namespace,
    image: options.image,
    controllerImage: options.controllerImage ?? defaultControllerImage(),
    dataDir: options.dataDir,
    version: VERSION,
    hostDataPath: options.hostDataPath,
    ttlSecondsAfterFinished: options.ttlSecondsAfterFinished ?? 3600,
    env: options.env ?? {},
    envFromSecrets: options.envFromSecrets ?? [],
  };
}

/** The parts of a Pod the launcher reads: the controller container's end. */
interface KubePod {
  metadata: { name: string; resourceVersion?: string };
  status?: {
    containerStatuses?: { name: string; state?: { terminated?: { exitCode: number } } }[];
  };
}

const FINAL_EXITS: ReadonlySet<number> = new Set(Object.values(CONTROLLER_EXIT));

/** How following a run ended. */
export interface FollowResult {
  /** Completed or Failed: the run is over; GaveUp: the cluster or data dir stayed unreachable. */
  outcome: "Completed" | "Failed" | "GaveUp";
  /** The last state document read, or null when none could be read here. */
  state: StateDocument | null;
  /** The controller's exit code, when its pod's end was seen. */
  controllerExit?: number;
  /** Why it gave up, or why the run failed without a final state document. */
  reason?: string;
}

/** Settings of {@linkcode followRun}. */
export interface FollowOptions {
  signal?: AbortSignal;
  /** How long the API server or the data dir may stay unreachable before giving up. */
  retryForMs?: number;
  /** Least time between two reads of the state document. Default 250 ms. */
  readIntervalMs?: number;
  /** Told once when an outage starts (a line to print) and with null when it ends. */
  onOutage?: (line: string | null) => void;
}

/**
 * Follows a launched run to its end: task counts from the run's Jobs, statuses from the
 * state document (read after Job events, at most every `readIntervalMs`), and the end from
 * the controller's pod (its exit code) or, failing that, the controller Job's condition.
 * Rides out an unreachable API server or data dir for `retryForMs`, then gives up.
 */
export async function followRun(
  kube: KubeClient,
  settings: RunSettings,
  view: { update(run: PipelineRun): void; events: ExecutorEvents },
  options: FollowOptions = {},
): Promise<FollowResult> {
  const fs = new DataFs(openStorage(settings.dataDir));
  const interval = options.readIntervalMs ?? 250;
  const retryFor = options.retryForMs ?? 300_000;
  const controllerName = controllerJobName(settings.runId);
  const ns = settings.namespace;
  let state: StateDocument | null = null;
  let controllerExit: number | undefined;
  let controllerJobEnd: "Complete" | "Failed" | undefined;
  const outages = new Map<string, number>();
  let settle: (result: FollowResult) => void = () => {};
  const finished = new Promise<FollowResult>((resolve) => settle = resolve);

  const outage = (what: string, error: unknown | null) => {
    if (error === null) {
      if (outages.delete(what) && outages.size === 0) options.onOutage?.(null);
      return;
    }
    if (outages.has(what)) return;
    outages.set(what, Date.now());
    const detail = (error as { code?: string }).code ?? (error as Error).message;
    options.onOutage?.(`${what} unreachable, retrying ... (${detail})`);
  };

  // Finished kt jobs the state document does not show as finished yet: reread until it does.
  const lagging = new Set<string>();
  const readState = async (): Promise<void> => {
    try {
      const doc = await fs.readJson<StateDocument>(statePath(settings.runId));
      outage("data dir", null);
      state = doc;
      for (const job of lagging) {
        if (doc.jobs[job] && doc.jobs[job].status !== JobStatus.Running) lagging.delete(job);
      }
      view.update(PipelineRun.resume(doc));
    } catch (error) {
      if (!(error instanceof NotFoundError)) outage("data dir", error);
    }
  };
  let reading: Promise<void> | null = null;
  let again = false;
  let lastRead = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** Asks for a read: now if none was made lately, else once the interval has passed. */
  const requestRead = () => {
    if (reading || timer) {
      again = true;
      return;
    }
    const wait = lastRead + interval - Date.now();
    if (wait > 0) {
      timer = setTimeout(() => {
        timer = undefined;
        requestRead();
      }, wait);
      return;
    }
    lastRead = Date.now();
    reading = readState().finally(() => {
      reading = null;
      checkEnd();
      if (again || lagging.size > 0 || outages.has("data dir")) {
        again = false;
        requestRead();
      }
    });
  };
  /** A read that starts after everything seen so far, however recent the last one. */
  const readNow = async () => {
    while (reading) await reading;
    clearTimeout(timer);
    timer = undefined;
    lastRead = Date.now();
    reading = readState().finally(() => reading = null);
    await reading;
  };

  let ending = false;
  const checkEnd = () => {
    if (ending || (controllerExit === undefined && !controllerJobEnd)) return;
    ending = true;
    void (async () => {
      await readNow();
      const final = state && state.status !== "Running" ? state.status : undefined;
      // Without a state document here, the controller's exit says how the run ended.
      const controllerOk = controllerExit === undefined
        ? controllerJobEnd === "Complete"
        : controllerExit === CONTROLLER_EXIT.completed;
      const ok = final ? final === "Completed" : !state && controllerOk;
      settle({
        outcome: ok ? "Completed" : "Failed",
        state,
        controllerExit,
        reason: final || ok
          ? undefined
          : controllerExit === CONTROLLER_EXIT.cannotRun
          ? "the controller could not run this run"
          : "the controller failed before the run ended",
      });
    })();
  };

  const jobs = new Informer<KubeJob>({
    kube,
    path: `/apis/batch/v1/namespaces/${ns}/jobs`,
    labelSelector: `${LABELS.runId}=${settings.runId}`,
    transform: jobStatusOnly,
    onHealth: (error) => outage("API server", error),
    onChange: (name, job) => {
      if (!job) return;
      const ktJob = job.metadata.labels?.[LABELS.job];
      const end = finishedCondition(job)?.type as "Complete" | "Failed" | undefined;
      if (ktJob) {
        view.events.progress?.({
          job: ktJob,
          total: job.spec?.completions ?? 0,
          succeeded: job.status?.succeeded ?? 0,
          running: job.status?.active ?? 0,
          failed: parseIndexes(job.status?.failedIndexes).length,
        });
        if (end && state?.jobs[ktJob]?.status !== JobStatus.Completed) lagging.add(ktJob);
      }
      if (name === controllerName && end) {
        controllerJobEnd = end;
        checkEnd();
      }
      requestRead();
    },
  });
  const pods = new Informer<KubePod>({
    kube,
    path: `/api/v1/namespaces/${ns}/pods`,
    labelSelector: `${LABELS.runId}=${settings.runId},${LABELS.component}=controller`,
    onHealth: (error) => outage("API server", error),
    onChange: (_name, pod) => {
      const status = pod?.status?.containerStatuses?.find((c) => c.name === "controller");
      const code = status?.state?.terminated?.exitCode;
      if (code === undefined || !FINAL_EXITS.has(code)) return;
      controllerExit = code;
      checkEnd();
    },
  });

  const stop = new AbortController();
  const abort = () => stop.abort();
  options.signal?.addEventListener("abort", abort, { once: true });
  const watchdog = setInterval(() => {
    const since = Math.min(...outages.values());
    if (since + retryFor > Date.now()) return;
    const what = [...outages.keys()].join(" and ");
    settle({
      outcome: "GaveUp",
      state,
      reason: `${what} unreachable for ${Math.round((Date.now() - since) / 1000)} s`,
    });
  }, Math.min(1000, retryFor / 4));
  try {
    const started = Promise.all([
      jobs.start(),
      pods.start().catch((error) => {
        // Without the right to read pods, the controller Job's condition tells the end.
        if (!(error instanceof ApiError && error.status === 403)) throw error;
      }),
    ]);
    started.catch(() => {});
    await Promise.race([started, finished]);
    requestRead();
    return await Promise.race([
      finished,
      new Promise<never>((_, reject) =>
        stop.signal.addEventListener("abort", () => reject(options.signal?.reason))
      ),
    ]);
  } finally {
    clearInterval(watchdog);
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", abort);
    await Promise.all([jobs.stop(), pods.stop()]);
  }
}
