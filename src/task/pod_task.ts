/**
 * `kt-deno task`, the command of worker pods: finds its task by its completion index,
 * reads only the chunk of task definitions that holds it (see k8s/task_files.ts), runs it, and exits with a code that says what
 * happened (0 done, 1 the task failed, 2 the pod is set up wrong).
 *
 * @module
 */
import { capLine } from "../async/line_cap.ts";
import { readTaskDefinition } from "../records/task_files.ts";
import { taskErrorPath } from "../records/layout.ts";
import { savePodTime } from "../records/task_times.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { checkPodVersion, readPodEnv } from "./pod_env.ts";
import { resolveFunctionsDir } from "./functions.ts";
import { runTask } from "./run_task.ts";
import { captureConsole } from "./console_capture.ts";
import { LogSink } from "../records/log_sink.ts";
import { taskLogPath } from "../records/layout.ts";

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
      await runTask(request, { output: (line) => console.log(line) });
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
