/**
 * `kt-deno task`, the command of worker pods: finds its task by its completion index,
 * reads only the chunk of task definitions that holds it (see k8s/task_files.ts), runs it, and exits with a code that says what
 * happened (0 done, 1 the task failed, 2 the pod is set up wrong).
 *
 * @module
 */
import { capLine } from "../async/line_cap.ts";
import { findFunctionModule } from "../task/function_lookup.ts";
import { runPythonTask } from "../task/python/run_python_task.ts";
import type { TaskRequest } from "../task/request.ts";
import { readTaskDefinition } from "../records/task_files.ts";
import { taskErrorPath } from "../records/layout.ts";
import { savePodTime } from "../records/task_times.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { checkPodVersion, POD_ENV, readPodEnv } from "../task/pod_env.ts";
import { resolveFunctionsDir } from "../task/functions.ts";
import { runTask, saveReturnedJobs } from "../task/run_task.ts";
import { captureConsole } from "../task/console_capture.ts";
import { LogSink } from "../records/log_sink.ts";
import { taskLogPath } from "../records/layout.ts";

/**
 * Runs one task in this process, its function found here; a Python function in a Python
 * worker of its own. Throws when it fails.
 */
async function runOneTask(request: TaskRequest, output: (line: string) => void): Promise<void> {
  const found = request.function === undefined
    ? undefined
    : findFunctionModule(request.functionsDir, request.function);
  if (found?.language !== "python") return void await runTask({ ...request, found }, { output });
  const result = await runPythonTask(request, found, output);
  if (request.kind === "dynamic") {
    const fs = new DataFs(openStorage(request.dataDir));
    await saveReturnedJobs(fs, { ...request, found }, result, output);
  }
}

/** Runs this pod's task; resolves to the exit code. */
export async function runPodTask(): Promise<number> {
  let fs: DataFs | undefined;
  let errorPath: string | undefined;
  try {
    const pod = readPodEnv();
    const { runId, job, index, dataDir } = pod;
    fs = new DataFs(openStorage(dataDir));
    errorPath = taskErrorPath(runId, job, index);
    checkPodVersion(pod);
    const definition = await readTaskDefinition(fs, runId, job, index, pod.tasksPerChunk);
    const functionsDir = resolveFunctionsDir(pod.functionsDir);
    // The task's output goes to the pod's log and to the task's log in the data dir.
    const sink = new LogSink(fs);
    const restore = captureConsole(sink, taskLogPath(runId, job, index));
    const started = Date.now();
    try {
      const request = { ...definition, runId, job, index, dataDir, functionsDir };
      await runOneTask(request, (line) => console.log(line));
      await savePodTime(fs, runId, job, index, started, true);
      return 0;
    } catch (error) {
      const message = capLine(error instanceof Error ? error.message : String(error), 8 * 1024);
      console.error(`kt-deno task: ${message}`);
      await fs.write(errorPath, message).catch(() => {});
      await savePodTime(fs, runId, job, index, started, false);
      return 1;
    } finally {
      restore();
      await sink.close();
    }
  } catch (error) {
    const message = capLine(error instanceof Error ? error.message : String(error), 8 * 1024);
    console.error(`kt-deno task: ${message}`);
    if (fs && errorPath) await fs.write(errorPath, message).catch(() => {});
    return 2;
  }
}

/**
 * Runs this pod's work, as its environment says: a packed pod's tasks
 * (`KT_TASKS_PER_POD`, see `packed_pod.ts`), or its one task. Resolves to the exit code.
 */
export async function runPod(): Promise<number> {
  if (!Deno.env.get(POD_ENV.tasksPerPod)) return await runPodTask();
  const { runPackedPod } = await import("./packed_pod.ts");
  return await runPackedPod();
}
