/**
 * The worker loop of the local executor (`kt-deno worker`, internal): a long-lived process that
 * reads task requests on stdin (each line a JSON list of requests, run in order) and runs
 * them one at a time, so that a task that crashes or calls `Deno.exit` takes down only its
 * own worker.
 *
 * Replies go to stdout on lines that start with the nonce the executor gave the worker in
 * `KT_WORKER_NONCE`; every other line there is the task's own output. The executor starts
 * a worker with its stderr on its stdout (`2>&1`), so a task's output, both streams in the
 * order written, ends with its reply: the executor knows whose each line is.
 *
 * @module
 */
import { capLine } from "../async/line_cap.ts";
import type { Observed } from "../storage/fs_recorder.ts";
import type { TaskRequest } from "./request.ts";
import { runTask } from "./run_task.ts";
import { loadFunction } from "./functions.ts";
import { TASK_ENV_NAMES } from "./request.ts";

/** A request sent to a worker. */
export interface WorkerRequest {
  id: number;
  request: TaskRequest;
}

/** A worker's reply to one request. */
export interface WorkerReply {
  id: number;
  ok: boolean;
  error?: string;
  /** When the task began and ended, in epoch milliseconds. */
  started: number;
  ended: number;
  /** What the task did through its `fs`, or the temporary file that holds it when large. */
  observed?: Observed | string;
}

/**
 * The environment variable that names a function module (a `FunctionModule` as JSON) for a
 * worker started ahead of its first task to import before that task comes. Its top-level
 * code then runs without a task's environment, as it does for every task after a worker's
 * first (a module is imported once per worker).
 */
export const PRELOAD_ENV = "KT_WORKER_PRELOAD";

/** The longest record of file operations sent in a reply line; a longer one goes in a file. */
const OBSERVED_IN_LINE = 16 * 1024;

/**
 * The lines of stdin, read synchronously: between two tasks the worker has nothing else to
 * do, and a blocking read wakes at once when the next request comes.
 */
function* stdinLines(): Generator<string> {
  const buffer = new Uint8Array(64 * 1024);
  const decoder = new TextDecoder();
  let text = "";
  for (let n; (n = Deno.stdin.readSync(buffer)) !== null;) {
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
    let start = 0;
    for (let end; (end = text.indexOf("\n", start)) >= 0; start = end + 1) {
      yield text.slice(start, end);
    }
    text = text.slice(start);
  }
  if (text) yield text;
}

/**
 * The names set in this process's environment from now on (`Deno.env.set`, which
 * `process.env` writes go through too), for the worker to remove a task's own when it ends:
 * reading the whole environment after each task cost more than a no-op task.
 */
function watchEnvSets(): Set<string> {
  const names = new Set<string>();
  const set = Deno.env.set.bind(Deno.env);
  Deno.env.set = (key: string, value: string) => {
    set(key, value);
    names.add(key);
  };
  return names;
}

/** Runs requests from stdin until stdin closes. */
export async function workerLoop(nonce: string): Promise<void> {
  const encoder = new TextEncoder();
  // What a task sets in the environment goes when it ends; the task variables stay for
  // the next task, which sets those of its own that differ.
  const keep = new Set([...Object.keys(Deno.env.toObject()), ...TASK_ENV_NAMES]);
  const setByTask = watchEnvSets();
  const send = (bytes: Uint8Array, to: typeof Deno.stdout) => {
    for (let sent = 0; sent < bytes.length;) sent += to.writeSync(bytes.subarray(sent));
  };
  for (const line of stdinLines()) {
    if (!line.trim()) continue;
    for (const { id, request } of JSON.parse(line) as WorkerRequest[]) {
      const started = Date.now();
      let reply: WorkerReply;
      try {
        const observed = await runTask(request);
        reply = { id, ok: true, started, ended: Date.now() };
        if (observed) {
          const json = JSON.stringify(observed);
          if (json.length <= OBSERVED_IN_LINE) reply.observed = observed;
          else {
            reply.observed = await Deno.makeTempFile({ prefix: "kt-observed-", suffix: ".json" });
            await Deno.writeTextFile(reply.observed, json);
          }
        }
      } catch (error) {
        // Bounded, so that the reply stays one line that the pool reads whole.
        const message = capLine(error instanceof Error ? error.message : String(error), 8 * 1024);
        // On stdout, before the reply, so it is still the task's output (as in a pod's log).
        console.log(`kt-deno task: ${message}`);
        reply = { id, ok: false, error: message, started, ended: Date.now() };
      }
      for (const key of setByTask) if (!keep.has(key)) Deno.env.delete(key);
      setByTask.clear();
      send(encoder.encode(`\n${nonce}${JSON.stringify(reply)}\n`), Deno.stdout);
    }
  }
}

/** The entry of a worker process: runs requests until stdin closes; resolves to the exit code. */
export async function workerMain(): Promise<number> {
  const nonce = Deno.env.get("KT_WORKER_NONCE");
  if (!nonce) {
    console.error("kt-deno: kt-deno worker is started by kt-deno run, not by hand");
    return 2;
  }
  // Ctrl-C on a terminal reaches the whole process group; the run, not each worker,
  // decides what stops, and it stops its workers itself.
  Deno.addSignalListener("SIGINT", () => {});
  const preload = Deno.env.get(PRELOAD_ENV);
  if (preload !== undefined) {
    Deno.env.delete(PRELOAD_ENV);
    // A module that cannot be imported fails its task, which imports it again.
    await loadFunction(JSON.parse(preload)).catch(() => {});
  }
  await workerLoop(nonce);
  return 0;
}
