/**
 * A packed pod (`tasks_per_pod: N`, N > 1): pod k of a job runs tasks `[k·N, (k+1)·N)`
 * through the local executor's worker pool, at most as many at once as the job's `cpu`
 * allows (`KT_POD_WORKERS`, at least 1). Each task is still itself: its own
 * `JOB_COMPLETION_INDEX`, log, retries, time and error file. Tasks that already have a
 * done record (from an earlier pod of this index, or an earlier run before a resume) are
 * not run again. Exit code: 0 every task done, 1 a task failed after its retries, 2 the
 * pod is set up wrong, 143 stopped by SIGTERM (its done records written first).
 *
 * Consecutive ranges, not every k-th task: a pod reads the few chunks of task definitions
 * that hold its range, and its tasks' done record is one block of its own.
 *
 * @module
 */
import { LogSink } from "../records/log_sink.ts";
import { taskErrorPath, taskLogPath } from "../records/layout.ts";
import { DoneRecorder, readDoneBlock } from "../records/task_done.ts";
import { readTaskDefinitions } from "../records/task_files.ts";
import { savePodTime } from "../records/task_times.ts";
import { podTasks } from "../spec/pod_count.ts";
import type { Task } from "../spec/schema.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { resolveFunctionsDir } from "../task/functions.ts";
import type { JobTasks } from "../task/request.ts";
import { checkPodVersion, POD_ENV, readPodEnv } from "../task/pod_env.ts";
import { Slots } from "../async/slots.ts";
import { LocalExecutor } from "./local.ts";

/** Most task time files a packed pod writes at once. */
const TIME_WRITES = 16;

/** This pod's tasks, as the controller set them in its environment. */
function podSettings() {
  const pod = readPodEnv();
  checkPodVersion(pod);
  if (!pod.packed) throw new Error(`${POD_ENV.tasksPerPod} is not set in the pod`);
  const { runId, job, index, dataDir, tasksPerChunk } = pod;
  const { perPod, count, retries, workers } = pod.packed;
  const functionsDir = resolveFunctionsDir(pod.functionsDir);
  return {
    runId,
    job,
    pod: index,
    dataDir,
    perPod,
    count,
    retries,
    workers,
    perChunk: tasksPerChunk,
    functionsDir,
    cache: pod.cache,
    image: pod.image,
  };
}

type PodSettings = ReturnType<typeof podSettings>;

/**
 * The pod's tasks without a done record, and their definitions in a sparse list indexed
 * as the job's tasks are.
 */
async function tasksToRun(fs: DataFs, settings: PodSettings, from: number, to: number) {
  const { runId, job } = settings;
  const known = new Set(await readDoneBlock(fs, runId, job, from));
  const todo = Array.from({ length: to - from }, (_, i) => from + i).filter((i) => !known.has(i));
  const definitions = await readTaskDefinitions(fs, runId, job, todo, settings.perChunk);
  const tasks: Task[] = new Array(settings.count);
  for (const [index, { function: fn, args, command }] of definitions) {
    tasks[index] = { function: fn, args, command };
  }
  const tasksOfJob: JobTasks = { name: job, type: "static", tasks, retries: settings.retries };
  return { known, todo, tasksOfJob };
}

/**
 * The pod's executor: task output to the task's log and the pod's, each task's time to its
 * own file, written beside the next tasks a few at a time; `written` waits for those.
 */
function podExecutor(fs: DataFs, settings: PodSettings, sink: LogSink) {
  const { runId, job } = settings;
  const timeWrites = new Slots(TIME_WRITES);
  const writing = new Set<Promise<void>>();
  const executor = new LocalExecutor({
    runId,
    dataDir: settings.dataDir,
    functionsDir: settings.functionsDir,
    concurrency: settings.workers,
    runTimes: false,
    // With the cache, the pod skips the tasks whose entries hold and stores the others'.
    cache: settings.cache,
    cacheOptions: { image: settings.image, pod: true },
    events: {
      log: (_job, index, line) => {
        sink.line(taskLogPath(runId, job, index), line);
        console.log(`${job}[${index}] ${line}`);
      },
    },
    taskEnded: async (_job, index, started, ok) => {
      const release = await timeWrites.acquire();
      const write = savePodTime(fs, runId, job, index, started, ok).finally(release);
      writing.add(write);
      write.finally(() => writing.delete(write));
    },
  });
  return { executor, written: () => Promise.all(writing) };
}

/** Runs this packed pod's tasks; resolves to the exit code. */
export async function runPackedPod(): Promise<number> {
  let settings: PodSettings;
  try {
    settings = podSettings();
  } catch (error) {
    console.error(`kt-deno task: ${(error as Error).message}`);
    return 2;
  }
  const { runId, job, perPod } = settings;
  const fs = new DataFs(openStorage(settings.dataDir));
  const [from, to] = podTasks(settings.pod, perPod, settings.count);
  let planned: Awaited<ReturnType<typeof tasksToRun>>;
  try {
    planned = await tasksToRun(fs, settings, from, to);
  } catch (error) {
    const message = (error as Error).message;
    console.error(`kt-deno task: ${message}`);
    await fs.write(taskErrorPath(runId, job, from), message).catch(() => {});
    return 2;
  }
  const { known, todo, tasksOfJob } = planned;
  console.log(
    `kt-deno task: pod ${settings.pod} runs tasks ${from}-${
      to - 1
    } of ${job} (${known.size} done before), ${settings.workers} at once`,
  );
  const sink = new LogSink(fs);
  const done = new DoneRecorder(fs, runId, job, perPod, known);
  const { executor, written } = podExecutor(fs, settings, sink);
  // A pod being stopped (deleted, evicted) stops its tasks and keeps what its finished
  // tasks recorded (below, as at any end), then exits 143.
  const stop = new AbortController();
  const stopping = () => stop.abort(new Error("the pod was stopped (SIGTERM)"));
  Deno.addSignalListener("SIGTERM", stopping);
  try {
    const { failures } = await executor.runTasks(tasksOfJob, todo, {
      total: settings.count,
      done,
      signal: stop.signal,
    });
    if (stop.signal.aborted) return 143;
    await Promise.all(failures.map(({ index, error }) => {
      console.error(`kt-deno task: task ${index} failed: ${error}`);
      return fs.write(taskErrorPath(runId, job, index), error).catch(() => {});
    }));
    return failures.length === 0 ? 0 : 1;
  } finally {
    Deno.removeSignalListener("SIGTERM", stopping);
    await Promise.all([done.flush(), written()]);
    await executor.stop("the pod's tasks have ended");
    await sink.close();
  }
}
