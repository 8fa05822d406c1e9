/**
 * Following a launched run to its end, for `run --wait`: task counts from the run's Jobs,
 * statuses from the state document, and the end from the controller's pod.
 *
 * @module
 */
import { PipelineRun } from "../engine/pipeline_run.ts";
import { JobStatus, type StateDocument } from "../engine/state.ts";
import { statePath } from "../records/layout.ts";
import type { ExecutorEvents } from "../executors/executor.ts";
import { DataFs } from "../storage/data_fs.ts";
import { NotFoundError } from "../storage/driver.ts";
import { openStorage } from "../storage/open.ts";
import { ApiError, type KubeClient } from "./client.ts";
import { Informer } from "./informer.ts";
import { finishedCondition, jobStatusOnly, type KubeJob, parseIndexes } from "./job_status.ts";
import { CONTROLLER_EXIT, type RunSettings } from "./manifests.ts";
import { controllerJobName, LABELS } from "./names.ts";

/** The parts of a Pod the launcher reads: the controller container's end. */
interface KubePod {
  metadata: { name: string; resourceVersion?: string };
  status?: {
    containerStatuses?: { name: string; state?: { terminated?: { exitCode: number } } }[];
  };
}

const FINAL_EXITS: ReadonlySet<number> = new Set(Object.values(CONTROLLER_EXIT));

/**
 * Runs a task when asked, one run at a time and at most once per interval; asks made
 * while it waits or runs are served by one more run afterwards.
 */
class Throttle {
  #running: Promise<void> | null = null;
  #again = false;
  #last = 0;
  #timer?: ReturnType<typeof setTimeout>;

  constructor(readonly task: () => Promise<void>, readonly interval: number) {}

  request(): void {
    if (this.#running || this.#timer) {
      this.#again = true;
      return;
    }
    const wait = this.#last + this.interval - Date.now();
    if (wait > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.request();
      }, wait);
      return;
    }
    this.#start();
  }

  /** A run that starts after every ask so far, however recent the last run. */
  async now(): Promise<void> {
    while (this.#running) await this.#running;
    this.cancel();
    await this.#start();
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #start(): Promise<void> {
    this.#last = Date.now();
    this.#again = false;
    this.#running = this.task().finally(() => {
      this.#running = null;
      if (this.#again) this.request();
    });
    return this.#running;
  }
}

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
  const reads = new Throttle(async () => {
    await readState();
    checkEnd();
    // Keep reading while the document lags behind the Jobs or cannot be read.
    if (lagging.size > 0 || outages.has("data dir")) reads.request();
  }, interval);

  let ending = false;
  const checkEnd = () => {
    if (ending || (controllerExit === undefined && !controllerJobEnd)) return;
    ending = true;
    void (async () => {
      await reads.now();
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
      reads.request();
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
    reads.request();
    return await Promise.race([
      finished,
      new Promise<never>((_, reject) =>
        stop.signal.addEventListener("abort", () => reject(options.signal?.reason))
      ),
    ]);
  } finally {
    clearInterval(watchdog);
    reads.cancel();
    options.signal?.removeEventListener("abort", abort);
    await Promise.all([jobs.stop(), pods.stop()]);
  }
}
