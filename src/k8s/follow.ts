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
import { Coalescer } from "../async/coalescer.ts";
import { openStorage } from "../storage/open.ts";
import { ApiError, type KubeClient } from "./client.ts";
import { Informer } from "./informer.ts";
import { finishedCondition, jobStatusOnly, type KubeJob, parseIndexes } from "./job_status.ts";
import { CONTROLLER_EXIT, type RunSettings, taskProgress } from "./manifests.ts";
import { tasksPerPod } from "../spec/pod_count.ts";
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
 * When no Job of the run is left running, how long after the last one ended the state
 * document is read at the quick pace (the run may be over).
 */
const QUICK_READS_MS = 2000;
/**
 * The quick pace: the run's end is seen within this of its final state write, or within
 * four times what a read takes, for a document that takes long to read.
 */
const QUICK_READ_MS = 25;

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
 * state document (read after Job events, at most every `readIntervalMs`, and quickly while
 * it lags behind a Job that ended), and the end from the state document (a final status),
 * the controller's pod (its exit code) or, failing both, the controller Job's condition.
 * Rides out an unreachable API server or data dir for `retryForMs`, then gives up.
 *
 * @example
 * ```ts ignore
 * const result = await followRun(kube, settings, { update: (run) => {}, events: {} });
 * result.outcome; // "Completed"
 * ```
 */
export function followRun(
  kube: KubeClient,
  settings: RunSettings,
  view: FollowView,
  options: FollowOptions = {},
): Promise<FollowResult> {
  return new RunFollower(kube, settings, view, options).follow();
}

/** What a follower shows: the run as its state document says, and task counts. */
export interface FollowView {
  update(run: PipelineRun): void;
  events: ExecutorEvents;
}

/** One following of one run: its state, what it saw of the controller, its outages. */
class RunFollower {
  readonly #fs: DataFs;
  readonly #retryForMs: number;
  readonly #controller: string;
  #state: StateDocument | null = null;
  #controllerExit?: number;
  #controllerJobEnd?: "Complete" | "Failed";
  /** What is unreachable, since when. */
  readonly #outages = new Map<string, number>();
  /** Finished kt jobs the state document does not show as finished yet. */
  readonly #lagging = new Set<string>();
  /** The run's kt Jobs that have not finished. */
  readonly #unfinished = new Set<string>();
  #lastEnd = 0;
  #readTook = 0;
  readonly #reads: Coalescer;
  readonly #finished = Promise.withResolvers<FollowResult>();
  #ending = false;

  constructor(
    readonly kube: KubeClient,
    readonly settings: RunSettings,
    readonly view: FollowView,
    readonly options: FollowOptions,
  ) {
    this.#fs = new DataFs(openStorage(settings.dataDir));
    this.#retryForMs = options.retryForMs ?? 300_000;
    this.#controller = controllerJobName(settings.runId);
    const interval = options.readIntervalMs ?? 250;
    const quick = () =>
      this.#lagging.size > 0 && this.#unfinished.size === 0 &&
      Date.now() - this.#lastEnd < QUICK_READS_MS;
    this.#reads = new Coalescer(
      () => this.#read(),
      () => quick() ? Math.min(interval, Math.max(QUICK_READ_MS, 4 * this.#readTook)) : interval,
    );
  }

  /** Watches the run's Jobs and controller pod until the run ends (or following gives up). */
  async follow(): Promise<FollowResult> {
    const jobs = this.#jobInformer();
    const pods = this.#controllerPodInformer();
    const stop = new AbortController();
    const abort = () => stop.abort();
    this.options.signal?.addEventListener("abort", abort, { once: true });
    const watchdog = setInterval(() => this.#checkOutages(), Math.min(1000, this.#retryForMs / 4));
    try {
      const started = Promise.all([
        jobs.start(),
        pods.start().catch((error) => {
          // Without the right to read pods, the controller Job's condition tells the end.
          if (!(error instanceof ApiError && error.status === 403)) throw error;
        }),
      ]);
      started.catch(() => {});
      await Promise.race([started, this.#finished.promise]);
      this.#reads.request();
      return await Promise.race([
        this.#finished.promise,
        new Promise<never>((_, reject) =>
          stop.signal.addEventListener("abort", () => reject(this.options.signal?.reason))
        ),
      ]);
    } finally {
      clearInterval(watchdog);
      this.#reads.cancel();
      this.options.signal?.removeEventListener("abort", abort);
      await Promise.all([jobs.stop(), pods.stop()]);
    }
  }

  /** The run's Jobs: task counts, Jobs the state lags behind, the controller Job's end. */
  #jobInformer(): Informer<KubeJob> {
    return new Informer<KubeJob>({
      kube: this.kube,
      path: `/apis/batch/v1/namespaces/${this.settings.namespace}/jobs`,
      labelSelector: `${LABELS.runId}=${this.settings.runId}`,
      transform: jobStatusOnly,
      onHealth: (error) => this.#outage("API server", error),
      onChange: (name, job) => {
        if (job) this.#onJob(name, job);
      },
    });
  }

  /** The controller's pod: its exit code, once it is one the controller ends with. */
  #controllerPodInformer(): Informer<KubePod> {
    return new Informer<KubePod>({
      kube: this.kube,
      path: `/api/v1/namespaces/${this.settings.namespace}/pods`,
      labelSelector: `${LABELS.runId}=${this.settings.runId},${LABELS.component}=controller`,
      onHealth: (error) => this.#outage("API server", error),
      onChange: (_name, pod) => {
        const status = pod?.status?.containerStatuses?.find((c) => c.name === "controller");
        const code = status?.state?.terminated?.exitCode;
        if (code === undefined || !FINAL_EXITS.has(code)) return;
        this.#controllerExit = code;
        this.#checkEnd();
      },
    });
  }

  #onJob(name: string, job: KubeJob): void {
    const ktJob = job.metadata.labels?.[LABELS.job];
    const end = finishedCondition(job)?.type as "Complete" | "Failed" | undefined;
    if (ktJob && end) {
      if (this.#unfinished.delete(ktJob) || !this.#lastEnd) this.#lastEnd = Date.now();
    } else if (ktJob) this.#unfinished.add(ktJob);
    if (ktJob) {
      const failed = parseIndexes(job.status?.failedIndexes).length;
      const known = this.#state?.jobs[ktJob];
      this.view.events.progress?.(
        known && Array.isArray(known.tasks) && tasksPerPod(known) > 1
          ? taskProgress(known, job.status ?? {}, failed)
          : {
            job: ktJob,
            total: job.spec?.completions ?? 0,
            succeeded: job.status?.succeeded ?? 0,
            running: job.status?.active ?? 0,
            failed,
          },
      );
      if (end && this.#state?.jobs[ktJob]?.status !== JobStatus.Completed) {
        this.#lagging.add(ktJob);
      }
    }
    if (name === this.#controller && end) {
      this.#controllerJobEnd = end;
      this.#checkEnd();
    }
    this.#reads.request();
  }

  /** One read of the state document; keeps reading while it lags or cannot be read. */
  async #read(): Promise<void> {
    const started = performance.now();
    await this.#readState();
    this.#readTook = performance.now() - started;
    if (this.#state && this.#state.status !== "Running") this.#end();
    this.#checkEnd();
    if (this.#lagging.size > 0 || this.#outages.has("data dir")) this.#reads.request();
  }

  async #readState(): Promise<void> {
    try {
      const doc = await this.#fs.readJson<StateDocument>(statePath(this.settings.runId));
      this.#outage("data dir", null);
      this.#state = doc;
      for (const job of this.#lagging) {
        if (doc.jobs[job] && doc.jobs[job].status !== JobStatus.Running) this.#lagging.delete(job);
      }
      this.view.update(PipelineRun.resume(doc));
    } catch (error) {
      if (!(error instanceof NotFoundError)) this.#outage("data dir", error);
    }
  }

  /** Ends once the controller's pod or Job has ended, after a last read of the state. */
  #checkEnd(): void {
    if (this.#ending || (this.#controllerExit === undefined && !this.#controllerJobEnd)) return;
    this.#ending = true;
    void this.#reads.now().then(() => this.#end());
  }

  /**
   * Settles how the run ended: as its state document says when it is final; without one
   * here, as the controller's exit says.
   */
  #end(): void {
    const state = this.#state;
    const exit = this.#controllerExit;
    const final = state && state.status !== "Running" ? state.status : undefined;
    const controllerOk = exit === undefined
      ? this.#controllerJobEnd === "Complete"
      : exit === CONTROLLER_EXIT.completed;
    const ok = final ? final === "Completed" : !state && controllerOk;
    this.#finished.resolve({
      outcome: ok ? "Completed" : "Failed",
      state,
      controllerExit: exit,
      reason: final || ok
        ? undefined
        : exit === CONTROLLER_EXIT.cannotRun
        ? "the controller could not run this run"
        : "the controller failed before the run ended",
    });
  }

  /** Notes that `what` is unreachable (with the error) or reachable again (null). */
  #outage(what: string, error: unknown | null): void {
    if (error === null) {
      if (this.#outages.delete(what) && this.#outages.size === 0) this.options.onOutage?.(null);
      return;
    }
    if (this.#outages.has(what)) return;
    this.#outages.set(what, Date.now());
    const detail = (error as { code?: string }).code ?? (error as Error).message;
    this.options.onOutage?.(`${what} unreachable, retrying ... (${detail})`);
  }

  /** Gives up once something stayed unreachable for `retryForMs`. */
  #checkOutages(): void {
    const since = Math.min(...this.#outages.values());
    if (since + this.#retryForMs > Date.now()) return;
    const what = [...this.#outages.keys()].join(" and ");
    this.#finished.resolve({
      outcome: "GaveUp",
      state: this.#state,
      reason: `${what} unreachable for ${Math.round((Date.now() - since) / 1000)} s`,
    });
  }
}
