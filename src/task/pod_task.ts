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
import { VERSION } from "../version.ts";
import { resolveFunctionsDir } from "./functions.ts";
import { runTask } from "./run_task.ts";
import { captureConsole } from "./console_capture.ts";
import { LogSink } from "../records/log_sink.ts";
import { taskLogPath } from "../records/layout.ts";

/** Raised when the controller or a pod runs under another kt-deno version than the launcher's. */
export class VersionMismatchError extends Error {
  constructor(launcher: string, here: string, where: string) {
    super(
      `kt-deno version mismatch: the run was launched by kt-deno ${launcher}, but this ${where} has kt-deno ${here}; use an image with kt-deno ${launcher}`,
    );
    this.name = "VersionMismatchError";
  }
}

/** A pod environment variable that must be set; throws naming it when it is not. */
export function required(name: string): string {
  const value = Deno.env.get(name);
  if (value === undefined || value === "") throw new Error(`${name} is not set in the pod`);
  return value;
}

/** Runs this pod's task; resolves to the exit code. */
export async function runPodTask(): Promise<number> {
  let fs: DataFs | undefined;
  let errorPath: string | undefined;
  try {
    const runId = required("KT_RUN_ID");
    const job = required("KT_JOB_NAME");
    const index = Number(required("JOB_COMPLETION_INDEX"));
    const dataDir = required("DATA_DIR");
    fs = new DataFs(openStorage(dataDir));
    errorPath = taskErrorPath(runId, job, index);
    const launched = required("KT_VERSION");
    if (launched !== VERSION) throw new VersionMismatchError(launched, VERSION, "image");
    const perChunk = Number(Deno.env.get("KT_TASKS_PER_CHUNK") ?? "1");
    const definition = await readTaskDefinition(fs, runId, job, index, perChunk);
    const functionsDir = resolveFunctionsDir(
      Deno.env.get("KT_FUNCTIONS_DIR") ?? "/app/kt_functions",
    );
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
