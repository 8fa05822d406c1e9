/**
 * The pipeline driver: feeds an executor's outcomes to the engine and submits what the
 * engine makes ready. The same loop drives the local executor and the Kubernetes one.
 *
 * @module
 */
import type { PipelineRun } from "../engine/pipeline_run.ts";
import { dynamicOutputPath } from "../records/layout.ts";
import { type JobState } from "../engine/state.ts";
import type { Executor, JobOutcome } from "../executors/executor.ts";
import type { Job } from "../spec/schema.ts";
import type { DataFs } from "../storage/data_fs.ts";
import { isDataDirFailure } from "../storage/retrying.ts";
import { StateWriter } from "../records/state_writer.ts";

/** Settings of {@linkcode drivePipeline}. */
export interface DriveOptions {
  /** Aborting stops the run: running work is stopped and the state says Interrupted. */
  signal?: AbortSignal;
  /** Aborted with `signal` when the stop is a cancel: the state says Cancelled instead. */
  cancel?: AbortSignal;
  /** Called after every change of the run's state. */
  onChange?: (run: PipelineRun) => void;
  /** The clock (tests pass their own). */
  now?: () => Date;
  /**
   * When the data dir stays unreachable past its retry bound, mark the run Failed (the
   * default, for a launcher that will not try again) or leave it Running and only throw
   * (for a driver that restarts its loop, as the controller does).
   */
  failOnDataDirLoss?: boolean;
}

/**
 * Reads and validates the jobs a dynamic job returned. Returns the jobs, or the reason
 * they cannot be registered.
 */
export async function readDescendants(
  fs: DataFs,
  run: PipelineRun,
  job: Readonly<JobState>,
): Promise<{ jobs: Job[] } | { error: string }> {
  let raw: unknown;
  try {
    raw = await fs.readJson(dynamicOutputPath(run.runId, job.name));
  } catch (error) {
    return { error: `cannot read the jobs it returned: ${(error as Error).message}` };
  }
  // The schema (zod) loads only when a dynamic job has returned jobs to check.
  const { formatProblem, validateDescendants } = await import("../spec/validate.ts");
  // The engine checks names again when it registers the jobs: two dynamic jobs may return
  // the same name while both are here.
  const existing = { has: (name: string) => run.job(name) !== undefined };
  let result: ReturnType<typeof validateDescendants>;
  try {
    result = validateDescendants(raw, job.name, existing);
  } catch (error) {
    // What a task returned is input: no value of it may stop the driver.
    return { error: `the jobs it returned cannot be checked: ${(error as Error).message}` };
  }
  if (result.ok) return { jobs: result.value };
  return {
    error: `the jobs it returned are invalid: ${result.problems.map(formatProblem).join("; ")}`,
  };
}

/**
 * Runs a pipeline to the end (or until interrupted) and returns when nothing is under
 * way. Jobs already Running in a resumed run are handed to the executor again, which
 * adopts them.
 */
export async function drivePipeline(
  run: PipelineRun,
  executor: Executor,
  fs: DataFs,
  options: DriveOptions = {},
): Promise<PipelineRun> {
  const now = options.now ?? (() => new Date());
  const writer = new StateWriter(fs, run);
  const idle = Promise.withResolvers<void>();
  idle.promise.catch(() => {}); // awaited below, perhaps only after it fails
  let inFlight = 0;
  /** Jobs launched whose end has not yet been given to the engine. */
  let underWay = 0;
  let interrupted = false;

  /** The write that the last save joined, watched for a failure (see `changed`). */
  let watched: Promise<void> | undefined;
  /**
   * Saves the state; `now` writes it without waiting for the writer's gap. Nothing waits
   * for the write: a job's end holds nothing until the next one (10,000 jobs ending between
   * two writes would each hold their closures that long), and a write that fails stops the
   * run through `idle`. The saves between two writes share one write, watched once.
   */
  const changed = (now = false) => {
    options.onChange?.(run);
    const saved = now ? writer.flush() : writer.save();
    if (saved !== watched) {
      watched = saved;
      saved.catch(idle.reject);
    }
    return saved;
  };
  const finish = async (job: Readonly<JobState>, outcome: JobOutcome) => {
    if (!outcome.ok) {
      run.fail(
        job.name,
        outcome.error ?? "failed",
        now(),
        outcome.taskRetries,
        outcome.failedTasks,
        outcome.taskCounts,
      );
    } else if (job.type === "static") run.succeed(job.name, [], now(), outcome.taskRetries);
    else {
      const found = await readDescendants(fs, run, job);
      if ("jobs" in found) run.succeed(job.name, found.jobs, now(), outcome.taskRetries);
      else run.fail(job.name, found.error, now(), outcome.taskRetries);
    }
    if (!interrupted) launch(run.advance(now()));
    // No job is under way any more (this one was the last, and made none ready): the run is
    // over, and its last state need not wait for the gap between writes.
    changed(--underWay === 0);
  };
  const launch = (jobs: readonly Readonly<JobState>[]) => {
    for (const job of jobs) {
      inFlight++;
      underWay++;
      executor.run(job).then((outcome) => finish(job, outcome)).then(
        () => --inFlight === 0 && idle.resolve(),
        idle.reject,
      );
    }
  };
  const interrupt = () => {
    interrupted = true;
    const cancelled = options.cancel?.aborted === true;
    const reason = cancelled ? options.cancel!.reason : options.signal?.reason;
    run.interrupt(String(reason ?? (cancelled ? "cancelled" : "interrupted")), now(), cancelled);
    executor.stop(cancelled ? "the run was cancelled" : "the run was interrupted");
  };

  if (options.signal?.aborted) interrupt();
  options.signal?.addEventListener("abort", interrupt, { once: true });
  let failure: unknown;
  try {
    const first = interrupted ? [] : [...run.running(), ...run.advance(now())];
    // The first write also makes the data dir, which tasks may write into without a care.
    await changed();
    if (!interrupted) launch(first);
    if (inFlight > 0) await idle.promise;
  } catch (error) {
    failure = error;
    interrupted = true;
    // The data dir stayed unreachable past its retry bound: the run cannot go on. The
    // final write below retries for the bound again; when the store is still gone, the
    // state keeps saying Running and only the run's liveness marker, no longer
    // refreshed by this process, shows that nobody drives it.
    const fail = options.failOnDataDirLoss ?? true;
    if (fail && isDataDirFailure(error) && run.status === "Running") {
      run.abandon(`the run stopped: ${(error as Error).message}`, now());
    }
  } finally {
    options.signal?.removeEventListener("abort", interrupt);
    await executor.stop("the run ended");
    options.onChange?.(run);
    await writer.flush().catch((error) => failure ??= error);
  }
  if (failure !== undefined) throw failure;
  return run;
}
