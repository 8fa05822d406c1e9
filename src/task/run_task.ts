/**
 * Running one task in this process: a function call or a command. Used by the local
 * executor's worker processes and by `kt-deno task` in worker pods.
 *
 * @module
 */
import { dynamicOutputPath, METADATA_ROOT } from "../records/layout.ts";
import { MAX_DEPTH, tooDeep } from "../spec/depth.ts";
import { DataFs } from "../storage/data_fs.ts";
import { FsRecorder, type Observed } from "../storage/fs_recorder.ts";
import { openStorage } from "../storage/open.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { loadFunction } from "./functions.ts";
import { findFunctionModule } from "./function_lookup.ts";
import { readLines } from "../async/lines.ts";
import { type GroupProcess, spawnInGroup } from "./process_group.ts";
import { argsFile, setTaskEnv, taskEnv, type TaskRequest } from "./request.ts";

/** Raised when a task fails in a way the task itself reported (exit code, bad output). */
export class TaskFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TaskFailure";
  }
}

/** How to run a command task: where its output goes, and what stops it. */
export interface CommandOptions {
  /**
   * Receives each output line; without it the command writes to this process's stdio.
   * With it (the local executor), the command runs in a process group of its own that
   * dies with this process (see `process_group.ts`).
   */
  output?: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * Why a program cannot be started (searched in PATH as `exec` would), or `undefined`. A
 * command in a process group starts through `sh`, whose own failure would be less clear.
 */
function unstartable(program: string): string | undefined {
  const candidates = program.includes("/")
    ? [program]
    : (Deno.env.get("PATH") ?? "").split(":").filter(Boolean).map((dir) => `${dir}/${program}`);
  for (const candidate of candidates) {
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return undefined;
    } catch {
      // not this one
    }
  }
  return program.includes("/") ? "no such executable file" : "not found in PATH";
}

/** Runs a command task's argv with the task environment; throws when it fails. */
export async function runCommand(request: TaskRequest, options: CommandOptions = {}) {
  const [program, ...args] = request.command!;
  const piped = options.output ? "piped" : "inherit";
  const file = await argsFile(request);
  try {
    const spawn: Deno.CommandOptions = {
      args,
      env: taskEnv(request, file),
      stdin: "null",
      stdout: piped,
      stderr: piped,
    };
    let child: Deno.ChildProcess;
    let group: GroupProcess | undefined;
    try {
      const missing = options.output ? unstartable(program) : undefined;
      if (missing) throw new Error(missing);
      if (options.output) ({ child } = group = spawnInGroup(program, spawn));
      else child = new Deno.Command(program, { ...spawn, signal: options.signal }).spawn();
    } catch (error) {
      throw new TaskFailure(`cannot start command ${program}: ${(error as Error).message}`);
    }
    const stop = () => group?.kill();
    options.signal?.addEventListener("abort", stop, { once: true });
    if (options.signal?.aborted) stop();
    const forwarding = options.output
      ? Promise.all([child.stdout, child.stderr].map(async (stream) => {
        for await (const line of readLines(stream)) options.output!(line);
      }))
      : Promise.resolve();
    const status = await child.status;
    // What the command left running in its group goes with it (and lets its output end).
    group?.release();
    await forwarding;
    options.signal?.removeEventListener("abort", stop);
    if (options.signal?.aborted) throw options.signal.reason;
    if (!status.success) {
      throw new TaskFailure(
        `command ${program} ${
          status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`
        }`,
      );
    }
  } finally {
    if (file) await Deno.remove(file).catch(() => {});
  }
}

/**
 * Calls `body` with `Deno.Command` watched: a process started meanwhile marks the task
 * unobservable in `recorder` (what a process reads and writes, kt-deno cannot see).
 */
async function watchingProcesses<T>(recorder: FsRecorder, body: () => T): Promise<Awaited<T>> {
  const original = Deno.Command;
  Deno.Command = class extends original {
    constructor(command: string | URL, options?: Deno.CommandOptions) {
      recorder.unobservable(`it started a process (${command})`);
      super(command, options);
    }
  };
  try {
    return await body();
  } finally {
    Deno.Command = original;
  }
}

/** The storage drivers of this process, by data dir: a worker's tasks share their run's. */
const stores = new Map<string, StorageDriver>();

function storeOf(dataDir: string): StorageDriver {
  let store = stores.get(dataDir);
  if (!store) stores.set(dataDir, store = openStorage(dataDir));
  return store;
}

/**
 * Runs one task to the end in this process: a command, or a TypeScript function (a Python
 * one runs in a Python worker: `executors/`); throws when it fails. A dynamic job's
 * returned jobs are written to its output path for the driver to validate and register.
 * `options` apply to a command task. With `request.record`, a TypeScript function's file
 * operations are recorded and returned.
 */
export async function runTask(
  request: TaskRequest,
  options: CommandOptions = {},
): Promise<Observed | undefined> {
  if (request.command) return void await runCommand(request, options);
  const store = storeOf(request.dataDir);
  const recorder = request.record ? new FsRecorder() : undefined;
  // The run's records are kt-deno's: a task reads them, changes none of them.
  const fs = new DataFs(store, { readOnly: [METADATA_ROOT] }, recorder);
  let result: unknown = [];
  const found = request.function === undefined
    ? undefined
    : request.found ?? findFunctionModule(request.functionsDir, request.function);
  if (found) {
    const file = await argsFile(request);
    try {
      setTaskEnv(taskEnv(request, file));
      const fn = await loadFunction(found);
      const call = () =>
        fn(request.args, {
          fs,
          runId: request.runId,
          jobName: request.job,
          taskIndex: request.index,
          log: (...parts) => console.log(...parts),
        });
      result = recorder ? await watchingProcesses(recorder, call) : await call();
    } finally {
      if (file) await Deno.remove(file).catch(() => {});
    }
  }
  if (request.kind === "dynamic") {
    await saveReturnedJobs(new DataFs(store), request, result, (line) => console.log(line));
  }
  return recorder?.observed();
}

/**
 * Writes a dynamic job's returned jobs to its output path (`[]` for none, said in one line
 * to `log`); throws when they are not a list, or nest deeper than the spec allows (or are
 * circular). The driver validates them when the job ends.
 */
export async function saveReturnedJobs(
  fs: DataFs,
  request: TaskRequest,
  result: unknown,
  log: (line: string) => void = (line) => console.log(line),
): Promise<void> {
  if (result === undefined || result === null) {
    const what = request.found?.language === "python" ? "None" : String(result);
    log(`kt-deno task: dynamic function ${request.function} returned ${what}: no jobs to add`);
    result = [];
  }
  if (!Array.isArray(result)) {
    throw new TaskFailure(
      `dynamic function ${request.function} returned ${typeof result}, expected a list of jobs`,
    );
  }
  if (tooDeep(result, "", MAX_DEPTH + 4) !== null) {
    throw new TaskFailure(
      `dynamic function ${request.function} returned jobs nested deeper than ${MAX_DEPTH} levels of lists and objects (or circular)`,
    );
  }
  await fs.writeJson(dynamicOutputPath(request.runId, request.job), result);
}
