/**
 * Running one task in this process: a function call or a command. Used by the local
 * executor's worker processes and by `kt-deno task` in worker pods.
 *
 * @module
 */
import { dynamicOutputPath } from "../engine/state.ts";
import { DataFs } from "../storage/data_fs.ts";
import { openStorage } from "../storage/open.ts";
import { loadFunction } from "./functions.ts";
import { readLines } from "./lines.ts";
import { taskEnv, type TaskRequest } from "./request.ts";

/** Raised when a task fails in a way the task itself reported (exit code, bad output). */
export class TaskFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TaskFailure";
  }
}

/** How to run a command task: where its output goes, and what stops it. */
export interface CommandOptions {
  /** Receives each output line; without it the command writes to this process's stdio. */
  output?: (line: string) => void;
  signal?: AbortSignal;
}

/** Runs a command task's argv with the task environment; throws when it fails. */
export async function runCommand(request: TaskRequest, options: CommandOptions = {}) {
  const [program, ...args] = request.command!;
  const piped = options.output ? "piped" : "inherit";
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args,
      env: taskEnv(request),
      stdin: "null",
      stdout: piped,
      stderr: piped,
      signal: options.signal,
    }).spawn();
  } catch (error) {
    throw new TaskFailure(`cannot start command ${program}: ${(error as Error).message}`);
  }
  const forwarding = options.output
    ? Promise.all([child.stdout, child.stderr].map(async (stream) => {
      for await (const line of readLines(stream)) options.output!(line);
    }))
    : Promise.resolve();
  const [status] = await Promise.all([child.status, forwarding]);
  if (options.signal?.aborted) throw options.signal.reason;
  if (!status.success) {
    throw new TaskFailure(
      `command ${program} ${
        status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`
      }`,
    );
  }
}

/**
 * Runs one task to the end in this process; throws when it fails. A dynamic job's
 * returned jobs are written to its output path for the driver to validate and register.
 * `options` apply to a command task (where its output goes).
 */
export async function runTask(request: TaskRequest, options: CommandOptions = {}): Promise<void> {
  if (request.command) return await runCommand(request, options);
  const fs = new DataFs(openStorage(request.dataDir));
  let result: unknown = [];
  if (request.function) {
    for (const [key, value] of Object.entries(taskEnv(request))) Deno.env.set(key, value);
    const fn = await loadFunction(request.functionsDir, request.function);
    result = await fn(request.args, {
      fs,
      runId: request.runId,
      jobName: request.job,
      taskIndex: request.index,
      log: (...parts) => console.log(...parts),
    });
  }
  if (request.kind === "dynamic") {
    result ??= [];
    if (!Array.isArray(result)) {
      throw new TaskFailure(
        `dynamic function ${request.function} returned ${typeof result}, expected a list of jobs`,
      );
    }
    await fs.writeJson(dynamicOutputPath(request.runId, request.job), result);
  }
}
