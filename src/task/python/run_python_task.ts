/**
 * One Python task in a Python worker of its own: how `kt-deno task` (a worker pod) runs a
 * Python function.
 *
 * @module
 */
import type { FunctionModule } from "../function_lookup.ts";
import type { TaskRequest } from "../request.ts";
import { startPythonWorker } from "./python_worker.ts";
import type { Observed } from "../../storage/fs_recorder.ts";

/** Raised when a Python task fails; its message is the job's error. */
export class PythonTaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PythonTaskError";
  }
}

/**
 * Runs a Python task to its end; resolves to a dynamic job's returned jobs (parsed, or
 * `undefined` for a static task) and, with `request.record`, its file operations. Throws {@linkcode PythonTaskError} when it fails.
 */
export async function runPythonTask(
  request: TaskRequest,
  found: FunctionModule,
  output: (line: string) => void,
): Promise<{ returned: unknown; observed?: Observed }> {
  const worker = await startPythonWorker({ ...request, found });
  try {
    const outcome = await worker.run(request, found, output);
    if (!outcome.ok) throw new PythonTaskError(outcome.error);
    const returned = outcome.jobs === undefined ? undefined : JSON.parse(outcome.jobs);
    return { returned, observed: outcome.observed };
  } finally {
    await worker.close();
  }
}
